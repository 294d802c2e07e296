"""Worker processes: launch one in its own session, know it again, end its tree, say why it failed.

A worker is known by the pid recorded at launch together with the kernel's start time of that
pid (`worker.json` in its folder), never by its command line: a reused pid has another start
time, and a process that has just started may not show a command line yet.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

from curation.jobs.files import ERROR_FILE, LOG_FILE, WORKER_FILE, read_json, write_json_atomically
from curation.jobs.pacing import launcher_env, name_launcher

_TRACEBACK_END = re.compile(r"^(\w+\.)*\w*(Error|Exception|Interrupt)\b.*", re.M)
_OOM = re.compile(r"out of memory|OutOfMemoryError|can't allocate memory|MemoryError", re.I)
KILLED = "the worker stopped without a result (killed?); see log.txt"
OUT_OF_MEMORY = (
    "out of memory: lower the batch size (per_device_train_batch_size) or the lengths "
    "(max_length), or use 4bit"
)


def worker_niceness() -> int:
    """How much lower than the server's a worker's CPU priority is ($PREFSTUDIO_WORKER_NICE,
    default 19, the lowest): on a machine shared with annotators, a vote is answered before a
    batch, and a worker alone on the machine still has all of it."""
    return int(os.environ.get("PREFSTUDIO_WORKER_NICE", "19"))


def launch(command: list[str], folder: Path) -> int:
    """Start `command` (never through a shell) with its output appended to the folder's log.txt,
    in a session of its own so that a cancel reaches every child, at a lower CPU priority than
    this process, naming this process as the launcher it waits for while busy (pacing); record
    and return its pid."""
    name_launcher(folder)
    with open(Path(folder) / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=launcher_env(folder),
        )
    lower_priority(process.pid, worker_niceness())
    record_worker(folder, process.pid)
    return process.pid


def lower_priority(pid: int, niceness: int) -> None:
    """Raise a process's niceness by `niceness` over this process's (POSIX; children it starts
    inherit it). A process already gone is left alone.

    Where Linux groups each session for scheduling (autogroup, on by default in many kernels),
    a niceness counts only within the session, and a worker leads a session of its own: its
    session's niceness is raised as well, or the worker would take a whole core from the server.
    Inside a cgroup other than the root (as in many containers) autogroups do not apply, and
    the cgroup's own weight decides instead.
    """
    import psutil

    if niceness <= 0 or os.name != "posix":
        return
    value = min(os.nice(0) + niceness, 19)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).nice(value)
    with contextlib.suppress(OSError):  # no autogroups here, or the process is gone
        if os.getsid(pid) == pid:  # its group is its own session's, not this process's
            Path(f"/proc/{pid}/autogroup").write_text(str(value))


def record_worker(folder: Path, pid: int) -> None:
    """Write who the worker is: its pid and the kernel's start time of that pid."""
    import psutil

    try:
        started = psutil.Process(pid).create_time()
    except psutil.Error:  # gone already: the watcher will find it ended
        started = None
    write_json_atomically(Path(folder) / WORKER_FILE, {"pid": pid, "started": started})


def live_worker(folder: Path | None, pid: int | None) -> Any:
    """The live worker process recorded in `folder` with this pid, or None once it has ended."""
    import psutil

    worker = read_json(Path(folder) / WORKER_FILE) if folder else None
    if not pid or not worker or worker.get("pid") != pid or not worker["started"]:
        return None
    try:
        process = psutil.Process(pid)
        if abs(process.create_time() - worker["started"]) > 0.01:
            return None
        if process.status() == psutil.STATUS_ZOMBIE:
            reap(pid)
            return None
    except psutil.Error:
        return None
    return process


def reap(pid: int) -> None:
    """Collect an ended child of this process so it leaves no zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def end_tree(process: Any, grace_seconds: float) -> None:
    """End a process and all its children: terminate, then kill what is left after the grace."""
    import psutil

    tree = [process, *process.children(recursive=True)]
    for member in tree:
        with contextlib.suppress(psutil.Error):
            member.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(tree, timeout=grace_seconds)
    for member in alive:
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(alive, timeout=grace_seconds)
    reap(process.pid)


def worker_error(folder: Path) -> dict[str, str] | None:
    """The exception a worker wrote before failing ({type, message}), if it wrote one."""
    return read_json(Path(folder) / ERROR_FILE)


def log_text(folder: Path) -> str:
    """The whole log of a worker ('' when there is none)."""
    try:
        return (Path(folder) / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def failure_cause(folder: Path) -> str:
    """Why a worker failed, in one line: out of memory (what to lower), else the error it
    wrote (a domain error's message alone, as it reads without a worker), else the last
    exception its log shows, else that it was stopped from outside."""
    error = worker_error(folder)
    written = f"{error['type']}: {error['message']}" if error else ""
    if _OOM.search(written) or (not error and _OOM.search(log_text(folder)[-5000:])):
        return OUT_OF_MEMORY
    if error:
        return error["message"] if error.get("domain") else f"{error['type']}: {error['message']}"
    endings = [match.group(0) for match in _TRACEBACK_END.finditer(log_text(folder))]
    if endings:
        return endings[-1].strip()[:500]
    return KILLED


def log_tail(folder: Path, lines: int = 40) -> str:
    """The last lines of a worker's log, each as last shown (tqdm redraws with carriage returns)."""
    shown = [line.rsplit("\r", 1)[-1] for line in log_text(folder).splitlines()]
    return "\n".join(shown[-lines:])
