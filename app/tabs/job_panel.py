"""What the Generate and Judge tabs show of the job they follow: status, progress, report;
and their Cancel button."""

from __future__ import annotations

from app.job_requests import stop_job
from app.safe_text import info, literal, render
from curation.jobs.records import JobRecord, get_job
from curation.jobs.runner import job_progress
from curation.store.store import Store


def job_text(job: JobRecord | None) -> str:
    """A job's status and progress (and its cause when it failed), as safe Markdown."""
    if job is None:
        return ""
    progress = job_progress(job)
    line = f"**{job.kind} job {job.id}: {job.status}**"
    if progress.get("total"):
        line += f": {progress['done']} of {progress['total']}"
    if job.active and progress.get("phase"):
        line += f" ({literal(progress['phase'])})"
    if job.status == "failed":
        line += f": {literal(job.error or '')}"
    return render(line)


def cancel_followed(store: Store, job_id: int | None, idle: str, done: str) -> JobRecord | None:
    """Cancel the followed job (and the training run it waits for) while it is queued or
    running, and say so (`done`); None, after saying `idle`, when there is nothing to cancel."""
    if job_id is None or not get_job(store, job_id).active:
        info(idle)
        return None
    job = stop_job(store, job_id)
    info(done)
    return job
