"""The Judge tab (admins): run a judge over pairs or learn one from the labels, as a job; read
the report; and choose how verdicts are used (suggestions to annotators, queue priorities).

Judging and learning run in a worker process: the tab starts the job, a timer shows its
progress (the server's watcher stores the verdicts), and Cancel ends it (a reward judge's
training run with it); the report refreshes when it ends.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.job_requests import start_job
from app.safe_text import info, literal, markdown_view, plain_figure, render, text_lines
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
from app.tabs.job_panel import (
    cancel_followed,
    follow_job,
    job_controls,
    job_report_text,
    job_text,
)
from curation.jobs.records import JobRecord
from curation.judging.judgments import SuggestionSetting, get_suggestions, list_judges
from judges.learn import LEARN_METHODS, LearnedJudge, learned_report
from judges.priorities import BEST, best_judge, prioritize, suggest
from judges.registry import JUDGE_KINDS
from judges.report import REPORT_COLUMNS, JudgeReport, judge_report, reliability_curves
from judges.runs import RunSummary

PAIR_CHOICES = ["unlabeled", "labeled", "all"]
REPORT = ("table", "plot", "suggest_from", "best", "reliability")
OVERVIEW = (*REPORT, "show")


def report_frames(report: JudgeReport) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The report as a table, and each judge's agreement with human labels for a bar plot."""
    table = pd.DataFrame(report.rows(), columns=["judge", *REPORT_COLUMNS])
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


def report_view(ctx: AppContext, setting: dict | None = None) -> Outputs:
    """The report, the best judge and the judges to suggest from, by component name. The
    judge chosen to suggest from is the `setting`'s; without one, it stays as the user left it."""
    frame, bars = report_frames(judge_report(ctx.store, baselines=False))
    judges = [(f"{label} ({key[:8]})", key) for label, key in list_judges(ctx.store)]
    leader = best_judge(ctx.store)
    if leader is not None:
        judges.insert(0, (f"best on held-out pairs: {leader['label']}", BEST))
    return {
        "table": frame,
        "plot": bars,
        "suggest_from": gr.Dropdown(
            choices=judges, **({} if setting is None else {"value": setting["judge_key"]})
        ),
        "best": best_text(leader),
        "reliability": reliability_figure(reliability_curves(ctx.store)),
    }


@handler("admin")
def overview(ctx: AppContext, user: str) -> Outputs:
    """A page opens: the report, the best judge, and the suggestion setting as saved."""
    setting = get_suggestions(ctx.store)
    return {**report_view(ctx, setting), "show": setting["enabled"]}


@handler("admin")
def run(
    ctx: AppContext, user: str, kind: str, model: str, pairs: str, limit: float | None, url: str
) -> Outputs:
    """Start a judging job over the chosen pairs, and follow it."""
    params = {"judge": kind, "model": model.strip() or None, "pairs": pairs}
    options = {"base_url": url.strip() or None} if kind == "api" else {}
    job = start_job(
        ctx.store, "judge", {**params, "limit": int(limit or 0) or None, "options": options}
    )
    return {"summary": job_text(job), "followed": job.id}


def ended_text(ctx: AppContext, job: JobRecord) -> str:
    """What an ended judging or learning job did, after its status line."""
    shown = job_text(job)
    if job.status == "failed" or not job.result.get("judge_key"):
        return shown
    if job.kind == "learn":
        return shown + "\n\n" + text_lines(LearnedJudge.text(learned_report(ctx.store, job.result)))
    return job_report_text(job, RunSummary.text, ("succeeded", "cancelled"))


@handler("admin", passive=True)
def follow(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """The timer: the followed job's progress; once it has ended, what it did and the report
    anew (and the job is no longer followed)."""
    ended = partial(ended_text, ctx)
    return follow_job(ctx.store, job_id, ("summary", "followed"), ended, lambda: report_view(ctx))


@handler("admin")
def learn(
    ctx: AppContext, user: str, method: str, snapshot: str, model: str, steps: float | None
) -> Outputs:
    """Start a job that learns a judge from a snapshot's labels, and follow it."""
    params = {
        "method": method,
        "snapshot": snapshot.strip() or None,
        "model": model.strip() or None,
        "max_steps": int(steps or 0) or None if method == "reward" else None,
    }
    job = start_job(ctx.store, "learn", params)
    return {"summary": job_text(job), "followed": job.id}


@handler("admin")
def cancel(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """Cancel the followed judging job; the verdicts it saved are kept."""
    job = cancel_followed(
        ctx.store, job_id, "No judge is running.", "Judging cancelled; the verdicts saved are kept."
    )
    return {"summary": job_text(job)} if job else {}


@handler("admin")
def save_suggestions(ctx: AppContext, user: str, enabled: bool, key: str | None) -> Outputs:
    """Show annotators a judge's verdicts as suggestions, or stop showing them."""
    info(SuggestionSetting(**suggest(ctx.store, enabled, key)).text())
    return {}


@handler("admin")
def prioritize_pairs(ctx: AppContext, user: str) -> Outputs:
    """Move unsure and disputed unlabelled pairs up the labelling queue."""
    info(prioritize(ctx.store).text())
    return {}


def create_judge_tab(ctx: AppContext) -> None:
    """Build the Judge tab; every handler checks the admin role on the server."""
    c = {**_run_section(), **_learn_section(), **_report_section(), **_usage_section()}
    form = [c["kind"], c["model"], c["pairs"], c["limit"], c["base_url"]]
    wire(ctx, c["run"].click, run, form, named(c, "summary", "followed"))
    learning = [c["learn_method"], c["learn_snapshot"], c["learn_model"], c["learn_steps"]]
    wire(ctx, c["learn"].click, learn, learning, named(c, "summary", "followed"))
    wire(ctx, c["cancel"].click, cancel, [c["followed"]], named(c, "summary"))
    ticked = named(c, "summary", "followed", *REPORT)
    wire(ctx, partial(c["timer"].tick, show_progress="hidden"), follow, [c["followed"]], ticked)
    wire(ctx, c["save_suggest"].click, save_suggestions, [c["show"], c["suggest_from"]], {})
    wire(ctx, c["prioritize"].click, prioritize_pairs, None, {})
    on_page_load(ctx, overview, None, named(c, *OVERVIEW))


def _run_section() -> dict[str, Any]:
    """The judge, its model, the pairs and how many; run, cancel and the followed job."""
    c: dict[str, Any] = {}
    with gr.Row():
        c["kind"] = gr.Dropdown(list(JUDGE_KINDS), value="llm", label="Judge", elem_id="judge-kind")
        c["model"] = gr.Textbox(
            label="Model (hub id, folder or alias; blank: the default)", elem_id="judge-model"
        )
        c["pairs"] = gr.Dropdown(
            PAIR_CHOICES, value="unlabeled", allow_custom_value=True,
            label="Pairs (or snapshot:NAME)", elem_id="judge-pairs",
        )  # fmt: skip
        c["limit"] = gr.Number(
            value=50, minimum=0, precision=0, label="At most (0: all)", elem_id="judge-limit"
        )
    c["base_url"] = gr.Textbox(
        label="Endpoint base URL (api judge)", placeholder="http://localhost:8000/v1"
    )
    return c | job_controls("run", "Run judge", "summary", "judge")


def _learn_section() -> dict[str, Any]:
    """Learning a judge from a snapshot's labels: method, snapshot, base model, steps."""
    c: dict[str, Any] = {}
    gr.Markdown("### Learn a judge from your annotators' labels (measured on held-out pairs)")
    with gr.Row():
        c["learn_method"] = gr.Radio(
            list(LEARN_METHODS), value="light", label="Method (light: seconds on a CPU; "
            "reward: trains a reward model as a run)", elem_id="learn-method",
        )  # fmt: skip
        c["learn_snapshot"] = gr.Textbox(
            label="Snapshot (blank: the labels given so far)", elem_id="learn-snapshot"
        )
        c["learn_model"] = gr.Textbox(
            label="Base model (blank: smollm2-135m)", elem_id="learn-model"
        )
        c["learn_steps"] = gr.Number(
            value=0, minimum=0, precision=0, label="Training steps (reward; 0: the preset's)"
        )
    c["learn"] = gr.Button("Learn a judge", elem_id="learn-run")
    return c


def _report_section() -> dict[str, Any]:
    """The report table, agreement bars, the best judge and the reliability plot."""
    gr.Markdown("### Report (ties excluded from agreement; rule baselines on the same pairs)")
    return {
        "table": gr.Dataframe(interactive=False, elem_id="judge-report"),
        "plot": gr.BarPlot(
            x="judge",
            y="agreement",
            label="Agreement with human labels (ties excluded)",
            y_lim=[0, 1],
        ),
        "best": markdown_view(elem_id="judge-best"),
        "reliability": gr.Plot(label="Reliability of p_a", elem_id="judge-reliability"),
    }


def _usage_section() -> dict[str, Any]:
    """How verdicts are used: suggestions to annotators, and the order of the queue."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("### Suggestions to annotators (off by default, to avoid anchoring)")
            c["show"] = gr.Checkbox(
                label="Show a judge's verdict as a suggestion", elem_id="judge-suggest"
            )
            c["suggest_from"] = gr.Dropdown([], label="Judge to show", elem_id="judge-suggest-from")
            c["save_suggest"] = gr.Button("Save", elem_id="judge-suggest-save")
        with gr.Column():
            gr.Markdown("### Labelling queue")
            c["prioritize"] = gr.Button(
                "Put unsure and disputed pairs first", elem_id="judge-prioritize"
            )
    return c
