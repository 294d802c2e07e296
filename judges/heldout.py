"""How well each judge agrees with people on a snapshot's held-out (test) pairs, and how well
calibrated it is there after a calibrator fitted on the snapshot's training pairs.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from curation import Store
from curation.judge_reads import snapshot_pairs, verdicts
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


def heldout_figures(
    store: Store,
    train: pd.DataFrame,
    test: pd.DataFrame,
    own_train: dict[str, Scores] | None = None,
) -> dict[str, dict]:
    """Per judge with verdicts on the test pairs (snapshot_pairs frames): its held-out figures.

    Calibration is fitted on the judge's verdicts on the train pairs, or on `own_train[key]`
    for a judge that learned from those pairs (its out-of-fold scores).
    """
    on_test, on_train = _with_sides(store, test), _with_sides(store, train)
    names = on_test.drop_duplicates("judge_key")
    labels = names["label"].tolist()
    results = {}
    for row in names.itertuples(index=False):
        trained = on_train[on_train["judge_key"] == row.judge_key]
        scores = (own_train or {}).get(row.judge_key)
        if scores is None and len(trained):
            scores = (trained["p_a"].to_numpy(float), (trained["human"] == "a").to_numpy())
        figures = judge_figures(on_test[on_test["judge_key"] == row.judge_key], scores)
        results[unique_label(row.label, row.judge_key, labels)] = {
            "judge_key": row.judge_key,
            "kind": row.name,
            "baseline": row.name in RULE_KINDS,
            **figures,
        }
    return results


def snapshot_heldout(store: Store, snapshot: str) -> tuple[dict[str, dict], int]:
    """Held-out figures of every judge on a snapshot's test pairs, and how many test pairs."""
    test = snapshot_pairs(store, snapshot, "test")
    return heldout_figures(store, snapshot_pairs(store, snapshot, "train"), test), len(test)
