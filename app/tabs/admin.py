"""The Admin tab: annotators and their counts, their gold accuracy, labels over time, import,
export, overlap, the guidelines annotators see, and accounts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from app.context import AppContext
from app.safe_text import error, info, literal, markdown_view, render
from app.tabs.accounts import create_accounts_panel
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
from app.transfer import export_to_file, import_uploads
from curation import EXPORT_FORMATS, IMPORT_FORMATS
from curation.labelling.gold_scores import gold_table
from curation.labelling.guidelines import MAX_GUIDELINES, get_guidelines, set_guidelines
from curation.labelling.label_stats import annotator_counts, labels_over_time
from curation.labelling.queue import MAX_OVERLAP, get_overlap, set_overlap

OVERVIEW = ["counts", "gold", "over_time", "overlap", "guidelines"]


@handler("admin")
def overview(ctx: AppContext, user: str) -> Outputs:
    """Annotators' counts and gold accuracy, labels over time, the overlap and guidelines."""
    return {
        "counts": annotator_counts(ctx.store),
        "gold": gold_table(ctx.store),
        "over_time": labels_over_time(ctx.store),
        "overlap": get_overlap(ctx.store),
        "guidelines": get_guidelines(ctx.store),
    }


@handler("admin")
def run_import(
    ctx: AppContext,
    user: str,
    files: list[str] | None,
    fmt: str,
    progress=gr.Progress(),  # noqa: B008
) -> Outputs:
    """Import the uploaded files in one go; a line per file, what was added, and the overview."""
    if not files:
        raise error("Choose one or more files to import.")
    handles = [open(path, "rb") for path in files]  # noqa: SIM115 (closed below)
    try:
        report = import_uploads(
            ctx.store,
            [(Path(p).name, h) for p, h in zip(files, handles, strict=True)],
            format=fmt,
            progress=lambda done, total, step: progress(done / total, desc=f"import: {step}"),
        )
    finally:
        for handle in handles:
            handle.close()
    lines = [
        f"- {literal(Path(f.path).name)}: {f.records} records as {f.format}" for f in report.files
    ]
    added = ", ".join(f"{n} {table}" for table, n in report.added.items())
    text = render("\n".join([*lines, f"\nadded: {added}"]))
    return {"import_report": text, **overview.fn(ctx, user)}


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
    saved = set_guidelines(ctx.store, text)
    info("Guidelines saved." if saved else "Guidelines removed.")
    return {"guidelines": saved}


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
            c["import"] = gr.Button("Import", elem_id="import-button")
            c["import_report"] = markdown_view(elem_id="import-report")
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
    create_accounts_panel(ctx)

    shown = named(c, *OVERVIEW)
    on_page_load(ctx, overview, None, shown)
    wire(ctx, c["refresh"].click, overview, None, shown)
    imported = named(c, "import_report", *OVERVIEW)
    wire(ctx, c["import"].click, run_import, [c["upload"], c["import_format"]], imported)
    exported = [c["export_format"], c["export_type"]]
    wire(ctx, c["export"].click, run_export, exported, named(c, "export_file"))
    wire(ctx, c["save_overlap"].click, save_overlap, [c["overlap"]], {})
    saved = named(c, "guidelines")
    wire(ctx, c["save_guidelines"].click, save_guidelines, [c["guidelines"]], saved)
