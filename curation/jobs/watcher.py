"""The watcher thread: the one place in a server that finishes runs and jobs and launches more."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from curation.store.store import Store

Watch = Callable[[Store], Any]


class Watcher:
    """A daemon thread calling each of `watches` (like `watch_runs`, `watch_jobs`) every
    `interval` seconds until stopped; a failing one is reported and the others go on."""

    def __init__(self, store: Store, watches: Sequence[Watch], interval: float = 1.0) -> None:
        self.store = store
        self.watches = tuple(watches)
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watcher", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            for watch in self.watches:
                try:
                    watch(self.store)
                except Exception as error:  # a bad folder must not stop the watching
                    name = getattr(watch, "__name__", "watcher")
                    print(f"{name}: {type(error).__name__}: {error}", file=sys.stderr)
            self._stop.wait(self.interval)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
