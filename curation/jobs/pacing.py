"""Workers wait while the server is busy: annotators first, even between a worker's batches.

A worker already runs at the lowest CPU priority, so it takes only CPU time the server leaves;
but a server answering a stream of votes leaves many short gaps, and a worker slipping into
each of them slows every answer that follows (the caches it leaves behind, the switch back).
So at its pause points (between batches, after a training step) a worker looks at how much
CPU the process that launched it (the server, or the CLI following the job) used since the
last look, and waits while that was more than half a CPU, but never more than half a minute
in a row, so that the work always moves on. A server answering a few annotators is idle most
of the time and never holds a worker back.

`$PREFSTUDIO_WORKER_WAITS=0` turns the waiting off (a machine with cores to spare).
"""

from __future__ import annotations

import atexit
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

LAUNCHER_ENV = "PREFSTUDIO_LAUNCHER_PID"
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


def launcher_env() -> dict[str, str]:
    """The environment a worker starts with: this one, naming this process as its launcher."""
    return {**os.environ, LAUNCHER_ENV: str(os.getpid())}


def start_pacing() -> None:
    """Make this worker's pause points wait for its launcher, when it names one and waiting
    is on; at exit, say in the log how long it waited."""
    global _pacer
    launcher = os.environ.get(LAUNCHER_ENV, "")
    if not launcher.isdigit() or os.environ.get(WAITS_ENV, "1") == "0":
        return
    _pacer = Pacer(_cpu_seconds_of(int(launcher)))
    atexit.register(_say_waited, _pacer)


def pause_point() -> None:
    """Where a worker may wait for a busy server (a no-op outside a paced worker)."""
    if _pacer is not None:
        _pacer.pause_point()


def _cpu_seconds_of(pid: int) -> Callable[[], float | None]:
    """A reader of process `pid`'s CPU seconds so far (None once it has ended, even when
    another process has taken its pid since)."""
    import psutil

    try:
        process = psutil.Process(pid)
    except psutil.Error:
        return lambda: None

    def read() -> float | None:
        try:
            if not process.is_running():  # ended, or its pid is another process's now
                return None
            times = process.cpu_times()
        except psutil.Error:
            return None
        return times.user + times.system

    return read


def _say_waited(pacer: Pacer) -> None:
    if pacer.waited:
        print(f"waited {pacer.waited:.1f} s in all while the server was busy", file=sys.stderr)
