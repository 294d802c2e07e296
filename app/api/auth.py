"""Who is calling the API: HTTP Basic against the annotators table, or the local CLI's token;
and the role check every route makes.

Callers are authenticated from the request's headers alone, by ApiGuard (app/api/guard.py),
before any body is read; routes then check the role with `require_api_user`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool

from app.context import AppContext, role_allows
from curation.labelling.login_throttle import LoginLocked

LOCAL_CLI_USER = "local-cli"
CALLER_KEY = "prefstudio.caller"  # where ApiGuard leaves (name, role) in the ASGI scope


async def api_context(request: Request) -> AppContext:
    """The server's AppContext, kept in the FastAPI app's state (async: no worker thread)."""
    return request.app.state.context


def unauthorized() -> HTTPException:
    """The 401 for a request without valid credentials."""
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "valid credentials needed (HTTP Basic: user name and password)",
        headers={"WWW-Authenticate": 'Basic realm="prefstudio"'},
    )


async def authenticate(ctx: AppContext, authorization: str | None, address: str) -> tuple[str, str]:
    """(name, role) of the caller from its Authorization header, or raise HTTPException.

    Users send HTTP Basic credentials. The CLI on the server's machine may instead send the
    token the server wrote beside the store (readable only by its owner) and acts as admin.
    A login seen recently is checked in memory; checking a new one (a slow hash) runs in a
    worker thread so the server keeps answering others meanwhile. A name that failed too
    often lately from the caller's address gets 429 with Retry-After (see LoginThrottle).
    """
    scheme, _, value = (authorization or "").partition(" ")
    scheme, value = scheme.lower(), value.strip()
    token = ctx.settings.get("local_token")
    if scheme == "bearer" and token and hmac.compare_digest(value.encode(), token.encode()):
        return LOCAL_CLI_USER, "admin"
    login = _basic_login(value) if scheme == "basic" else None
    if login is not None:
        name, password = login
        role = ctx.credentials.cached_role(name, password)
        if role is None:
            try:
                role = await run_in_threadpool(ctx.credentials.role_for, name, password, address)
            except LoginLocked as locked:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    str(locked),
                    headers={"Retry-After": str(max(1, round(locked.retry_after)))},
                ) from None
        if role is not None:
            return name, role
    raise unauthorized()


def _basic_login(value: str) -> tuple[str, str] | None:
    """(name, password) from HTTP Basic credentials (UTF-8), or None when malformed."""
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    name, colon, password = decoded.partition(":")
    return (name, password) if colon and name else None


def require_api_user(role: str = "annotator") -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency returning the caller's name: 401 without valid credentials, 403
    when their role is below `role`."""

    async def dependency(request: Request) -> str:
        caller = request.scope.get(CALLER_KEY)
        if caller is None:  # a route ApiGuard does not cover
            raise unauthorized()
        name, actual = caller
        if not role_allows(actual, role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        return name

    return dependency


# Route parameter types: the caller's name, checked for a role; the server's context.
AnnotatorUser = Annotated[str, Depends(require_api_user("annotator"))]
AdminUser = Annotated[str, Depends(require_api_user("admin"))]
Context = Annotated[AppContext, Depends(api_context)]
