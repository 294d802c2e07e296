"""ApiGuard: an ASGI middleware that refuses hostile requests before their bodies are read.

For every HTTP request it notes the client's address (for the login throttle), and:
- on API routes that need a user, authenticates from the headers alone and answers 401 (or
  429) without reading a byte of the body;
- caps the body by route (small for JSON, the upload limit for imports and the web app's
  file uploads): a declared Content-Length over the cap is answered 413 at once, and a body
  that grows past it while being read stops with 413.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.auth import CALLER_KEY, authenticate
from app.context import CLIENT_ADDRESS, AppContext
from curation.errors import PrefstudioError

API_PREFIX = "/api/v1"
PUBLIC_API_PATHS = frozenset(
    f"{API_PREFIX}{path}" for path in ("/health", "/docs", "/openapi.json")
)
UPLOAD_PATHS = frozenset({f"{API_PREFIX}/import", "/gradio_api/upload"})
MIB = 1024 * 1024
UPLOAD_LIMIT_VARIABLE = "PREFSTUDIO_MAX_UPLOAD_MB"
DEFAULT_UPLOAD_MB = 1024


@dataclass(frozen=True)
class BodyLimits:
    """Most bytes a request body may have: on JSON API routes, on uploads, and on the web
    app's other routes (its events carry form values, never files)."""

    api: int = MIB
    upload: int = DEFAULT_UPLOAD_MB * MIB
    page: int = 16 * MIB

    @classmethod
    def configured(cls, settings: Mapping[str, Any]) -> BodyLimits:
        """The limits with the upload cap from `settings["max_upload_bytes"]`, else from
        $PREFSTUDIO_MAX_UPLOAD_MB, else DEFAULT_UPLOAD_MB."""
        if "max_upload_bytes" in settings:
            return cls(upload=int(settings["max_upload_bytes"]))
        given = os.environ.get(UPLOAD_LIMIT_VARIABLE, str(DEFAULT_UPLOAD_MB))
        try:
            megabytes = float(given)
        except ValueError:
            megabytes = -1.0
        if not megabytes > 0:
            raise PrefstudioError(
                f"${UPLOAD_LIMIT_VARIABLE} must be a positive number of MiB, not {given!r}"
            )
        return cls(upload=int(megabytes * MIB))

    def for_path(self, path: str) -> int:
        """The cap for a request to `path`."""
        if path in UPLOAD_PATHS:
            return self.upload
        return self.api if _is_api(path) else self.page


class ApiGuard:
    """The middleware; see the module's docstring."""

    def __init__(self, app: ASGIApp, ctx: AppContext, limits: BodyLimits) -> None:
        self.app = app
        self.ctx = ctx
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0]
        token = CLIENT_ADDRESS.set(address)
        try:
            path, headers = scope["path"], Headers(scope=scope)
            limit = self.limits.for_path(path)
            try:
                if _is_api(path) and path not in PUBLIC_API_PATHS:
                    caller = await authenticate(self.ctx, headers.get("authorization"), address)
                    scope[CALLER_KEY] = caller
                _check_declared_length(headers, limit)
            except HTTPException as refusal:
                await _refusal(refusal)(scope, receive, send)
                return
            await self.app(scope, _capped(receive, limit), send)
        finally:
            CLIENT_ADDRESS.reset(token)


def _is_api(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def _too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"request body too large: at most {_size(limit)} on this route",
    )


def _size(count: int) -> str:
    """A byte count as people read it: `1 MiB`, `2.5 MiB`, `800 bytes`."""
    if count >= MIB:
        return f"{count / MIB:g} MiB"
    return f"{count} bytes"


def _check_declared_length(headers: Headers, limit: int) -> None:
    """Raise 413 when the declared Content-Length is over `limit`, 400 when it is no number."""
    declared = headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "Content-Length is not a number")
    if int(declared) > limit:
        raise _too_large(limit)


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` that raises 413 once the body read so far passes `limit` bytes (the web
    framework answers an HTTPException raised while it reads the body)."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return capped


def _refusal(refusal: HTTPException) -> JSONResponse:
    return JSONResponse(
        {"detail": refusal.detail}, status_code=refusal.status_code, headers=refusal.headers
    )
