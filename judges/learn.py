"""Learning a judge from the annotators' labels in a snapshot, and measuring it on the pairs it
never saw.

`light`: a logistic regression on a base model's response features (judges.learned), in
seconds on a CPU once features are cached. `reward`: a reward model trained on the snapshot
by the trainer the caller hands in (the `rm` run method, training.reward_model), judged with
as a reward judge. Either way the new judge judges the snapshot's test pairs, as do the rule
baselines, and every judge with verdicts there is measured: agreement, and calibration
fitted on the training pairs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import pandas as pd

from curation import Store
from curation.judging.judge_reads import snapshot_pairs
from curation.snapshots.freeze import latest_snapshot
from judges.base import Judge, JudgeError, PairItem
from judges.heldout import heldout_figures
from judges.registry import RULE_KINDS, build_judge
from judges.runs import run_judge

LEARN_METHODS = ("light", "reward")
MIN_TRAIN_PAIRS = 10
Progress = Callable[[str, int, int], None]  # (step, done, total)
# Trains a reward model: (store, snapshot, model, max_steps, progress) -> (folder, run id).
RewardTrainer = Callable[[Store, str, str | None, int | None, Progress | None], tuple[str, int]]


class LearnError(JudgeError):
    """A judge cannot be learned as asked (no snapshot, too few labels, a failed run...)."""


@dataclass
class LearnResult:
    """A learned judge's key and label, what it learned from, and everyone's held-out figures."""

    judge_key: str
    judge: str
    method: str
    snapshot: str
    train_pairs: int
    test_pairs: int
    seconds: float
    heldout: dict[str, dict]
    run_id: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def items_of(pairs: pd.DataFrame) -> list[PairItem]:
    """A snapshot_pairs frame as judge items."""
    return [
        PairItem(r.pair_id, r.messages, r.text_a, r.text_b) for r in pairs.itertuples(index=False)
    ]


def learn_light(store: Store, train: pd.DataFrame, model: str, progress: Progress | None) -> Judge:
    """Fit the light judge on the training pairs and save its classifier."""
    from judges.features import ResponseFeatures
    from judges.learned import (
        LearnedJudge,
        LightClassifier,
        features_dir,
        learned_dir,
        pair_differences,
    )

    features = ResponseFeatures(model, features_dir(store.files_dir))
    step = None if progress is None else (lambda done, total: progress("features", done, total))
    differences = pair_differences(features, items_of(train), step)
    classifier = LightClassifier.fit(differences, (train["human"] == "a").to_numpy())
    classifier.save(learned_dir(store.files_dir))
    return LearnedJudge(model, classifier, features)


def snapshot_splits(store: Store, snapshot: str | None) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The snapshot to learn from (default: the newest) and its train and test pairs;
    LearnError when there is none or it has too few pairs to learn from or test on."""
    name = snapshot or latest_snapshot(store)
    if name is None:
        raise LearnError("no snapshot yet: create one with `prefstudio snapshot create NAME`")
    train, test = snapshot_pairs(store, name, "train"), snapshot_pairs(store, name, "test")
    if len(train) < MIN_TRAIN_PAIRS:
        raise LearnError(
            f"snapshot {name} has {len(train)} labelled training pairs; "
            f"learning a judge needs at least {MIN_TRAIN_PAIRS}"
        )
    if len(test) == 0:
        raise LearnError(f"snapshot {name} has no test pairs to measure a learned judge on")
    return name, train, test


def learn_judge(
    store: Store,
    *,
    method: str = "light",
    snapshot: str | None = None,
    model: str | None = None,
    max_steps: int | None = None,
    progress: Progress | None = None,
    train_reward: RewardTrainer | None = None,
) -> LearnResult:
    """Learn a judge from a snapshot's training pairs, judge its test pairs with it and the
    rule baselines (which also judge the training pairs, to be calibrated), and measure every
    judge with verdicts there."""
    if method not in LEARN_METHODS:
        raise LearnError(f"unknown method {method!r}; choose from {', '.join(LEARN_METHODS)}")
    if method == "light" and max_steps is not None:
        raise LearnError("max steps apply to the reward method only")
    started = time.perf_counter()
    name, train, test = snapshot_splits(store, snapshot)
    run_id = None
    if method == "light":
        from judges.learned import DEFAULT_MODEL

        judge = learn_light(store, train, model or DEFAULT_MODEL, progress)
    else:
        from judges.reward import RewardJudge

        if train_reward is None:
            raise LearnError("the reward method needs a way to train a reward model")
        folder, run_id = train_reward(store, name, model, max_steps, progress)
        judge = RewardJudge(folder)
    run_judge(store, judge, pairs="all", pair_ids=test["pair_id"].tolist())
    both = [*train["pair_id"], *test["pair_id"]]  # on train pairs too, to calibrate them
    for kind in RULE_KINDS:
        run_judge(store, build_judge(kind), pairs="all", pair_ids=both)
    return LearnResult(
        judge_key=judge.key(),
        judge=judge.label,
        method=method,
        snapshot=name,
        train_pairs=len(train),
        test_pairs=len(test),
        seconds=round(time.perf_counter() - started, 3),
        heldout=heldout_figures(store, train, test),
        run_id=run_id,
    )
