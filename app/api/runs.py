"""API routes for training runs (admin): start one (or one-click DPO), list them, follow, cancel
and resume one. Reads never write: the server's run watcher finishes and launches runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from curation.store.run_records import get_run, list_runs
from training.methods import METHODS
from training.one_click import one_click_dpo
from training.presets import PRESETS
from training.runs import cancel_run, log_tail, plan_run, resume_run, run_view, start_run

router = APIRouter()


class RunBody(BaseModel):
    """A run to start: snapshot, method, optional base model, settings and step limit."""

    model_config = ConfigDict(extra="forbid")

    snapshot: str = Field(min_length=1, max_length=200)
    method: str = Field(pattern=f"^({'|'.join(METHODS)})$")
    model: str | None = Field(default=None, max_length=500)
    settings: dict[str, Any] = Field(default_factory=dict)
    max_steps: int | None = Field(default=None, ge=1)


class OneClickBody(BaseModel):
    """One-click DPO: optional base model, preset, settings over the preset, and step limit."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=500)
    preset: str = Field(default="standard", pattern=f"^({'|'.join(PRESETS)})$")
    settings: dict[str, Any] = Field(default_factory=dict)
    max_steps: int | None = Field(default=None, ge=1)


@router.post("/runs/one-click")
def post_one_click(body: OneClickBody, user: AdminUser, ctx: Context) -> dict:
    """Queue a DPO run on a fresh snapshot (made when labels, flags or exclusions changed)."""
    started = one_click_dpo(ctx.store, **body.model_dump())
    return {
        **run_view(started.run),
        "one_click": {
            "snapshot_created": started.snapshot_created,
            "changed": started.changed,
            "message": started.describe(),
        },
    }


@router.post("/runs")
def post_run(body: RunBody, user: AdminUser, ctx: Context) -> dict:
    """Start a training run; it keeps going whatever the client does next."""
    spec = plan_run(
        ctx.store,
        snapshot=body.snapshot,
        method=body.method,
        model=body.model,
        settings=body.settings,
        max_steps=body.max_steps,
    )
    return run_view(start_run(ctx.store, spec))


@router.get("/runs")
def get_runs(user: AdminUser, ctx: Context) -> dict:
    """Every run, newest first, as the run watcher last recorded it."""
    return {"runs": [run_view(r) for r in list_runs(ctx.store)]}


@router.get("/runs/{run_id}")
def get_one_run(run_id: int, user: AdminUser, ctx: Context) -> dict:
    """One run with its status, metrics, eval and progress."""
    return run_view(get_run(ctx.store, run_id))


@router.get("/runs/{run_id}/log")
def get_run_log(run_id: int, user: AdminUser, ctx: Context) -> dict:
    """The last lines of a run's log."""
    return {"id": run_id, "log": log_tail(get_run(ctx.store, run_id))}


@router.post("/runs/{run_id}/cancel")
def post_cancel(run_id: int, user: AdminUser, ctx: Context) -> dict:
    """End a running run's process tree."""
    return run_view(cancel_run(ctx.store, run_id))


@router.post("/runs/{run_id}/resume")
def post_resume(run_id: int, user: AdminUser, ctx: Context) -> dict:
    """Queue a failed or cancelled run again; it resumes from its last checkpoint."""
    return run_view(resume_run(ctx.store, run_id))
