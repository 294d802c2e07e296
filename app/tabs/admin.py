"""The Admin tab: annotators and their counts, their gold accuracy, labels over time, import,
export, overlap, the guidelines annotators see, gold pairs, and accounts."""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import Any

import gradio as gr

from app.context import AppContext
from app.safe_text import error, info, markdown_view
from app.tabs.accounts import create_accounts_panel
from app.tabs.gold_panel import create_gold_panel, gold_overview
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
from app.tabs.job_panel import cancel_followed, follow_job, job_report_text, job_text
from app.transfer import export_to_file, start_import
from curation import EXPORT_FORMATS, IMPORT_FORMATS
from curation.io.importer import ImportReport
from curation.jobs.records import JobRecord
from curation.labelling.gold_scores import gold_table
from curation.labelling.guidelines import (
    MAX_GUIDELINES,
    Guidelines,
    get_guidelines,
    set_guidelines,
)
from curation.labelling.label_stats import annotator_counts, labels_over_time
from curation.labelling.queue import MAX_OVERLAP, get_overlap, set_overlap

OVERVIEW = ["counts", "gold", "over_time", "overlap", "guidelines", "gold_pairs", "gold_every"]


@handler("admin")
def overview(ctx: AppContext, user: str) -> Outputs:
    """Annotators' counts and gold accuracy, labels over time, the overlap, guidelines, gold
    pairs and gold rate."""
    return {
        "counts": annotator_counts(ctx.store),
        "gold": gold_table(ctx.store),
        "over_time": labels_over_time(ctx.store),
        "overlap": get_overlap(ctx.store),
        "guidelines": get_guidelines(ctx.store),
        **gold_overview(ctx.store),
    }


@handler("admin")
def run_import(ctx: AppContext, user: str, files: list[str] | None, fmt: str) -> Outputs:
    """Start a job importing the uploaded files in one go, and follow it."""
    if not files:
        raise error("Choose one or more files to import.")
    with contextlib.ExitStack() as opened:
        uploads = [(Path(path).name, opened.enter_context(open(path, "rb"))) for path in files]
        job = start_import(ctx.store, uploads, format=fmt)
    return {"import_report": job_text(job), "import_followed": job.id}


@handler("admin", passive=True)
def follow_import(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """The timer: the followed import's progress; once it has ended, a line per file, what
    was added and the overview anew (or why it failed), and the job is no longer followed."""
    names = ("import_report", "import_followed")
    return follow_job(ctx.store, job_id, names, imported_text, lambda: overview.fn(ctx, user))


def imported_text(job: JobRecord) -> str:
    """An ended import: its status, then a line per file and what was added once it succeeded."""
    return job_report_text(job, ImportReport.text)


@handler("admin")
def cancel_import(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """Cancel the followed import while its worker has not handed it over; nothing is stored
    then."""
    job = cancel_followed(ctx.store, job_id, "No import is running.", "Import cancelled.")
    return {"import_report": job_text(job)} if job else {}


@handler("admin")
def run_export(ctx: AppContext, user: str, fmt: str, file_type: str) -> Outputs:
    """Export the store in a format to a file to download."""
    path, report = export_to_file(ctx.store, fmt, file_type)
    info(f"{report.rows} {fmt} rows")
    return {"export_file": str(path)}


@handler("admin")
def save_overlap(ctx: AppContext, user: str, value: float) -> Outputs:
    """Set how many distinct annotators label each pair."""
    set_overlap(ctx.store, int(value))
    info(f"Each pair now goes to {int(value)} annotator(s).")
    return {}


@handler("admin")
def save_guidelines(ctx: AppContext, user: str, text: str) -> Outputs:
    """Save the guidelines annotators see (empty text removes them); the text as saved."""
    saved = Guidelines(set_guidelines(ctx.store, text), saved=True)
    info(saved.text())
    return {"guidelines": saved.markdown}


def _transfer_section() -> dict[str, Any]:
    """Import and export side by side, by name."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Import")
            c["upload"] = gr.File(
                label="Files (JSONL, JSON, CSV, Parquet)",
                file_count="multiple",
                elem_id="import-files",
            )
            c["import_format"] = gr.Dropdown(list(IMPORT_FORMATS), value="auto", label="Format")
            with gr.Row():
                c["import"] = gr.Button("Import", elem_id="import-button")
                c["import_cancel"] = gr.Button("Cancel", elem_id="import-cancel")
            c["import_report"] = markdown_view(elem_id="import-report")
            c["import_followed"] = gr.State(None)  # id of the import job shown
            c["import_timer"] = gr.Timer(1.0)
        with gr.Column():
            gr.Markdown("### Export")
            c["export_format"] = gr.Dropdown(list(EXPORT_FORMATS), value="dpo", label="Format")
            c["export_type"] = gr.Radio(["jsonl", "parquet"], value="jsonl", label="File type")
            c["export"] = gr.Button("Export", elem_id="export-button")
            c["export_file"] = gr.File(label="Download", interactive=False)
    return c


def _settings_section() -> dict[str, Any]:
    """The overlap and the guidelines, each with its save button, by name."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Overlap")
            c["overlap"] = gr.Slider(
                1, MAX_OVERLAP, step=1, label="Distinct annotators per pair", elem_id="overlap"
            )
            c["save_overlap"] = gr.Button("Save overlap", elem_id="overlap-save")
        with gr.Column():
            gr.Markdown("### Guidelines for annotators")
            c["guidelines"] = gr.Textbox(
                label=f"Markdown, shown atop the Label tab (up to {MAX_GUIDELINES:,} characters)",
                lines=6,
                max_lines=20,
                elem_id="guidelines-text",
            )
            c["save_guidelines"] = gr.Button("Save guidelines", elem_id="guidelines-save")
    return c


def create_admin_tab(ctx: AppContext) -> None:
    """Build the Admin tab; every handler checks the admin role on the server."""
    c: dict[str, Any] = {"refresh": gr.Button("Refresh", size="sm", elem_id="admin-refresh")}
    c["counts"] = gr.Dataframe(label="Annotators", interactive=False, elem_id="annotator-counts")
    c["gold"] = gr.Dataframe(
        label="Gold accuracy (answers on gold pairs, skips aside)",
        interactive=False,
        elem_id="gold-accuracy",
    )
    c["over_time"] = gr.BarPlot(
        x="time", y="labels", color="annotator", label="Labels over time (per hour)"
    )
    c.update(_transfer_section())
    c.update(_settings_section())
    c.update(create_gold_panel(ctx, c["gold"]))
    create_accounts_panel(ctx)

    shown = named(c, *OVERVIEW)
    on_page_load(ctx, overview, None, shown)
    wire(ctx, c["refresh"].click, overview, None, shown)
    started = named(c, "import_report", "import_followed")
    wire(ctx, c["import"].click, run_import, [c["upload"], c["import_format"]], started)
    wire(
        ctx,
        c["import_cancel"].click,
        cancel_import,
        [c["import_followed"]],
        named(c, "import_report"),
    )
    ticked = named(c, "import_report", "import_followed", *OVERVIEW)
    timer = partial(c["import_timer"].tick, show_progress="hidden")
    wire(ctx, timer, follow_import, [c["import_followed"]], ticked)
    exported = [c["export_format"], c["export_type"]]
    wire(ctx, c["export"].click, run_export, exported, named(c, "export_file"))
    wire(ctx, c["save_overlap"].click, save_overlap, [c["overlap"]], {})
    saved = named(c, "guidelines")
    wire(ctx, c["save_guidelines"].click, save_guidelines, [c["guidelines"]], saved)
