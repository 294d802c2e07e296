"""Judge runs: pick pairs from the store, skip those already judged, save verdicts in chunks.

Every chunk is saved in its own transaction, so an interrupted run keeps what it finished
and a rerun judges only the rest; a rerun of a finished run judges nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from curation import Store
from curation.judging.judgments import pairs_to_judge, register_judge, save_judgments
from curation.results import Fields
from judges.base import Judge, JudgeError, PairItem, Verdict

Progress = Callable[[int, int], None]  # (pairs judged so far, pairs to judge)


@dataclass
class RunSummary(Fields):
    """What a judge run did: pairs selected, found cached, judged now, and their choices."""

    judge: str
    judge_key: str
    selected: int
    cached: int
    judged: int
    choices: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def text(summary: dict) -> str:
        """A summary (as to_dict gives it) as one line of text."""
        choices = ", ".join(f"{n} {c}" for c, n in sorted(summary["choices"].items())) or "none"
        return (
            f"{summary['judge']} (key {summary['judge_key']}): {summary['selected']} pairs "
            f"selected, {summary['cached']} already judged, {summary['judged']} judged now "
            f"({choices})"
        )


def run_judge(
    store: Store,
    judge: Judge,
    *,
    pairs: str = "unlabeled",
    limit: int | None = None,
    pair_ids: list[str] | None = None,
    chunk_size: int = 32,
    progress: Progress | None = None,
) -> RunSummary:
    """Judge the selected pairs (`unlabeled`, `all` or `snapshot:NAME`, at most `limit`) that
    have no verdict in force for this judge, saving each chunk of verdicts as it is done.
    `pair_ids` narrows the selection to those pairs.
    """
    if chunk_size < 1:
        raise JudgeError(f"chunk size must be positive, got {chunk_size}")
    key = judge.key()
    register_judge(store, key, judge.describe(), judge.label, judge.order_free)
    selection = pairs_to_judge(store, key, pairs, limit, pair_ids)
    summary = RunSummary(judge.label, key, selection.selected, selection.cached, 0)
    total = len(selection.todo)
    if progress:
        progress(0, total)
    for start in range(0, total, chunk_size):
        items, verdicts = judge_rows(judge, selection.todo[start : start + chunk_size])
        save_judgments(store, key, verdict_rows(items, verdicts))
        summary.judged += len(items)
        for verdict in verdicts:
            summary.choices[verdict.choice] = summary.choices.get(verdict.choice, 0) + 1
        if progress:
            progress(summary.judged, total)
    return summary


def judge_rows(judge: Judge, rows: list[dict]) -> tuple[list[PairItem], list[Verdict]]:
    """Judge pairs given as rows (pair_id, messages, text_a, text_b): the items and a verdict
    for each; JudgeError when the judge does not give one verdict per pair."""
    items = [PairItem(r["pair_id"], r["messages"], r["text_a"], r["text_b"]) for r in rows]
    verdicts = judge.judge(items)
    if len(verdicts) != len(items):
        raise JudgeError(f"{judge.label} gave {len(verdicts)} verdicts for {len(items)} pairs")
    return items, verdicts


def verdict_records(items: list[PairItem], verdicts: list[Verdict]) -> list[dict]:
    """Verdicts as plain records (pair_id, p_a, choice, consistent, raw), as a job's chunk
    holds them."""
    return [
        {"pair_id": i.pair_id, "p_a": v.p_a, "choice": v.choice,
         "consistent": v.consistent, "raw": v.raw}
        for i, v in zip(items, verdicts, strict=True)
    ]  # fmt: skip


def verdict_rows(items: list[PairItem], verdicts: list[Verdict]) -> pd.DataFrame:
    """Verdicts as rows for the judgments table (raw as JSON text)."""
    frame = pd.DataFrame(
        verdict_records(items, verdicts),
        columns=["pair_id", "p_a", "choice", "consistent", "raw"],
    )
    frame["raw"] = frame["raw"].map(lambda raw: json.dumps(raw, default=str))
    return frame
