"""Slowing down password guessing: an account with many failed logins in a row is locked
for a while (a login that is cached as right is not affected)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from curation.annotation_errors import AccountError

MAX_FAILURES = 10  # failed logins of one account within WINDOW_SECONDS before it locks
WINDOW_SECONDS = 60.0
LOCK_SECONDS = 60.0
_MAX_NAMES = 10_000  # names with failures remembered before old ones are dropped


class LoginLocked(AccountError):
    """Too many failed logins for this account; `retry_after` seconds until it may try again."""

    def __init__(self, name: str, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed logins for {name}; try again in {max(1, round(retry_after))} s"
        )


class LoginThrottle:
    """Counts failed logins per account name and locks a name that fails too often.

    When the last `max_failures` failures of a name all fall within `window` seconds, the
    name is locked until `lock` seconds after the last one; a successful login clears it.
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        lock: float = LOCK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lock = lock
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._mutex = threading.Lock()

    def check(self, name: str) -> None:
        """Raise LoginLocked while `name` is locked."""
        with self._mutex:
            recent = self._failures.get(name)
            if recent is None or len(recent) < self.max_failures:
                return
            if recent[-1] - recent[0] > self.window:
                return  # failures spread out: a forgetful user, not a guesser
            retry_after = recent[-1] + self.lock - self.clock()
            if retry_after > 0:
                raise LoginLocked(name, retry_after)
            del self._failures[name]  # the lock ran out: start counting afresh

    def failed(self, name: str) -> None:
        """Count a failed login of `name`."""
        with self._mutex:
            now = self.clock()
            if len(self._failures) > _MAX_NAMES:  # names that failed long ago go first
                stale = now - self.window - self.lock
                self._failures = {n: f for n, f in self._failures.items() if f[-1] > stale}
                if len(self._failures) > _MAX_NAMES:  # a flood of names: memory comes first
                    self._failures.clear()
            recent = self._failures.setdefault(name, deque(maxlen=self.max_failures))
            recent.append(now)

    def succeeded(self, name: str) -> None:
        """Forget `name`'s failures."""
        with self._mutex:
            self._failures.pop(name, None)
