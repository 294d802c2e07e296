"""The Judge tab (admins): run a judge over pairs as a job, read the report, and choose how
verdicts are used (suggestions to annotators, queue priorities).

The judge runs in a worker process: the tab starts the job, a timer shows its progress (the
server's watcher stores the verdicts), and Cancel ends it; the report refreshes when it ends.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.job_requests import start_job
from app.safe_text import info, literal, markdown_view, plain_figure, render, shows_errors
from app.tabs.job_panel import job_text
from curation.jobs.records import get_job
from curation.jobs.runner import cancel_job
from curation.judging.judgments import get_suggestions, list_judges
from judges.priorities import BEST, best_judge
from judges.registry import JUDGE_KINDS
from judges.report import REPORT_COLUMNS, judge_report, reliability_curves, report_table

PAIR_CHOICES = ["unlabeled", "labeled", "all"]


def report_frames(report: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report as a table, and each judge's agreement with human labels for a bar plot."""
    table = pd.DataFrame(report_table(report), columns=["judge", *REPORT_COLUMNS])
    return table, table[["judge", "agreement"]].dropna()


def reliability_figure(curves: dict[str, pd.DataFrame]) -> Any:
    """Each judge's observed share of A preferred against its mean p_a per bin (both orders of
    every pair), beside the diagonal of a calibrated judge."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], ls="--", color="grey", label="calibrated")
    for label, bins in curves.items():
        axes.plot(bins["mean_p"], bins["observed"], marker="o", label=label)
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("judge's p_a (mean per bin)")
    axes.set_ylabel("share where people preferred A")
    axes.set_title("Reliability on labelled pairs")
    axes.legend(loc="upper left", fontsize="small")
    return plain_figure(figure)


def best_text(best: dict | None) -> str:
    """A line naming the judge with the best held-out agreement (Markdown, rendered safe)."""
    if best is None:
        return render(
            "No judge measured on held-out pairs yet: create a snapshot and run "
            "`prefstudio judge learn`."
        )
    return render(
        f"Best judge on the held-out pairs of snapshot {literal(best['snapshot'])}: "
        f"**{literal(best['label'])}** (agreement {best['agreement']:.3f} over {best['n']} "
        "pairs). Its verdicts order the queue, and *best* suggests its verdicts."
    )


def summary_text(result: dict) -> str:
    """A judging job's summary (as RunSummary.to_dict gives it), as safe Markdown."""
    choices = ", ".join(f"{n} {c}" for c, n in sorted(result["choices"].items())) or "none"
    return render(
        f"**{literal(result['judge'])}**: {result['selected']} pairs selected, "
        f"{result['cached']} already judged, {result['judged']} judged now ({choices})."
    )


def create_judge_tab(ctx: AppContext) -> None:
    """Build the Judge tab; every handler checks the admin role on the server."""
    with gr.Row():
        kind = gr.Dropdown(list(JUDGE_KINDS), value="llm", label="Judge", elem_id="judge-kind")
        model = gr.Textbox(
            label="Model (hub id, folder or alias; blank: the default)", elem_id="judge-model"
        )
        pairs = gr.Dropdown(
            PAIR_CHOICES, value="unlabeled", allow_custom_value=True,
            label="Pairs (or snapshot:NAME)", elem_id="judge-pairs",
        )  # fmt: skip
        limit = gr.Number(
            value=50, minimum=0, precision=0, label="At most (0: all)", elem_id="judge-limit"
        )
    base_url = gr.Textbox(
        label="Endpoint base URL (api judge)", placeholder="http://localhost:8000/v1"
    )
    with gr.Row():
        run_button = gr.Button("Run judge", variant="primary", elem_id="judge-run")
        cancel_button = gr.Button("Cancel", elem_id="judge-cancel")
    summary = markdown_view(elem_id="judge-summary")
    followed = gr.State(None)  # id of the judging job shown
    timer = gr.Timer(1.0)
    gr.Markdown("### Report (ties excluded from agreement; rule baselines on the same pairs)")
    table = gr.Dataframe(interactive=False, elem_id="judge-report")
    plot = gr.BarPlot(
        x="judge", y="agreement", label="Agreement with human labels (ties excluded)", y_lim=[0, 1]
    )
    best = markdown_view(elem_id="judge-best")
    reliability = gr.Plot(label="Reliability of p_a", elem_id="judge-reliability")
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Suggestions to annotators (off by default, to avoid anchoring)")
            show = gr.Checkbox(
                label="Show a judge's verdict as a suggestion", elem_id="judge-suggest"
            )
            suggest_from = gr.Dropdown([], label="Judge to show", elem_id="judge-suggest-from")
            save_suggest = gr.Button("Save", elem_id="judge-suggest-save")
        with gr.Column():
            gr.Markdown("### Labelling queue")
            prioritize = gr.Button(
                "Put unsure and disputed pairs first", elem_id="judge-prioritize"
            )

    def overview(request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        frame, bars = report_frames(judge_report(ctx.store, baselines=False))
        setting = get_suggestions(ctx.store)
        judges = [(f"{label} ({key[:8]})", key) for label, key in list_judges(ctx.store)]
        leader = best_judge(ctx.store)
        if leader is not None:
            judges.insert(0, (f"best on held-out pairs: {leader['label']}", BEST))
        return [
            frame,
            bars,
            setting["enabled"],
            gr.Dropdown(choices=judges, value=setting["judge_key"]),
            best_text(leader),
            reliability_figure(reliability_curves(ctx.store)),
        ]

    @shows_errors
    def run(
        kind_: str, model_: str, pairs_: str, limit_: float, base_url_: str, request: gr.Request
    ) -> tuple[str, int]:
        ctx.require_user(request, "admin")
        options = {"base_url": base_url_.strip() or None} if kind_ == "api" else {}
        params = {"judge": kind_, "model": model_.strip() or None, "pairs": pairs_}
        job = start_job(
            ctx.store, "judge", {**params, "limit": int(limit_) or None, "options": options}
        )
        return job_text(job), job.id

    def follow(job_id: int | None, request: gr.Request) -> list:
        if job_id is None or not ctx.is_admin(request):
            return [gr.skip()] * (2 + len(overview_outputs))
        job = get_job(ctx.store, job_id)
        if job.active:
            return [job_text(job), gr.skip(), *[gr.skip()] * len(overview_outputs)]
        return [job_text(job) + "\n\n" + summary_text(job.result), None, *overview(request)]

    @shows_errors
    def cancel(job_id: int | None, request: gr.Request) -> None:
        ctx.require_user(request, "admin")
        if job_id is None or not get_job(ctx.store, job_id).active:
            info("No judge is running.")
            return
        cancel_job(ctx.store, job_id)
        info("Judging cancelled; the verdicts saved are kept.")

    @shows_errors
    def save_suggestions(enabled: bool, key: str | None, request: gr.Request) -> None:
        ctx.require_user(request, "admin")
        from judges.priorities import suggest

        suggest(ctx.store, enabled, key)
        info("Annotators now see suggestions." if enabled else "Suggestions are off.")

    def prioritize_pairs(request: gr.Request) -> None:
        ctx.require_user(request, "admin")
        from judges.priorities import prioritize

        count, used = prioritize(ctx.store)
        source = f" by the verdicts of {used['label']}" if used else ""
        info(f"{count} unlabelled pairs moved up the queue{source}.")

    def overview_for_admins(request: gr.Request) -> list:
        if not ctx.is_admin(request):
            return [gr.skip()] * len(overview_outputs)
        return overview(request)

    overview_outputs = [table, plot, show, suggest_from, best, reliability]
    ctx.on_page_load(overview_for_admins, None, overview_outputs)
    run_button.click(run, [kind, model, pairs, limit, base_url], [summary, followed])
    cancel_button.click(cancel, followed, None)
    timer.tick(follow, followed, [summary, followed, *overview_outputs], show_progress="hidden")
    save_suggest.click(save_suggestions, [show, suggest_from], None)
    prioritize.click(prioritize_pairs, None, None)
