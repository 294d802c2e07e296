"""The Curate tab (admin): flags and duplicates, flagged pairs side by side, bulk dismiss or
exclude, length and agreement plots, and snapshot creation with a preview of its counts.

Curation runs as a job in a worker process: the tab starts it, a timer shows its progress,
and Cancel stops it."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.job_requests import start_job
from app.safe_text import error, literal, markdown_view, plain_figure, render
from app.tabs.handlers import Outputs, handler, named, wire
from app.tabs.job_panel import (
    cancel_followed,
    follow_job,
    job_controls,
    job_report_text,
    job_text,
)
from curation.jobs.records import JobRecord
from curation.quality.agreement import AgreementReport, annotator_agreement
from curation.quality.curate import CurateReport
from curation.quality.flags import (
    FLAG_KINDS,
    dismiss_flags,
    exclude_pairs,
    flag_counts,
    flagged_pairs,
)
from curation.quality.length_stats import chosen_vs_rejected, response_lengths
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.snapshots.freeze import create_snapshot, list_snapshots, preview_snapshot
from curation.snapshots.snapshot_policy import SnapshotPolicy

FLAGGED_COLUMNS = ["flag", "kind", "detail", "pair", "prompt"]
ALL_KINDS = "all"
# What the overview shows, and the snapshot form's settings (SnapshotPolicy's fields).
OVERVIEW = [
    "summary",
    "counts_plot",
    "lengths_plot",
    "scatter",
    "agreement_plot",
    "agreement_text",
    "snapshots",
]
POLICY_FIELDS = [
    "agreement",
    "min_votes",
    "ties",
    "both_bad",
    "exclude_flags",
    "test_fraction",
    "judge_key",
    "judge_min_confidence",
]


def flag_count_table(counts: dict[str, int]) -> pd.DataFrame:
    """Pairs per flag kind, every kind listed (zero where none)."""
    return pd.DataFrame({"kind": list(FLAG_KINDS), "pairs": [counts.get(k, 0) for k in FLAG_KINDS]})


def flagged_table(flagged: list[dict]) -> pd.DataFrame:
    """The flagged pairs as table rows (prompts cut to 120 characters)."""
    rows = [
        [f["flag_id"], f["kind"], f["detail"], f["pair_id"], f["prompt"][:120]] for f in flagged
    ]
    return pd.DataFrame(rows, columns=FLAGGED_COLUMNS)


def flag_choice(flag: dict) -> tuple[str, int]:
    """A checkbox label and value for one flag."""
    return f"#{flag['flag_id']} {flag['kind']}: {flag['detail'][:80]}", flag["flag_id"]


def lengths_figure(lengths: pd.DataFrame) -> Any:
    """Histograms of response length by role (chosen, rejected, unlabelled)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 3.5), layout="constrained")
    axes = figure.subplots()
    for role, group in lengths.groupby("role"):
        axes.hist(group.characters, bins=30, alpha=0.5, label=f"{role} ({len(group)})")
    axes.set_xlabel("characters")
    axes.set_ylabel("responses")
    if len(lengths):
        axes.legend(fontsize="small")
    return plain_figure(figure)


def agreement_figure(report: AgreementReport) -> Any:
    """Cohen's kappa between every two annotators as a heat map."""
    from matplotlib.figure import Figure

    matrix = report.kappa_matrix()
    size = 0.6 * len(matrix) + 2.5
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(matrix.to_numpy(dtype=float), vmin=-1, vmax=1, cmap="RdBu")
    for i, row in enumerate(matrix.index):
        for j, column in enumerate(matrix.columns):
            value = matrix.loc[row, column]
            axes.text(j, i, "n/a" if pd.isna(value) else f"{value:.2f}", ha="center", va="center")
    axes.set_xticks(range(len(matrix)), matrix.columns, rotation=45, ha="right")
    axes.set_yticks(range(len(matrix)), matrix.index)
    figure.colorbar(image, ax=axes, label="Cohen's kappa")
    return plain_figure(figure)


def agreement_summary(report: AgreementReport) -> str:
    """Fleiss' kappa, length bias and each annotator's figures as Markdown text."""
    if not report.votes:
        return "No votes yet."

    def figure(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.2f}"

    lines = [
        f"Fleiss' kappa **{figure(report.fleiss_kappa)}** over {report.pairs_with_two_votes} "
        f"pairs with two or more votes. The chosen response is the longer one in "
        f"{figure(report.chosen_longer_share)} of {report.decided_pairs} decided pairs.",
        "",
        "| annotator | votes | agrees with majority | picks left | p (position) | picks longer |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, f in report.per_annotator.items():
        lines.append(
            f"| {literal(name)} | {f.votes} | {figure(f.majority_agreement)} ({f.majority_pairs}) | "
            f"{figure(f.left_share)} ({f.left_votes}) | {figure(f.position_p_value)} | "
            f"{figure(f.longer_share)} |"
        )
    return "\n".join(lines)


def counts_markdown(counts: dict) -> str:
    """Snapshot counts per split and format, and how pairs fared, as Markdown."""
    lines = ["| split | dpo | kto | sft |", "| --- | --- | --- | --- |"]
    for split in ("train", "test"):
        c = counts[split]
        lines.append(f"| {split} | {c['dpo']} | {c['kto']} | {c['sft']} |")
    pairs = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts["pairs"].items())
    return "\n".join([*lines, "", f"Pairs: {pairs}."])


def policy_from(fields: dict[str, Any]) -> SnapshotPolicy:
    """A policy from the form's values by setting name (raises PolicyError for bad values)."""
    return SnapshotPolicy(
        agreement=fields["agreement"],
        min_votes=int(fields["min_votes"] or 0),
        ties=fields["ties"],
        both_bad=fields["both_bad"],
        exclude_flags=tuple(fields["exclude_flags"] or ()),
        test_fraction=float(fields["test_fraction"]),
        judge_key=(fields["judge_key"] or "").strip() or None,
        judge_min_confidence=float(fields["judge_min_confidence"]),
    )


def _snapshots_table(ctx: AppContext) -> pd.DataFrame:
    """Existing snapshots, newest first."""
    rows = [
        [s.name, s.created, s.sha256[:16], s.counts["train"]["dpo"], s.counts["test"]["dpo"]]
        for s in list_snapshots(ctx.store)
    ]
    return pd.DataFrame(rows, columns=["name", "created", "sha256", "dpo train", "dpo test"])


def _selected_pairs(flag_ids: list[int], rows: list[dict]) -> list[str]:
    """The pairs of the selected flags among the rows shown."""
    if not flag_ids:
        raise error("Select flags first.")
    return sorted({r["pair_id"] for r in rows if r["flag_id"] in set(flag_ids)})


@handler("admin")
def overview(ctx: AppContext, user: str) -> Outputs:
    """Flag counts, length and agreement plots, and the snapshots, as they stand."""
    counts = flag_counts(ctx.store.con)
    report = annotator_agreement(ctx.store)
    return {
        "summary": f"{sum(counts.values())} flags on pairs not dismissed. Run curation after "
        "importing or labelling to refresh duplicates and flags.",
        "counts_plot": flag_count_table(counts),
        "lengths_plot": lengths_figure(response_lengths(ctx.store)),
        "scatter": chosen_vs_rejected(ctx.store),
        "agreement_plot": agreement_figure(report),
        "agreement_text": render(agreement_summary(report)),
        "snapshots": _snapshots_table(ctx),
    }


@handler("admin")
def run_curation(ctx: AppContext, user: str, threshold: float) -> Outputs:
    """Start a curation job (duplicates and flags afresh), and follow it."""
    job = start_job(ctx.store, "curate", {"near_dup_threshold": float(threshold)})
    return {"job_status": job_text(job), "followed": job.id}


@handler("admin", passive=True)
def follow_curation(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """The timer: the followed curation's progress; once it has ended, the clusters it found
    and the figures anew (and the job is no longer followed)."""
    names = ("job_status", "followed")
    return follow_job(ctx.store, job_id, names, curated_text, lambda: overview.fn(ctx, user))


def curated_text(job: JobRecord) -> str:
    """An ended curation: its status, then the clusters and flags it found once it succeeded."""
    return job_report_text(job, CurateReport.text)


@handler("admin")
def cancel_curation(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """Cancel the followed curation (its worker unfinished, the flags stay as they were)."""
    job = cancel_followed(ctx.store, job_id, "No curation is running.", "Curation cancelled.")
    return {"job_status": job_text(job)} if job else {}


@handler("admin")
def show_flagged(ctx: AppContext, user: str, kind: str, limit: float | None) -> Outputs:
    """The flagged pairs of a kind (or all), and their flags to choose from."""
    rows = flagged_pairs(ctx.store, None if kind == ALL_KINDS else kind, int(limit or 100))
    choices = [flag_choice(f) for f in rows]
    return {
        "flagged_state": rows,
        "flagged": flagged_table(rows),
        "selected": gr.CheckboxGroup(choices=choices, value=[]),
    }


@handler("admin")
def show_pair(ctx: AppContext, user: str, rows: list[dict], event: gr.SelectData) -> Outputs:
    """The prompt and both responses of the clicked row."""
    row = rows[event.index[0]]
    return {
        "prompt": row["prompt"],
        "response_a": row["response_a"],
        "response_b": row["response_b"],
    }


@handler("admin")
def dismiss_selected(ctx: AppContext, user: str, flag_ids: list[int], rows: list[dict]) -> Outputs:
    """Dismiss the selected flags."""
    _selected_pairs(flag_ids, rows)
    return {"action": f"Dismissed {dismiss_flags(ctx.store, flag_ids, by=user)} flags."}


@handler("admin")
def exclude_selected(
    ctx: AppContext, user: str, flag_ids: list[int], rows: list[dict], reason: str
) -> Outputs:
    """Exclude the pairs of the selected flags from snapshots, with the reason given."""
    pair_ids = _selected_pairs(flag_ids, rows)
    done = exclude_pairs(ctx.store, pair_ids, by=user, reason=reason.strip())
    return {"action": f"Excluded {done} pairs from snapshots."}


@handler("admin")
def preview_counts(ctx: AppContext, user: str, form: dict) -> Outputs:
    """What a snapshot with the form's policy would hold."""
    return {"snapshot_out": counts_markdown(preview_snapshot(ctx.store, policy_from(form)))}


@handler("admin")
def make_snapshot(ctx: AppContext, user: str, form: dict) -> Outputs:
    """Freeze a snapshot under the form's name and policy; the snapshots listed anew."""
    snapshot = create_snapshot(ctx.store, form["name"].strip(), policy_from(form))
    text = f"Created **{literal(snapshot.name)}** (sha256 `{snapshot.sha256[:16]}`)\n\n"
    return {
        "snapshot_out": render(text + counts_markdown(snapshot.counts)),
        "snapshots": _snapshots_table(ctx),
    }


def _flags_section() -> dict[str, Any]:
    """Curation controls, the flagged pairs, one pair's texts, and dismiss or exclude."""
    c: dict[str, Any] = {}
    with gr.Row():
        c["threshold"] = gr.Slider(
            0.5, 1.0, value=DEFAULT_THRESHOLD, step=0.05, label="Near-duplicate threshold"
        )
        c["refresh"] = gr.Button("Refresh", elem_id="curate-refresh")
    c.update(job_controls("run", "Run curation", "job_status", "curate"))
    c["summary"] = gr.Markdown(elem_id="curate-summary")
    c["counts_plot"] = gr.BarPlot(x="kind", y="pairs", label="Pairs per flag", x_label_angle=-30)
    with gr.Row():
        c["kind"] = gr.Dropdown(
            [ALL_KINDS, *FLAG_KINDS], value=ALL_KINDS, label="Flag kind", elem_id="curate-kind"
        )
        c["limit"] = gr.Number(100, precision=0, minimum=1, maximum=1000, label="Show at most")
        c["browse"] = gr.Button("Show flagged pairs", elem_id="curate-browse")
    c["flagged_state"] = gr.State([])
    c["flagged"] = gr.Dataframe(
        headers=FLAGGED_COLUMNS,
        interactive=False,
        wrap=True,
        label="Flagged pairs (click a row)",
        elem_id="curate-flagged",
    )
    c["prompt"] = gr.Textbox(label="Prompt", lines=3, interactive=False, elem_id="curate-prompt")
    with gr.Row():
        for name, side in (("response_a", "a"), ("response_b", "b")):
            c[name] = gr.Textbox(
                label=f"Response {side.upper()}",
                lines=8,
                interactive=False,
                elem_id=f"curate-{side}",
            )
    c["selected"] = gr.CheckboxGroup(label="Flags to act on", elem_id="curate-selected")
    with gr.Row():
        c["reason"] = gr.Textbox(label="Reason for exclusion", scale=2)
        c["dismiss"] = gr.Button("Dismiss selected flags", elem_id="curate-dismiss")
        c["exclude"] = gr.Button("Exclude their pairs from snapshots", elem_id="curate-exclude")
    c["action"] = gr.Markdown(elem_id="curate-action")
    return c


def _plots_section() -> dict[str, Any]:
    """Length and agreement plots."""
    c: dict[str, Any] = {}
    with gr.Row():
        c["lengths_plot"] = gr.Plot(label="Response lengths by role")
        c["scatter"] = gr.ScatterPlot(
            x="rejected", y="chosen", label="Chosen vs rejected length (characters)"
        )
    with gr.Row():
        c["agreement_plot"] = gr.Plot(label="Annotator agreement (Cohen's kappa)")
        c["agreement_text"] = markdown_view(elem_id="curate-agreement")
    return c


def _snapshot_section() -> dict[str, Any]:
    """The snapshot form (name and policy settings), its buttons, and the snapshots."""
    gr.Markdown("### Snapshot")
    c: dict[str, Any] = {}
    with gr.Row():
        c["name"] = gr.Textbox(label="Name", elem_id="snapshot-name")
        c["agreement"] = gr.Dropdown(["majority", "unanimous"], value="majority", label="Vote")
        c["min_votes"] = gr.Number(1, precision=0, minimum=1, label="Minimum votes")
        c["test_fraction"] = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Test share")
    with gr.Row():
        c["ties"] = gr.Dropdown(["drop", "kto_good"], value="drop", label="Ties become")
        c["both_bad"] = gr.Dropdown(["drop", "kto_bad"], value="drop", label="Both bad become")
        c["judge_key"] = gr.Textbox(label="Judge key filling unlabelled pairs (optional)")
        c["judge_min_confidence"] = gr.Slider(
            0.5, 1.0, value=0.8, step=0.05, label="Judge confidence"
        )
    c["exclude_flags"] = gr.CheckboxGroup(
        list(FLAG_KINDS), value=list(SnapshotPolicy().exclude_flags), label="Flags that exclude"
    )
    with gr.Row():
        c["preview"] = gr.Button("Preview counts", elem_id="snapshot-preview")
        c["create"] = gr.Button("Create snapshot", variant="primary", elem_id="snapshot-create")
    c["snapshot_out"] = markdown_view(elem_id="snapshot-out")
    c["snapshots"] = gr.Dataframe(interactive=False, label="Snapshots", elem_id="snapshot-list")
    return c


def create_curate_tab(ctx: AppContext) -> None:
    """Build the Curate tab (admin only)."""
    c = {**_flags_section(), **_plots_section(), **_snapshot_section()}
    figures = named(c, *OVERVIEW)
    wire(ctx, c["refresh"].click, overview, None, figures)
    wire(ctx, c["run"].click, run_curation, [c["threshold"]], named(c, "job_status", "followed"))
    wire(ctx, c["cancel"].click, cancel_curation, [c["followed"]], named(c, "job_status"))
    ticked = named(c, "job_status", "followed", *OVERVIEW)
    timer = partial(c["timer"].tick, show_progress="hidden")
    wire(ctx, timer, follow_curation, [c["followed"]], ticked)
    browsed = named(c, "flagged_state", "flagged", "selected")
    wire(ctx, c["browse"].click, show_flagged, [c["kind"], c["limit"]], browsed)
    texts = named(c, "prompt", "response_a", "response_b")
    wire(ctx, c["flagged"].select, show_pair, [c["flagged_state"]], texts)
    chosen = [c["selected"], c["flagged_state"]]
    wire(ctx, c["dismiss"].click, dismiss_selected, chosen, named(c, "action"))
    wire(ctx, c["exclude"].click, exclude_selected, [*chosen, c["reason"]], named(c, "action"))
    policy = named(c, *POLICY_FIELDS)
    wire(ctx, c["preview"].click, preview_counts, policy, named(c, "snapshot_out"))
    made = named(c, "snapshot_out", "snapshots")
    wire(ctx, c["create"].click, make_snapshot, {**policy, "name": c["name"]}, made)
