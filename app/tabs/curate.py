"""The Curate tab (admin): flags and duplicates, flagged pairs side by side, bulk dismiss or
exclude, length and agreement plots, and snapshot creation with a preview of its counts."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.safe_text import literal, markdown_view, plain_figure, render, shows_errors
from curation.agreement import AgreementReport, annotator_agreement
from curation.curate import curate
from curation.flags import FLAG_KINDS, dismiss_flags, exclude_pairs, flag_counts, flagged_pairs
from curation.length_stats import chosen_vs_rejected, response_lengths
from curation.minhash import DEFAULT_THRESHOLD
from curation.snapshot_policy import SnapshotPolicy
from curation.snapshots import create_snapshot, list_snapshots, preview_snapshot

FLAGGED_COLUMNS = ["flag", "kind", "detail", "pair", "prompt"]
ALL_KINDS = "all"


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


def create_curate_tab(ctx: AppContext) -> None:
    """Build the Curate tab (admin only)."""
    with gr.Row():
        threshold = gr.Slider(
            0.5, 1.0, value=DEFAULT_THRESHOLD, step=0.05, label="Near-duplicate threshold"
        )
        run = gr.Button("Run curation", variant="primary", elem_id="curate-run")
        refresh = gr.Button("Refresh", elem_id="curate-refresh")
    summary = gr.Markdown(elem_id="curate-summary")
    counts_plot = gr.BarPlot(x="kind", y="pairs", label="Pairs per flag", x_label_angle=-30)

    with gr.Row():
        kind = gr.Dropdown(
            [ALL_KINDS, *FLAG_KINDS], value=ALL_KINDS, label="Flag kind", elem_id="curate-kind"
        )
        limit = gr.Number(100, precision=0, minimum=1, maximum=1000, label="Show at most")
        browse = gr.Button("Show flagged pairs", elem_id="curate-browse")
    flagged_state = gr.State([])
    flagged = gr.Dataframe(
        headers=FLAGGED_COLUMNS,
        interactive=False,
        wrap=True,
        label="Flagged pairs (click a row)",
        elem_id="curate-flagged",
    )
    prompt = gr.Textbox(label="Prompt", lines=3, interactive=False, elem_id="curate-prompt")
    with gr.Row():
        response_a = gr.Textbox(label="Response A", lines=8, interactive=False, elem_id="curate-a")
        response_b = gr.Textbox(label="Response B", lines=8, interactive=False, elem_id="curate-b")
    selected = gr.CheckboxGroup(label="Flags to act on", elem_id="curate-selected")
    with gr.Row():
        reason = gr.Textbox(label="Reason for exclusion", scale=2)
        dismiss = gr.Button("Dismiss selected flags", elem_id="curate-dismiss")
        exclude = gr.Button("Exclude their pairs from snapshots", elem_id="curate-exclude")
    action = gr.Markdown(elem_id="curate-action")

    with gr.Row():
        lengths_plot = gr.Plot(label="Response lengths by role")
        scatter = gr.ScatterPlot(
            x="rejected", y="chosen", label="Chosen vs rejected length (characters)"
        )
    with gr.Row():
        agreement_plot = gr.Plot(label="Annotator agreement (Cohen's kappa)")
        agreement_text = markdown_view(elem_id="curate-agreement")

    gr.Markdown("### Snapshot")
    with gr.Row():
        name = gr.Textbox(label="Name", elem_id="snapshot-name")
        agreement = gr.Dropdown(["majority", "unanimous"], value="majority", label="Vote")
        min_votes = gr.Number(1, precision=0, minimum=1, label="Minimum votes")
        test_fraction = gr.Slider(0.0, 0.5, value=0.1, step=0.05, label="Test share")
    with gr.Row():
        ties = gr.Dropdown(["drop", "kto_good"], value="drop", label="Ties become")
        both_bad = gr.Dropdown(["drop", "kto_bad"], value="drop", label="Both bad become")
        judge_key = gr.Textbox(label="Judge key filling unlabelled pairs (optional)")
        judge_confidence = gr.Slider(0.5, 1.0, value=0.8, step=0.05, label="Judge confidence")
    exclude_flags = gr.CheckboxGroup(
        list(FLAG_KINDS), value=list(SnapshotPolicy().exclude_flags), label="Flags that exclude"
    )
    with gr.Row():
        preview = gr.Button("Preview counts", elem_id="snapshot-preview")
        create = gr.Button("Create snapshot", variant="primary", elem_id="snapshot-create")
    snapshot_out = markdown_view(elem_id="snapshot-out")
    snapshots = gr.Dataframe(interactive=False, label="Snapshots", elem_id="snapshot-list")
    policy_fields = {
        "agreement": agreement,
        "min_votes": min_votes,
        "ties": ties,
        "both_bad": both_bad,
        "exclude_flags": exclude_flags,
        "test_fraction": test_fraction,
        "judge_key": judge_key,
        "judge_min_confidence": judge_confidence,
    }

    def form_policy(values: dict) -> SnapshotPolicy:
        return policy_from({setting: values[c] for setting, c in policy_fields.items()})

    overview_outputs = [
        summary,
        counts_plot,
        lengths_plot,
        scatter,
        agreement_plot,
        agreement_text,
        snapshots,
    ]

    def overview(request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        counts = flag_counts(ctx.store.con)
        report = annotator_agreement(ctx.store)
        flagged_pairs_total = sum(counts.values())
        text = (
            f"{flagged_pairs_total} flags on pairs not dismissed. Run curation after importing "
            "or labelling to refresh duplicates and flags."
        )
        return [
            text,
            flag_count_table(counts),
            lengths_figure(response_lengths(ctx.store)),
            chosen_vs_rejected(ctx.store),
            agreement_figure(report),
            render(agreement_summary(report)),
            _snapshots_table(ctx),
        ]

    @shows_errors
    def run_curation(
        value: float,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ) -> list:
        ctx.require_user(request, "admin")
        report = curate(
            ctx.store,
            near_dup_threshold=float(value),
            progress=lambda steps: progress.tqdm(steps, desc="curating"),
        )
        found = report.to_dict()["clusters"]
        clusters = "; ".join(
            f"{subject}: {c['exact']['clusters']} exact, {c['near']['clusters']} near"
            for subject, c in found.items()
        )
        values = overview(request)
        values[0] = f"Curated. Duplicate clusters: {clusters}. " + values[0]
        return values

    def show_flagged(flag_kind: str, how_many: float, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        rows = flagged_pairs(
            ctx.store, None if flag_kind == ALL_KINDS else flag_kind, int(how_many or 100)
        )
        choices = [flag_choice(f) for f in rows]
        return [rows, flagged_table(rows), gr.CheckboxGroup(choices=choices, value=[])]

    def show_pair(rows: list[dict], event: gr.SelectData, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        row = rows[event.index[0]]
        return [row["prompt"], row["response_a"], row["response_b"]]

    def selected_pairs(flag_ids: list[int], rows: list[dict]) -> list[str]:
        if not flag_ids:
            raise gr.Error("Select flags first.")
        return sorted({r["pair_id"] for r in rows if r["flag_id"] in set(flag_ids)})

    @shows_errors
    def dismiss_selected(flag_ids: list[int], rows: list[dict], request: gr.Request) -> str:
        user = ctx.require_user(request, "admin")
        selected_pairs(flag_ids, rows)
        return f"Dismissed {dismiss_flags(ctx.store, flag_ids, by=user)} flags."

    @shows_errors
    def exclude_selected(
        flag_ids: list[int], rows: list[dict], why: str, request: gr.Request
    ) -> str:
        user = ctx.require_user(request, "admin")
        pair_ids = selected_pairs(flag_ids, rows)
        done = exclude_pairs(ctx.store, pair_ids, by=user, reason=why.strip())
        return f"Excluded {done} pairs from snapshots."

    @shows_errors
    def preview_counts(values: dict, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        return counts_markdown(preview_snapshot(ctx.store, form_policy(values)))

    @shows_errors
    def make_snapshot(values: dict, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        info = create_snapshot(ctx.store, values[name].strip(), form_policy(values))
        text = f"Created **{literal(info.name)}** (sha256 `{info.sha256[:16]}`)\n\n"
        return [render(text + counts_markdown(info.counts)), _snapshots_table(ctx)]

    refresh.click(overview, outputs=overview_outputs)
    run.click(run_curation, inputs=[threshold], outputs=overview_outputs)
    browse.click(show_flagged, inputs=[kind, limit], outputs=[flagged_state, flagged, selected])
    flagged.select(show_pair, inputs=[flagged_state], outputs=[prompt, response_a, response_b])
    dismiss.click(dismiss_selected, inputs=[selected, flagged_state], outputs=action)
    exclude.click(exclude_selected, inputs=[selected, flagged_state, reason], outputs=action)
    form = set(policy_fields.values())
    preview.click(preview_counts, inputs=form, outputs=snapshot_out)
    create.click(make_snapshot, inputs=form | {name}, outputs=[snapshot_out, snapshots])
