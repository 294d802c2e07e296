"""A client for OpenAI-compatible chat-completions endpoints (vLLM, SGLang, llama.cpp, hosted APIs).

Shared by the API judge and remote generation: a token-bucket rate limit across threads,
retries with exponential backoff on connection errors, timeouts, 429 and 5xx (a server's
`Retry-After` wins over the backoff), and typed one-line errors. The API key is read from an
environment variable when the client opens; it is sent as a bearer token and kept out of
every message this module writes.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from curation.errors import PrefstudioError

RETRIED_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
REFUSED_STATUSES = frozenset({401, 403, 404})
Sleep = Callable[[float], None]


class EndpointError(PrefstudioError):
    """An OpenAI-compatible endpoint cannot be used as asked, or keeps failing."""


class EndpointRefused(EndpointError):
    """The endpoint refuses every request (a bad key, model or URL): retrying cannot help."""


class RequestFailed(EndpointError):
    """One request failed for good: `status` is the last HTTP status (None: no answer)."""

    def __init__(self, message: str, *, status: int | None, attempts: int) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class TokenBucket:
    """Lets `rate` requests start per second on average, `burst` at once at most, across threads.

    A caller takes a token, waiting (outside the lock) for the one it reserved when none is left.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise EndpointError(f"rate limit must be positive, got {rate} requests/s")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until this caller may start a request."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            self._tokens -= 1
            wait = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (a number or an HTTP date); None if unreadable.

    >>> retry_after_seconds("2.5")
    2.5
    >>> retry_after_seconds("soon") is None
    True
    """
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def endpoint_host(base_url: str) -> str:
    """The host (and port) of a base URL, without any credentials it may hold.

    >>> endpoint_host("https://user:secret@api.example.com:8443/v1")
    'api.example.com:8443'
    """
    parts = urlsplit(base_url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


class OpenAIClient:
    """Posts to `{base_url}/chat/completions`; use it as a context manager around the requests.

    Safe to call from many threads at once. `retries` counts the requests sent again.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        requests_per_second: float | None = None,
        max_retries: int = 4,
        backoff_s: float = 1.0,
        max_wait_s: float = 60.0,
        timeout_s: float = 60.0,
        connections: int = 8,
        sleep: Sleep = time.sleep,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise EndpointError(f"base URL must start with http:// or https://, got {base_url!r}")
        if max_retries < 0 or backoff_s < 0 or timeout_s <= 0 or connections < 1:
            raise EndpointError(
                "retries and backoff must not be negative, the timeout and connections positive"
            )
        self.base_url = base_url.rstrip("/")
        self.host = endpoint_host(base_url)
        parts = urlsplit(self.base_url)
        self.shown_url = f"{parts.scheme}://{self.host}{parts.path}"
        self.api_key_env = api_key_env
        self.limiter = TokenBucket(requests_per_second) if requests_per_second else None
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.max_wait_s = max_wait_s
        self.timeout_s = timeout_s
        self.connections = connections
        self.retries = 0
        self._sleep = sleep
        self._secret = ""
        self._http: httpx.Client | None = None
        self._count_lock = threading.Lock()

    def __enter__(self) -> OpenAIClient:
        self._secret = os.environ.get(self.api_key_env, "")
        headers = {"Authorization": f"Bearer {self._secret}"} if self._secret else {}
        limits = httpx.Limits(max_connections=self.connections)
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=self.timeout_s, limits=limits
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.close()
        self._http, self._secret = None, ""

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The JSON answer to one chat-completions request, retried while it may yet pass.

        Raises EndpointRefused on 401/403/404 and RequestFailed on any other failure.
        """
        if self._http is None:
            raise EndpointError("open the client (`with client:`) before sending requests")
        reason, status, delay = "", None, 0.0
        for attempt in range(1, self.max_retries + 2):
            if attempt > 1:
                with self._count_lock:
                    self.retries += 1
                self._sleep(min(delay, self.max_wait_s))
            if self.limiter:
                self.limiter.acquire()
            delay = self.backoff_s * 2 ** (attempt - 1)
            try:
                response = self._http.post("/chat/completions", json=body)
            except httpx.TransportError as exc:
                reason, status = self._hide(f"{type(exc).__name__}: {exc}"), None
                continue
            status = response.status_code
            if status in RETRIED_STATUSES:
                reason = f"HTTP {status}"
                asked = retry_after_seconds(response.headers.get("Retry-After"))
                delay = delay if asked is None else asked
                continue
            if status in REFUSED_STATUSES:
                raise EndpointRefused(
                    f"{self.shown_url} refused the request (HTTP {status}): "
                    f"check the base URL, the model name and ${self.api_key_env}"
                )
            if status >= 400:
                detail = self._hide(" ".join(response.text[:300].split()))
                raise RequestFailed(f"HTTP {status}: {detail}", status=status, attempts=attempt)
            try:
                return response.json()
            except ValueError:
                raise RequestFailed(
                    f"HTTP {status} with a body that is not JSON", status=status, attempts=attempt
                ) from None
        raise RequestFailed(
            f"gave up after {self.max_retries + 1} tries: {reason}",
            status=status,
            attempts=self.max_retries + 1,
        )

    def _hide(self, text: str) -> str:
        """`text` with the API key blanked out, should a server or library echo it."""
        return text.replace(self._secret, "***") if self._secret else text
