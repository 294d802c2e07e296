"""Worker processes start below the server's CPU priority, so annotators are answered first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from curation.jobs import processes

WAITS_FOR_A_SIGNAL = [sys.executable, "-c", "import signal; signal.pause()"]


@pytest.mark.skipif(os.name != "posix", reason="niceness is POSIX")
@pytest.mark.parametrize(("setting", "raised_by"), [(None, 19), ("3", 3), ("0", 0)])
def test_a_worker_runs_below_the_priority_of_the_process_that_launched_it(
    setting: str | None, raised_by: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is None:
        monkeypatch.delenv("PREFSTUDIO_WORKER_NICE", raising=False)
    else:
        monkeypatch.setenv("PREFSTUDIO_WORKER_NICE", setting)
    pid = processes.launch(WAITS_FOR_A_SIGNAL, tmp_path)
    worker = processes.live_worker(tmp_path, pid)
    try:
        assert worker is not None
        assert worker.nice() == min(os.nice(0) + raised_by, 19)
    finally:
        processes.end_tree(psutil.Process(pid), grace_seconds=5)
    assert processes.live_worker(tmp_path, pid) is None
