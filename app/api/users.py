"""API routes for accounts (admin): list, create, and change role, password or disabled state."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.api.auth import AdminUser, Context
from curation.labelling.accounts import ROLES, account_listing, add_user, update_account

router = APIRouter()
Role = Literal[ROLES]  # type: ignore[valid-type]


class NewUser(BaseModel):
    """An account to create."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: Role = "annotator"
    password: str = Field(max_length=1024)


class UserChange(BaseModel):
    """What to change about an account: one or more of role, password, disabled."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    password: str | None = Field(default=None, max_length=1024)
    disabled: bool | None = None

    @model_validator(mode="after")
    def something_to_change(self) -> UserChange:
        if self.role is None and self.password is None and self.disabled is None:
            raise ValueError("give role, password or disabled")
        return self


@router.get("/users")
def get_users(user: AdminUser, ctx: Context) -> dict:
    """Every account: name, role, created, disabled."""
    return account_listing(ctx.store).to_dict()


@router.post("/users")
def post_user(body: NewUser, user: AdminUser, ctx: Context) -> dict:
    """Create an account; a bad name, a taken name or a short password is a 400."""
    return add_user(ctx.store, body.name, body.role, body.password).to_dict()


@router.patch("/users/{name}")
def patch_user(name: str, body: UserChange, user: AdminUser, ctx: Context) -> dict:
    """Change an account, all or nothing; it takes effect at the next request."""
    account = update_account(
        ctx.store, name, role=body.role, password=body.password, disabled=body.disabled
    )
    ctx.credentials.forget()
    return account.to_dict()
