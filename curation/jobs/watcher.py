"""The watcher thread: the one place in a server that finishes jobs and launches more."""

from __future__ import annotations

import sys
import threading

from curation.jobs.runner import watch_jobs
from curation.store.store import Store


class Watcher:
    """A daemon thread calling `watch_jobs` every `interval` seconds until stopped; a failing
    call is reported and the watching goes on."""

    def __init__(self, store: Store, interval: float = 1.0) -> None:
        self.store = store
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="watcher", daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                watch_jobs(self.store)
            except Exception as error:  # a bad folder must not stop the watching
                print(f"watch_jobs: {type(error).__name__}: {error}", file=sys.stderr)
            self._stop.wait(self.interval)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
