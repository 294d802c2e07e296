"""What the Generate, Judge, Curate and Admin tabs show of the job they follow: status, progress, report;
and their controls: a start button, Cancel and the timer that refreshes the view."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from app.job_requests import stop_job
from app.safe_text import info, literal, markdown_view, render, text_lines
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


def job_report_text(
    job: JobRecord, text: Callable[[dict], str], shown: tuple[str, ...] = ("succeeded",)
) -> str:
    """An ended job's status, then its report as `text` writes it (the CLI's text) when the
    job ended as one of `shown`."""
    if job.status not in shown:
        return job_text(job)
    return job_text(job) + "\n\n" + text_lines(text(job.result))


def follow_job(
    store: Store,
    job_id: int | None,
    names: tuple[str, str],
    ended: Callable[[JobRecord], str],
    refreshed: Callable[[], dict[str, Any]],
) -> dict[str, Any]:
    """What a tab's timer shows of the followed job, by component name (`names`: the view and
    the followed id): nothing while none is followed, its progress while it runs; once it has
    ended, `ended(job)` and `refreshed()` outputs, and it is no longer followed."""
    view, followed = names
    if job_id is None:
        return {}
    job = get_job(store, job_id)
    if job.active:
        return {view: job_text(job)}
    return {view: ended(job), followed: None, **refreshed()}


def cancel_followed(store: Store, job_id: int | None, idle: str, done: str) -> JobRecord | None:
    """Cancel the followed job (and the training run it waits for) while it is queued or
    running, and say so (`done`); None, after saying `idle`, when there is nothing to cancel."""
    if job_id is None or not get_job(store, job_id).active:
        info(idle)
        return None
    job = stop_job(store, job_id)
    info(done)
    return job


def job_controls(button: str, label: str, view: str, prefix: str) -> dict[str, Any]:
    """The start button `button` (labelled `label`) and `cancel`, the followed job shown in
    `view`, its id (`followed`) and the `timer` that refreshes it; elem ids `prefix-name`."""
    c: dict[str, Any] = {}
    with gr.Row():
        c[button] = gr.Button(label, variant="primary", elem_id=f"{prefix}-{button}")
        c["cancel"] = gr.Button("Cancel", elem_id=f"{prefix}-cancel")
    c[view] = markdown_view(elem_id=f"{prefix}-{view}")
    c["followed"] = gr.State(None)  # id of the job shown
    c["timer"] = gr.Timer(1.0)
    return c
