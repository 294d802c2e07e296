"""API routes for curation (admin): a curation job, and creating, listing, showing and
verifying snapshots."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from app.job_requests import CurateParams, start_job
from curation.jobs.runner import job_view
from curation.snapshots.freeze import (
    create_snapshot,
    show_snapshot,
    snapshot_listing,
    verify_snapshot,
)
from curation.snapshots.snapshot_policy import SnapshotPolicy

router = APIRouter()


class SnapshotBody(BaseModel):
    """A snapshot to create: its name and policy settings (defaults for those left out)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    policy: dict[str, Any] = Field(default_factory=dict)


@router.post("/curate")
def post_curate(body: CurateParams, user: AdminUser, ctx: Context) -> dict:
    """Start a curation job (duplicate clusters and flags afresh); the job, to follow at
    /jobs/{id}. Its report, once it succeeded, is what `prefstudio curate --json` prints."""
    return job_view(start_job(ctx.store, "curate", body.model_dump()))


@router.post("/snapshots")
def post_snapshot(body: SnapshotBody, user: AdminUser, ctx: Context) -> dict:
    """Freeze the curated data as a named snapshot; a bad policy is a 400 naming the setting."""
    policy = SnapshotPolicy.from_dict(body.policy)
    return create_snapshot(ctx.store, body.name, policy).to_dict()


@router.get("/snapshots")
def get_snapshots(user: AdminUser, ctx: Context) -> dict:
    """Every snapshot, newest first."""
    return snapshot_listing(ctx.store).to_dict()


@router.get("/snapshots/{name}")
def get_one_snapshot(name: str, user: AdminUser, ctx: Context) -> dict:
    """One snapshot: policy, counts, source hashes and file sha256s."""
    return show_snapshot(ctx.store, name).to_dict()


@router.get("/snapshots/{name}/verify")
def get_snapshot_verify(name: str, user: AdminUser, ctx: Context) -> dict:
    """Recompute a snapshot's file hashes and sha256: `verified`, and the files changed,
    missing or added (a snapshot that does not verify is still a 200 answer)."""
    return verify_snapshot(ctx.store, name).to_dict()
