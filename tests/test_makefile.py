"""`make demo` and `make test` install only when pyproject.toml or the Makefile changed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def planned(folder: Path, target: str) -> str:
    """The commands `make TARGET` would run in `folder` (make -n), with this Python."""
    result = subprocess.run(
        ["make", "-n", target, f"PYTHON={sys.executable}"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


@pytest.mark.parametrize("target", ["demo", "test"])
def test_install_runs_again_only_when_its_inputs_change(tmp_path: Path, target: str) -> None:
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO / name, tmp_path / name)
    first = planned(tmp_path, target)
    assert "pip install -e" in first and "torch==" in first
    stamp = tmp_path / re.search(r"^touch (\S+)$", first, re.MULTILINE).group(1)
    assert stamp.relative_to(tmp_path).parts[0] == "build"  # git-ignored

    stamp.parent.mkdir()
    stamp.touch()
    inputs_time = stamp.stat().st_mtime - 60
    for name in ("Makefile", "pyproject.toml"):
        os.utime(tmp_path / name, (inputs_time, inputs_time))
    again = planned(tmp_path, target)
    assert "pip" not in again and again.strip()  # straight to the target's own command

    os.utime(tmp_path / "pyproject.toml", (inputs_time + 120, inputs_time + 120))
    assert "pip install -e" in planned(tmp_path, target)
