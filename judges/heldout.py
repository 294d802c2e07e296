"""How well each judge agrees with people on a snapshot's held-out (test) pairs, and how well
calibrated it is there after a calibrator fitted on the snapshot's training pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from curation import Store
from curation.judging.judge_reads import snapshot_pairs, verdicts
from curation.results import Fields
from judges.base import JudgeError
from judges.calibration import calibration_figures
from judges.registry import RULE_KINDS

Scores = tuple[np.ndarray, np.ndarray]  # (p_a, whether people preferred A)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion (95% by default); None when n is 0.

    >>> [round(x, 3) for x in wilson_interval(56, 100)]
    [0.462, 0.653]
    """
    if n == 0:
        return None
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(centre - half, 0.0), min(centre + half, 1.0))


def unique_label(label: str, key: str, labels: list[str]) -> str:
    """A judge's label, with the start of its key when another judge has the same label.

    >>> unique_label("llm", "abcdef123", ["llm", "llm"]), unique_label("llm", "abc", ["llm"])
    ('llm#abcdef12', 'llm')
    """
    return label if labels.count(label) == 1 else f"{label}#{key[:8]}"


def _with_sides(store: Store, pairs: pd.DataFrame) -> pd.DataFrame:
    """Verdicts in force on `pairs`, with the side the snapshot chose as `human`."""
    found = verdicts(store, pairs["pair_id"].tolist()).drop(columns="human")
    return found.merge(pairs[["pair_id", "human"]], on="pair_id")


def judge_figures(rows: pd.DataFrame, train: Scores | None) -> dict:
    """Held-out figures of one judge's verdicts (`rows`, with `human`): n, ties, agreement
    over decided verdicts with its 95% interval, and calibration errors."""
    decided = rows[rows["choice"].isin(["a", "b"])]
    agreed = int((decided["choice"] == decided["human"]).sum())
    test = (rows["p_a"].to_numpy(float), (rows["human"] == "a").to_numpy())
    interval = wilson_interval(agreed, len(decided))
    return {
        "n": len(rows),
        "ties": int((rows["choice"] == "tie").sum()),
        "agreement_n": len(decided),
        "agreement": agreed / len(decided) if len(decided) else None,
        "interval": list(interval) if interval else None,
        **calibration_figures(train, test),
    }


def training_scores(store: Store, judge: tuple, on_train: pd.DataFrame) -> Scores | None:
    """What to fit a judge's calibrator on: a learned judge's out-of-fold scores on the pairs
    it learned from (its verdicts there are in-sample), else its verdicts on the train pairs."""
    if judge.name == "learned":
        from judges.registry import judge_from_key

        try:
            classifier = judge_from_key(store, judge.judge_key).classifier
        except JudgeError:  # its classifier file is gone: nothing to calibrate on
            return None
        return classifier.oof_p_a, classifier.oof_human_a
    rows = on_train[on_train["judge_key"] == judge.judge_key]
    if rows.empty:
        return None
    return rows["p_a"].to_numpy(float), (rows["human"] == "a").to_numpy()


def heldout_figures(store: Store, train: pd.DataFrame, test: pd.DataFrame) -> dict[str, dict]:
    """Per judge with verdicts on the test pairs (snapshot_pairs frames): its held-out figures,
    with calibration fitted on `training_scores`."""
    on_test, on_train = _with_sides(store, test), _with_sides(store, train)
    judges = on_test.drop_duplicates("judge_key")
    labels = judges["label"].tolist()
    results = {}
    for judge in judges.itertuples(index=False):
        figures = judge_figures(
            on_test[on_test["judge_key"] == judge.judge_key],
            training_scores(store, judge, on_train),
        )
        results[unique_label(judge.label, judge.judge_key, labels)] = {
            "judge_key": judge.judge_key,
            "kind": judge.name,
            "baseline": judge.name in RULE_KINDS,
            **figures,
        }
    return results


def snapshot_heldout(store: Store, snapshot: str) -> tuple[dict[str, dict], int]:
    """Held-out figures of every judge on a snapshot's test pairs, and how many test pairs."""
    test = snapshot_pairs(store, snapshot, "test")
    return heldout_figures(store, snapshot_pairs(store, snapshot, "train"), test), len(test)


@dataclass(frozen=True)
class HeldoutReport(Fields):
    """Every judge's held-out figures on a snapshot's test pairs, by judge label."""

    snapshot: str
    test_pairs: int
    heldout: dict[str, dict]

    def text(self) -> str:
        """The figures of each judge, best agreement first."""
        return "\n".join(self.lines())

    def lines(self) -> list[str]:
        lines = [
            f"on the {self.test_pairs} test pairs of snapshot {self.snapshot} (n, agreement, "
            "calibration error before and after calibration on the training pairs):"
        ]
        if not self.heldout:
            lines.append(
                f"  no judge has verdicts there yet (judge --pairs snapshot:{self.snapshot})"
            )
        ranked = sorted(self.heldout.items(), key=lambda kv: -(kv[1]["agreement"] or 0.0))
        for label, figures in ranked:
            shown = [figures[k] for k in ("agreement", "ece", "calibrated_ece")]
            numbers = ["-" if v is None else f"{v:.3f}" for v in shown]
            lines.append(f"  {label}: n {figures['n']}, " + ", ".join(numbers))
        return lines


def heldout_report(store: Store, snapshot: str | None) -> HeldoutReport:
    """Every judge's held-out figures on a snapshot's test pairs (default: the newest
    snapshot; LearnError when there is none), with the snapshot and how many test pairs."""
    from judges.learn import snapshot_name

    name = snapshot_name(store, snapshot)
    heldout, test_pairs = snapshot_heldout(store, name)
    return HeldoutReport(name, test_pairs, heldout)
