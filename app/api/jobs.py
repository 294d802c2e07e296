"""API routes for jobs (admin: generation, judging, learning a judge, curation; imports,
which POST /import starts): start one, list them, follow and cancel one. Reads never write: the
server's watcher takes the workers' results in and finishes jobs."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import AdminUser, Context
from app.job_requests import JobBody, start_job, stop_job
from curation.jobs.records import get_job, list_jobs
from curation.jobs.runner import job_log, job_view

router = APIRouter()


@router.post("/jobs")
def post_job(body: JobBody, user: AdminUser, ctx: Context) -> dict:
    """Start a job (`generate`, `judge`, `learn` or `curate`); it runs in a worker whatever the
    client does next."""
    return job_view(start_job(ctx.store, body.kind, body.params))


@router.get("/jobs")
def get_jobs(user: AdminUser, ctx: Context) -> dict:
    """Every job, newest first, as the watcher last recorded it."""
    return {"jobs": [job_view(job) for job in list_jobs(ctx.store)]}


@router.get("/jobs/{job_id}")
def get_one_job(job_id: int, user: AdminUser, ctx: Context) -> dict:
    """One job with its status, report so far, progress and the tail of its log."""
    job = get_job(ctx.store, job_id)
    return {**job_view(job), "log": job_log(job, lines=20)}


@router.post("/jobs/{job_id}/cancel")
def post_cancel(job_id: int, user: AdminUser, ctx: Context) -> dict:
    """End a job's worker (what it finished is kept), and the training run it waits for if
    any; the job is then `cancelled`."""
    return job_view(stop_job(ctx.store, job_id))
