"""HTTP Basic authentication for the API against the annotators table, with role checks."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import (
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
)

from app.context import AppContext, role_allows
from curation.login_throttle import LoginLocked

LOCAL_CLI_USER = "local-cli"
_basic = HTTPBasic(auto_error=False, realm="prefstudio")
_bearer = HTTPBearer(auto_error=False)


async def api_context(request: Request) -> AppContext:
    """The server's AppContext, kept in the FastAPI app's state (async: no worker thread)."""
    return request.app.state.context


async def _authenticated_user(
    request: Request,
    basic: HTTPBasicCredentials | None,
    bearer: HTTPAuthorizationCredentials | None,
) -> tuple[str, str]:
    """(name, role) of the caller, or 401.

    Users send HTTP Basic credentials. The CLI on the server's machine may instead send the
    token the server wrote beside the store (readable only by its owner) and acts as admin.
    A login seen recently is checked in memory; checking a new one (a slow hash) runs in a
    worker thread so the server keeps answering others meanwhile. An account with too many
    recent failed logins gets 429 with Retry-After instead (see LoginThrottle).
    """
    ctx: AppContext = request.app.state.context
    token = ctx.settings.get("local_token")
    if bearer is not None and token and hmac.compare_digest(bearer.credentials, token):
        return LOCAL_CLI_USER, "admin"
    if basic is not None:
        credentials = ctx.credentials
        role = credentials.cached_role(basic.username, basic.password)
        if role is None:
            try:
                role = await run_in_threadpool(credentials.role_for, basic.username, basic.password)
            except LoginLocked as locked:
                raise HTTPException(
                    status.HTTP_429_TOO_MANY_REQUESTS,
                    str(locked),
                    headers={"Retry-After": str(max(1, round(locked.retry_after)))},
                ) from None
        if role is not None:
            return basic.username, role
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "valid credentials needed (HTTP Basic: user name and password)",
        headers={"WWW-Authenticate": 'Basic realm="prefstudio"'},
    )


def require_api_user(role: str = "annotator") -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency returning the caller's name: 401 without valid credentials, 403
    when their role is below `role`."""

    async def dependency(
        request: Request,
        basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> str:
        name, actual = await _authenticated_user(request, basic, bearer)
        if not role_allows(actual, role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this needs the {role} role")
        return name

    return dependency


# Route parameter types: the caller's name, checked for a role; the server's context.
AnnotatorUser = Annotated[str, Depends(require_api_user("annotator"))]
AdminUser = Annotated[str, Depends(require_api_user("admin"))]
Context = Annotated[AppContext, Depends(api_context)]
