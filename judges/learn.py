"""Learning a judge from the annotators' labels in a snapshot, as a job, and measuring it on
the pairs it never saw.

`light`: a logistic regression on a base model's response features (judges.learned), in
seconds on a CPU once features are cached. `reward`: a reward model trained on the snapshot
by a training run that the caller's starter queues (the `rm` run method), judged with as a
reward judge; the job waits for that run. Either way the job's worker (`judges.learn_worker`)
judges the snapshot's test pairs with the new judge and both splits with the rule baselines,
and `learned_report` then measures every judge with verdicts there: agreement, and
calibration fitted on the training pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from curation import Store
from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job
from curation.judging.judge_reads import snapshot_pairs
from curation.snapshots.freeze import latest_snapshot
from curation.snapshots.fresh import fresh_snapshot
from judges.base import Judge, JudgeError, PairItem
from judges.features import Progress

LEARN_METHODS = ("light", "reward")
MIN_TRAIN_PAIRS = 10


@dataclass(frozen=True)
class RewardTraining:
    """How the reward method gets its model: `check(model, max_steps)` refuses a bad model or
    settings before anything is made; `start(store, snapshot, model, max_steps)` queues the
    training run and returns its id and the folder its trained model will be in."""

    check: Callable[[str | None, int | None], None]
    start: Callable[[Store, str, str | None, int | None], tuple[int, str]]


class LearnError(JudgeError):
    """A judge cannot be learned as asked (no snapshot, too few labels, a failed run...)."""


def items_of(pairs: pd.DataFrame | list[dict]) -> list[PairItem]:
    """Snapshot pairs (a snapshot_pairs frame, or its rows as dicts) as judge items."""
    rows = pairs.to_dict("records") if isinstance(pairs, pd.DataFrame) else pairs
    return [PairItem(r["pair_id"], r["messages"], r["text_a"], r["text_b"]) for r in rows]


def learn_light(files_dir: Path, train: list[dict], model: str, progress: Progress | None) -> Judge:
    """Fit the light judge on the training pairs (rows with `human`), save its classifier
    under `files_dir`, and return it."""
    import numpy as np

    from judges.features import ResponseFeatures
    from judges.learned import (
        LearnedJudge,
        LightClassifier,
        features_dir,
        learned_dir,
        pair_differences,
    )

    features = ResponseFeatures(model, features_dir(files_dir))
    differences = pair_differences(features, items_of(train), progress)
    classifier = LightClassifier.fit(differences, np.array([r["human"] == "a" for r in train]))
    classifier.save(learned_dir(files_dir))
    return LearnedJudge(model, classifier, features)


def snapshot_name(store: Store, snapshot: str | None) -> str:
    """`snapshot`, or the newest one when it is None; LearnError when there is none."""
    name = snapshot or latest_snapshot(store)
    if name is None:
        raise LearnError("no snapshot yet: create one with `prefstudio snapshot create NAME`")
    return name


def snapshot_splits(store: Store, snapshot: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The snapshot to learn from and its train and test pairs: `snapshot`, or else one of what
    was just labelled (the newest, or a new one when labels changed since); LearnError, making
    no snapshot, when it has too few pairs to learn from or test on."""
    name = (
        snapshot or fresh_snapshot(store, lambda counts: _check_learnable(counts, "the store")).name
    )
    train, test = snapshot_pairs(store, name, "train"), snapshot_pairs(store, name, "test")
    _check_learnable({"train": {"dpo": len(train)}, "test": {"dpo": len(test)}}, f"snapshot {name}")
    return name, train, test


def _check_learnable(counts: dict, what: str) -> None:
    """LearnError unless `counts` (a snapshot's, per split and format) hold enough labelled
    pairs to learn from and some to test on; `what` names the data in the message."""
    if counts["train"]["dpo"] < MIN_TRAIN_PAIRS:
        raise LearnError(
            f"{what} has {counts['train']['dpo']} labelled training pairs; "
            f"learning a judge needs at least {MIN_TRAIN_PAIRS}"
        )
    if counts["test"]["dpo"] == 0:
        raise LearnError(f"{what} has no test pairs to measure a learned judge on")


def start_learning(
    store: Store,
    *,
    method: str = "light",
    snapshot: str | None = None,
    model: str | None = None,
    max_steps: int | None = None,
    reward: RewardTraining | None = None,
) -> JobRecord:
    """Queue a job that learns a judge from a snapshot's training pairs (the reward method
    first queues its training run, which the job waits for). Bad requests are refused here,
    before anything is queued."""
    if method not in LEARN_METHODS:
        raise LearnError(f"unknown method {method!r}; choose from {', '.join(LEARN_METHODS)}")
    if method == "light" and max_steps is not None:
        raise LearnError("max steps apply to the reward method only")
    if method == "reward":
        if reward is None:
            raise LearnError("the reward method needs a way to train a reward model")
        reward.check(model, max_steps)
    name, train, test = snapshot_splits(store, snapshot)
    run_id = model_folder = None
    if reward is not None and method == "reward":
        run_id, model_folder = reward.start(store, name, model, max_steps)
    params = {"method": method, "snapshot": name, "model": model, "max_steps": max_steps}
    work = {
        "files_dir": str(store.files_dir),
        "model_folder": model_folder,
        "train": _rows(train),
        "test": _rows(test),
        "baselines": _baseline_todo(store, [*train["pair_id"], *test["pair_id"]]),
    }
    report = {
        **params,
        "judge_key": None,
        "judge": None,
        "train_pairs": len(train),
        "test_pairs": len(test),
        "run_id": run_id,
        "judged": 0,
        "seconds": 0.0,
    }
    return create_job(store, "learn", {**params, "run_id": run_id}, work, report)


def _baseline_todo(store: Store, pair_ids: list[str]) -> dict[str, list[dict]]:
    """Per rule baseline, the pairs among `pair_ids` it has no verdict for yet."""
    from curation.judging.judgments import pairs_to_judge
    from judges.registry import RULE_KINDS, build_judge

    return {
        kind: pairs_to_judge(store, build_judge(kind).key(), "all", pair_ids=pair_ids).todo
        for kind in RULE_KINDS
    }


def _rows(pairs: pd.DataFrame) -> list[dict[str, Any]]:
    """Snapshot pairs as plain rows for the worker's parameters."""
    return pairs[["pair_id", "messages", "text_a", "text_b", "human"]].to_dict("records")


def learned_report(store: Store, result: dict[str, Any]) -> dict[str, Any]:
    """A finished learning job's report with the held-out figures of every judge with verdicts
    on its snapshot's test pairs (a read: nothing is written)."""
    from judges.heldout import heldout_report

    return {**result, **heldout_report(store, result["snapshot"]).to_dict()}


class LearnedJudge:
    """What a learning job reports: its result, with `learned_report`'s held-out figures."""

    @staticmethod
    def text(report: dict[str, Any]) -> str:
        """The new judge, its held-out agreement beside the best rule baseline's, then every
        judge's held-out figures."""
        from judges.heldout import HeldoutReport

        figures = report["heldout"]
        lines = [
            f"learned judge {report['judge_key']} ({report['judge']}) from snapshot "
            f"{report['snapshot']}: {report['train_pairs']} training pairs, {report['seconds']} s"
        ]
        mine = next((f for f in figures.values() if f["judge_key"] == report["judge_key"]), None)
        if mine is not None and mine["agreement"] is not None:
            low, high = mine["interval"]
            lines.append(
                f"held-out agreement {mine['agreement']:.3f} [{low:.3f}, {high:.3f}] over "
                f"{mine['agreement_n']} of {report['test_pairs']} test pairs"
            )
        rules = [(label, f) for label, f in figures.items() if f["baseline"] and f["agreement"]]
        if rules:
            label, best = max(rules, key=lambda item: item[1]["agreement"])
            lines.append(f"best rule baseline: {label}, {best['agreement']:.3f}")
        heldout = HeldoutReport(report["snapshot"], report["test_pairs"], figures)
        return "\n".join([*lines, *heldout.lines()])
