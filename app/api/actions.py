"""POST /api/v1/actions/<command>: the prefstudio CLI on the server's machine runs a store
command through the server that holds the store, with the command's own code.

Only the CLI's token (readable by the store's owner alone) may call it: its paths are on this
machine, as the CLI's would be without a server.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import LOCAL_CLI_USER, AdminUser, Context
from app.commands.actions import run_command

router = APIRouter()


class ActionBody(BaseModel):
    """A command's keyword arguments, as the CLI parsed them."""

    model_config = ConfigDict(extra="forbid")

    kwargs: dict[str, Any] = Field(default_factory=dict)


@router.post("/actions/{name}")
def post_action(name: str, body: ActionBody, user: AdminUser, ctx: Context) -> JSONResponse:
    """Run store command `name`; its (data, text) as {data, text}, encoded as the CLI would."""
    if user != LOCAL_CLI_USER:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "actions are for the prefstudio CLI on the server's machine; use the other routes",
        )
    data, text = run_command(ctx.store, name, body.kwargs)
    ctx.credentials.forget()  # a command may have changed an account: check logins afresh
    return JSONResponse(json.loads(json.dumps({"data": data, "text": text}, default=str)))
