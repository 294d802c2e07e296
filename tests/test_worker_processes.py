"""Worker processes start below the server's CPU priority, so annotators are answered first."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest

from curation.jobs import processes

WAITS_FOR_A_SIGNAL = [sys.executable, "-c", "import signal; signal.pause()"]


def group_niceness(pid: int) -> int | None:
    """The niceness of the scheduling group (autogroup) of process `pid`, or None where it has
    none: autogroups are off, or its session never had one (the kernel prints nothing for a
    process that stayed in the default group, as a container's first processes may)."""
    try:
        shown = Path(f"/proc/{pid}/autogroup").read_text().split()
    except OSError:
        return None
    return int(shown[-1]) if shown else None


@pytest.mark.skipif(os.name != "posix", reason="niceness is POSIX")
@pytest.mark.parametrize(("setting", "raised_by"), [(None, 19), ("3", 3), ("0", 0)])
def test_a_worker_runs_below_the_priority_of_the_process_that_launched_it(
    setting: str | None, raised_by: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if setting is None:
        monkeypatch.delenv("PREFSTUDIO_WORKER_NICE", raising=False)
    else:
        monkeypatch.setenv("PREFSTUDIO_WORKER_NICE", setting)
    own_group = group_niceness(os.getpid())
    pid = processes.launch(WAITS_FOR_A_SIGNAL, tmp_path)
    worker = processes.live_worker(tmp_path, pid)
    try:
        assert worker is not None
        assert worker.nice() == min(os.nice(0) + raised_by, 19)
        if (
            own_group is not None
        ):  # its session's group as well, or the niceness would count only inside it
            assert group_niceness(pid) == (min(os.nice(0) + raised_by, 19) if raised_by else 0)
            assert group_niceness(os.getpid()) == own_group  # the launcher's is left alone
    finally:
        processes.end_tree(psutil.Process(pid), grace_seconds=5)
    assert processes.live_worker(tmp_path, pid) is None
