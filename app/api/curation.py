"""API routes for curation (admin): a curation pass, and creating, listing, showing and
verifying snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from curation.quality.curate import curate
from curation.quality.flags import FlagRules
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.snapshots.freeze import (
    create_snapshot,
    list_snapshots,
    show_snapshot,
    verify_snapshot,
)
from curation.snapshots.snapshot_policy import SnapshotPolicy
from training.flag_rules import flag_rules

router = APIRouter()


class CurateBody(BaseModel):
    """Settings of a curation pass, as `prefstudio curate` takes them."""

    model_config = ConfigDict(extra="forbid")

    near_dup_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, le=1)
    max_tokens: int = Field(default=FlagRules.max_tokens, ge=1)
    truncation_tokens: int = Field(default=FlagRules.truncation_tokens, ge=1)
    tokenizer: str | None = Field(default=None, max_length=500)


class SnapshotBody(BaseModel):
    """A snapshot to create: its name and policy settings (defaults for those left out)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    policy: dict[str, Any] = Field(default_factory=dict)


@router.post("/curate")
def post_curate(body: CurateBody, user: AdminUser, ctx: Context) -> dict:
    """Recompute duplicate clusters and flags; the report of `prefstudio curate --json`."""
    rules = flag_rules(body.max_tokens, body.truncation_tokens, body.tokenizer)
    return curate(ctx.store, near_dup_threshold=body.near_dup_threshold, rules=rules).to_dict()


@router.post("/snapshots")
def post_snapshot(body: SnapshotBody, user: AdminUser, ctx: Context) -> dict:
    """Freeze the curated data as a named snapshot; a bad policy is a 400 naming the setting."""
    policy = SnapshotPolicy.from_dict(body.policy)
    return create_snapshot(ctx.store, body.name, policy).to_dict()


@router.get("/snapshots")
def get_snapshots(user: AdminUser, ctx: Context) -> dict:
    """Every snapshot, newest first."""
    return {"snapshots": [info.to_dict() for info in list_snapshots(ctx.store)]}


@router.get("/snapshots/{name}")
def get_one_snapshot(name: str, user: AdminUser, ctx: Context) -> dict:
    """One snapshot: policy, counts, source hashes and file sha256s."""
    return show_snapshot(ctx.store, name)


@router.get("/snapshots/{name}/verify")
def get_snapshot_verify(name: str, user: AdminUser, ctx: Context) -> dict:
    """Recompute a snapshot's file hashes and sha256: `verified`, and the files changed,
    missing or added (a snapshot that does not verify is still a 200 answer)."""
    return verify_snapshot(ctx.store, name).to_dict()
