"""Workers wait while the server is busy: annotators first, even between a worker's batches.

A worker already runs at the lowest CPU priority, so it takes only CPU time the server leaves;
but a server answering a stream of votes leaves many short gaps, and a worker slipping into
each of them slows every answer that follows (the caches it leaves behind, the switch back).
So at its pause points (between batches, after a training step) a worker looks at how much
CPU the process that launched it (the server, or the CLI following the job) used since the
last look, and waits while that was more than half a CPU, but never more than half a minute
in a row, so that the work always moves on. A server answering a few annotators is idle most
of the time and never holds a worker back.

The launcher is named in the worker's folder (`launcher.json`: pid and start time), not fixed
at launch: a server that restarts and re-attaches to a running worker names itself there, and
the worker follows it once its first launcher has ended.

`$PREFSTUDIO_WORKER_WAITS=0` turns the waiting off (a machine with cores to spare).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curation.jobs.files import LAUNCHER_FILE, read_json, write_json_atomically

LAUNCHER_ENV = "PREFSTUDIO_LAUNCHER_FILE"
WAITS_ENV = "PREFSTUDIO_WORKER_WAITS"
BUSY_SHARE = 0.5  # of one CPU, used by the launcher since the last look
LOOK_SECONDS = 0.1  # how long a waiting worker waits before it looks again
LONGEST_WAIT = 30.0  # seconds in a row, after which the worker goes on at its next pause point


@dataclass
class Pacer:
    """Holds a worker at pause points while `cpu_seconds()` (the launcher's CPU time so far;
    None once it is gone) grows faster than BUSY_SHARE of a CPU."""

    cpu_seconds: Callable[[], float | None]
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    waited: float = 0.0
    _last: tuple[float, float] | None = None

    def pause_point(self) -> None:
        """Return once the launcher used at most BUSY_SHARE of a CPU since the last look (at
        once the first time: there is nothing to compare with yet), or after LONGEST_WAIT."""
        waiting = 0.0
        while waiting < LONGEST_WAIT and self._busy():
            self.sleep(LOOK_SECONDS)
            waiting += LOOK_SECONDS
        self.waited += waiting

    def _busy(self) -> bool:
        """Whether the launcher used more than BUSY_SHARE of a CPU since the last look."""
        now, used = self.clock(), self.cpu_seconds()
        last = self._last
        self._last = None if used is None else (now, used)
        if last is None or used is None or now <= last[0]:
            return False
        return (used - last[1]) / (now - last[0]) > BUSY_SHARE


_pacer: Pacer | None = None


def launcher_env(folder: Path) -> dict[str, str]:
    """The environment a worker in `folder` starts with: this one, and where its launcher is
    named (see `name_launcher`)."""
    return {**os.environ, LAUNCHER_ENV: str(Path(folder) / LAUNCHER_FILE)}


def name_launcher(folder: Path) -> None:
    """Name this process as the launcher the worker in `folder` waits for, unless it already
    is (the process holding the store calls it at launch and while the worker runs)."""
    import psutil

    me = {"pid": os.getpid(), "started": psutil.Process().create_time()}
    if read_json(Path(folder) / LAUNCHER_FILE) != me:
        write_json_atomically(Path(folder) / LAUNCHER_FILE, me)


def start_pacing() -> None:
    """Make this worker's pause points wait for its launcher, when it has one and waiting is
    on; at exit, say in the log how long it waited."""
    global _pacer
    launcher_file = os.environ.get(LAUNCHER_ENV)
    if not launcher_file or os.environ.get(WAITS_ENV, "1") == "0":
        return
    _pacer = Pacer(LauncherCpu(Path(launcher_file)))
    atexit.register(_say_waited, _pacer)


def pause_point() -> None:
    """Where a worker may wait for a busy server (a no-op outside a paced worker)."""
    if _pacer is not None:
        _pacer.pause_point()


class LauncherCpu:
    """Reads the CPU seconds so far of the launcher named in `launcher_file`: None while no
    live process is named there (none yet, or it has ended, even when another process has
    taken its pid since), and None once between one launcher and the next, so that the pacer
    never compares two processes' times."""

    def __init__(self, launcher_file: Path) -> None:
        self.launcher_file = launcher_file
        self._process: Any = None

    def __call__(self) -> float | None:
        import psutil

        try:
            if self._process is not None and not self._process.is_running():
                self._process = None  # ended: the next look finds who follows it
                return None
            if self._process is None:
                self._process = self._named()
                if self._process is None:
                    return None
            times = self._process.cpu_times()
        except psutil.Error:
            self._process = None
            return None
        return times.user + times.system

    def _named(self) -> Any:
        """The live process the launcher file names, or None."""
        import psutil

        named = read_json(self.launcher_file)
        if not isinstance(named, dict) or not isinstance(named.get("pid"), int):
            return None
        try:
            process = psutil.Process(named["pid"])
            same = abs(process.create_time() - float(named.get("started"))) < 0.01
        except (psutil.Error, TypeError, ValueError):
            return None
        return process if same else None


def _say_waited(pacer: Pacer) -> None:
    if pacer.waited:
        print(f"waited {pacer.waited:.1f} s in all while the server was busy", file=sys.stderr)
