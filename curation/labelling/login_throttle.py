"""Slowing down password guessing without handing guessers a way to lock others out.

Failed logins are counted per (account name, client address) and per client address over all
names. After a few free failures each further one doubles the wait before that pair (or that
address) may try again. A login from another address is never slowed by someone else's
guesses, and names that exist and names that do not are counted alike. Memory stays bounded:
the counters that failed least recently are forgotten first.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from curation.labelling.annotation_errors import AccountError

FREE_FAILURES = 5  # failures of one name from one address before waits begin
ADDRESS_FREE_FAILURES = 50  # failures from one address, over all names, before waits begin
FIRST_DELAY = 1.0  # seconds of the first wait; each further failure doubles it
MAX_DELAY = 900.0
FORGET_AFTER = 3600.0  # seconds without a failure after which a counter starts afresh
MAX_COUNTERS = 100_000  # counters of each kind kept before the stalest are forgotten


class LoginLocked(AccountError):
    """Too many failed logins from this address; `retry_after` seconds until the next try."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"too many failed logins from this address; try again in {max(1, round(retry_after))} s"
        )


@dataclass
class _Failures:
    count: int
    last: float


class Backoff:
    """Failure counters by key with exponentially growing waits, at most `max_counters` kept.

    After `free` failures, the n-th further failure makes the key wait
    `first_delay * 2 ** (n - 1)` seconds (at most `max_delay`) from that failure.
    """

    def __init__(
        self,
        free: int,
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        forget_after: float = FORGET_AFTER,
        max_counters: int = MAX_COUNTERS,
    ) -> None:
        self.free = free
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_counters = max_counters
        self._counters: OrderedDict[bytes, _Failures] = OrderedDict()  # least recent first

    def __len__(self) -> int:
        return len(self._counters)

    def wait(self, key: bytes, now: float) -> float:
        """Seconds `key` must still wait before its next try (0 when it may try now)."""
        failures = self._counters.get(key)
        if failures is None or failures.count <= self.free:
            return 0.0
        extra = failures.count - self.free
        delay = min(self.max_delay, self.first_delay * 2 ** min(extra - 1, 64))
        return max(0.0, failures.last + delay - now)

    def fail(self, key: bytes, now: float) -> None:
        """Count a failure of `key` at `now`."""
        self._forget_stale(now)
        failures = self._counters.pop(key, None) or _Failures(0, now)
        failures.count += 1
        failures.last = now
        self._counters[key] = failures
        while len(self._counters) > self.max_counters:
            self._counters.popitem(last=False)

    def clear(self, key: bytes) -> None:
        """Forget `key`'s failures."""
        self._counters.pop(key, None)

    def _forget_stale(self, now: float) -> None:
        while self._counters:
            key, oldest = next(iter(self._counters.items()))
            if now - oldest.last < self.forget_after:
                return
            del self._counters[key]


class LoginThrottle:
    """Decides whether a login attempt may be checked now, and counts the outcome.

    `check(name, address)` raises LoginLocked while that name from that address, or that
    address as a whole, must wait; `failed` and `succeeded` record the outcome. A success
    clears the name-and-address counter only, so logging in to one account does not let an
    address guess at others faster.
    """

    def __init__(
        self,
        *,
        free: int = FREE_FAILURES,
        address_free: int = ADDRESS_FREE_FAILURES,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        max_counters: int = MAX_COUNTERS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        settings = {
            "first_delay": first_delay,
            "max_delay": max_delay,
            "max_counters": max_counters,
        }
        self.by_login = Backoff(free, **settings)
        self.by_address = Backoff(address_free, **settings)
        self.clock = clock
        self._mutex = threading.Lock()

    def check(self, name: str, address: str) -> None:
        """Raise LoginLocked while `name` from `address` (or `address` at all) must wait."""
        with self._mutex:
            now = self.clock()
            wait = max(
                self.by_login.wait(_login_key(name, address), now),
                self.by_address.wait(_address_key(address), now),
            )
        if wait > 0:
            raise LoginLocked(wait)

    def failed(self, name: str, address: str) -> None:
        """Count a failed login of `name` from `address`."""
        with self._mutex:
            now = self.clock()
            self.by_login.fail(_login_key(name, address), now)
            self.by_address.fail(_address_key(address), now)

    def succeeded(self, name: str, address: str) -> None:
        """Forget the failures of `name` from `address`."""
        with self._mutex:
            self.by_login.clear(_login_key(name, address))


def client_network(address: str) -> str:
    """The unit an address is counted by: an IPv4 address itself, an IPv6 address's /64
    (one subscriber's block), anything else as given.

    >>> client_network("2001:db8:1:2:aaaa::1")
    '2001:db8:1:2::/64'
    >>> client_network("::ffff:192.0.2.7")
    '192.0.2.7'
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def _digest(text: str) -> bytes:
    """A fixed-size key for `text`, however long the name a client sent."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _login_key(name: str, address: str) -> bytes:
    return _digest(f"{name}\0{client_network(address)}")


def _address_key(address: str) -> bytes:
    return _digest(client_network(address))
