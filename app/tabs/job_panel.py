"""What the Generate and Judge tabs show of the job they follow: status, progress, report."""

from __future__ import annotations

from app.safe_text import literal, render
from curation.jobs.records import JobRecord
from curation.jobs.runner import job_progress


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
