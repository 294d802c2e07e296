"""API routes for training runs (admin): start one (or one-click DPO), list them, follow, cancel
and resume one. A run starts as POST /jobs starts a `train` job (app.job_requests). Reads
never write: the server's watcher finishes and launches runs."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import Field

from app.api.auth import AdminUser, Context
from app.context import AppContext
from app.job_requests import RunOptions, start_job
from curation.jobs.records import get_job
from curation.store.run_records import get_run, list_runs
from training.methods import METHODS
from training.one_click import one_click_line
from training.runs import cancel_run, log_tail, run_view

router = APIRouter()


class RunBody(RunOptions):
    """A run to start: snapshot, method, and its options."""

    snapshot: str = Field(min_length=1, max_length=200)
    method: Literal[tuple(METHODS)]  # type: ignore[valid-type]


def _started_run(ctx: AppContext, params: dict[str, Any]) -> dict:
    """Start the train job `params` ask for (as POST /jobs does); its run's view."""
    job = start_job(ctx.store, "train", params)
    return run_view(get_run(ctx.store, job.params["run_id"]))


@router.post("/runs/one-click")
def post_one_click(body: RunOptions, user: AdminUser, ctx: Context) -> dict:
    """Queue a DPO run on a fresh snapshot (made when labels, flags or exclusions changed)."""
    run = _started_run(ctx, {**body.model_dump(), "one_click": True})
    chosen = get_job(ctx.store, run["job_id"]).result["one_click"]
    return {
        **run,
        "one_click": {
            "snapshot_created": chosen["snapshot_created"],
            "changed": chosen["changed"],
            "message": one_click_line(run["id"], run["status"], chosen),
        },
    }


@router.post("/runs")
def post_run(body: RunBody, user: AdminUser, ctx: Context) -> dict:
    """Start a training run (the same as POST /jobs with kind `train`); it keeps going
    whatever the client does next."""
    return _started_run(ctx, body.model_dump())


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
    return _started_run(ctx, {"resume": run_id})
