"""The Admin tab: annotators and their counts, their gold accuracy, labels over time, import,
export, overlap, the guidelines annotators see, and accounts."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from app.context import AppContext
from app.safe_text import info, literal, markdown_view, render, shows_errors
from app.tabs.accounts import create_accounts_panel
from app.transfer import export_to_file, import_uploads
from curation import EXPORT_FORMATS, IMPORT_FORMATS
from curation.gold_scores import gold_table
from curation.guidelines import MAX_GUIDELINES, get_guidelines, set_guidelines
from curation.label_stats import annotator_counts, labels_over_time
from curation.queue import MAX_OVERLAP, get_overlap, set_overlap


def create_admin_tab(ctx: AppContext) -> None:
    """Build the Admin tab; every handler checks the admin role on the server."""
    refresh = gr.Button("Refresh", size="sm", elem_id="admin-refresh")
    counts = gr.Dataframe(label="Annotators", interactive=False, elem_id="annotator-counts")
    gold = gr.Dataframe(
        label="Gold accuracy (answers on gold pairs, skips aside)",
        interactive=False,
        elem_id="gold-accuracy",
    )
    over_time = gr.BarPlot(
        x="time", y="labels", color="annotator", label="Labels over time (per hour)"
    )
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Import")
            upload = gr.File(
                label="Files (JSONL, JSON, CSV, Parquet)",
                file_count="multiple",
                elem_id="import-files",
            )
            import_format = gr.Dropdown(list(IMPORT_FORMATS), value="auto", label="Format")
            import_button = gr.Button("Import", elem_id="import-button")
            import_report = markdown_view(elem_id="import-report")
        with gr.Column():
            gr.Markdown("### Export")
            export_format = gr.Dropdown(list(EXPORT_FORMATS), value="dpo", label="Format")
            export_type = gr.Radio(["jsonl", "parquet"], value="jsonl", label="File type")
            export_button = gr.Button("Export", elem_id="export-button")
            export_file = gr.File(label="Download", interactive=False)
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Overlap")
            overlap = gr.Slider(
                1, MAX_OVERLAP, step=1, label="Distinct annotators per pair", elem_id="overlap"
            )
            overlap_button = gr.Button("Save overlap", elem_id="overlap-save")
        with gr.Column():
            gr.Markdown("### Guidelines for annotators")
            guidelines = gr.Textbox(
                label=f"Markdown, shown atop the Label tab (up to {MAX_GUIDELINES:,} characters)",
                lines=6,
                max_lines=20,
                elem_id="guidelines-text",
            )
            guidelines_button = gr.Button("Save guidelines", elem_id="guidelines-save")
    create_accounts_panel(ctx)

    def overview(request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        return [
            annotator_counts(ctx.store),
            gold_table(ctx.store),
            labels_over_time(ctx.store),
            get_overlap(ctx.store),
            get_guidelines(ctx.store),
        ]

    @shows_errors
    def run_import(
        files: list[str] | None,
        fmt: str,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ):
        ctx.require_user(request, "admin")
        if not files:
            raise gr.Error("Choose one or more files to import.")
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
            f"- {literal(Path(f.path).name)}: {f.records} records as {f.format}"
            for f in report.files
        ]
        added = ", ".join(f"{n} {table}" for table, n in report.added.items())
        return [render("\n".join([*lines, f"\nadded: {added}"])), *overview(request)]

    @shows_errors
    def run_export(fmt: str, file_type: str, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        path, report = export_to_file(ctx.store, fmt, file_type)
        info(f"{report.rows} {fmt} rows")
        return str(path)

    @shows_errors
    def save_overlap(value: float, request: gr.Request) -> None:
        ctx.require_user(request, "admin")
        set_overlap(ctx.store, int(value))
        gr.Info(f"Each pair now goes to {int(value)} annotator(s).")

    @shows_errors
    def save_guidelines(text: str, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        saved = set_guidelines(ctx.store, text)
        gr.Info("Guidelines saved." if saved else "Guidelines removed.")
        return saved

    def overview_for_admins(request: gr.Request) -> list:
        if not ctx.is_admin(request):
            return [gr.skip()] * len(overview_outputs)
        return overview(request)

    overview_outputs = [counts, gold, over_time, overlap, guidelines]
    ctx.on_page_load(overview_for_admins, None, overview_outputs)
    refresh.click(overview, None, overview_outputs)
    import_button.click(run_import, [upload, import_format], [import_report, *overview_outputs])
    export_button.click(run_export, [export_format, export_type], export_file)
    overlap_button.click(save_overlap, overlap, None)
    guidelines_button.click(save_guidelines, guidelines, guidelines)
