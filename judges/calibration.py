"""Calibration of a judge's p_a against human labels: expected calibration error, reliability
bins, and a calibrator (Platt scaling or isotonic regression) fitted on one split and applied
to another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BINS = 10
EPSILON = 1e-6
MIN_FIT = 10  # pairs a calibrator needs, with both sides among them
METHODS = ("platt", "isotonic")


def both_orders(p_a: np.ndarray, human_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each pair as (p_a, human_a) and as seen the other way round, (1 - p_a, 1 - human_a).

    Which response of a pair is A is arbitrary (an import may put every chosen response
    first), so calibration is measured and fitted on both orders.

    >>> [a.tolist() for a in both_orders(np.array([0.8]), np.array([1]))]
    [[0.8, 0.19999999999999996], [1.0, 0.0]]
    """
    p_a, human_a = np.asarray(p_a, float), np.asarray(human_a, float)
    return np.concatenate([p_a, 1 - p_a]), np.concatenate([human_a, 1 - human_a])


def reliability(p_a: np.ndarray, human_a: np.ndarray, bins: int = BINS) -> pd.DataFrame:
    """p_a in equal-width bins, each pair in both orders: per non-empty bin its range, `n`,
    mean p_a and the observed share of pairs where people preferred A.

    >>> reliability(np.array([0.1, 0.15, 0.9]), np.array([0, 1, 1]), bins=2)[["n", "observed"]]
       n  observed
    0  3  0.333333
    1  3  0.666667
    """
    p_a, human_a = both_orders(p_a, human_a)
    which = np.minimum((p_a * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "p_a": p_a, "observed": human_a})
    grouped = frame.groupby("bin").agg(
        n=("p_a", "size"), mean_p=("p_a", "mean"), observed=("observed", "mean")
    )
    grouped["low"] = grouped.index / bins
    grouped["high"] = (grouped.index + 1) / bins
    return grouped.reset_index(drop=True)[["low", "high", "n", "mean_p", "observed"]]


def expected_calibration_error(p_a: np.ndarray, human_a: np.ndarray, bins: int = BINS) -> float:
    """The gap between p_a and how often people preferred A, averaged over equal-width bins of
    p_a (each pair in both orders) weighted by their size; at least one pair.

    >>> round(expected_calibration_error(np.array([0.8] * 5), np.array([1, 1, 1, 1, 0])), 6)
    0.0
    >>> round(expected_calibration_error(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 0, 1])), 3)
    0.4
    """
    table = reliability(p_a, human_a, bins)
    if table.empty:
        raise ValueError("calibration error needs at least one pair")
    gaps = (table["mean_p"] - table["observed"]).abs()
    return float((gaps * table["n"]).sum() / table["n"].sum())


def logit(p: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)), with p kept EPSILON away from 0 and 1."""
    p = np.clip(np.asarray(p, float), EPSILON, 1 - EPSILON)
    return np.log(p / (1 - p))


@dataclass
class Calibrator:
    """A map from a judge's p_a to a calibrated one, fitted on pairs with human labels.

    Fitted on each pair in both orders ((p, y) and (1 - p, 1 - y)), so swapping A and B
    swaps the calibrated probability too.
    """

    method: str = "platt"
    model: object = None

    def fit(self, p_a: np.ndarray, human_a: np.ndarray) -> Calibrator:
        """Fit on p_a and whether people preferred A (1) or B (0)."""
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        if self.method not in METHODS:
            raise ValueError(f"calibration method must be one of {', '.join(METHODS)}")
        p, y = both_orders(p_a, human_a)
        if self.method == "platt":
            self.model = LogisticRegression().fit(logit(p)[:, None], y.astype(int))
        else:
            self.model = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y)
        return self

    def apply(self, p_a: np.ndarray) -> np.ndarray:
        """The calibrated p_a."""
        p_a = np.asarray(p_a, float)
        if self.method == "platt":
            return self.model.predict_proba(logit(p_a)[:, None])[:, 1]
        return self.model.predict(p_a)


def can_fit(human_a: np.ndarray) -> bool:
    """Whether labels are enough to fit a calibrator: MIN_FIT pairs or more."""
    return len(human_a) >= MIN_FIT


def calibration_figures(
    train: tuple[np.ndarray, np.ndarray] | None,
    test: tuple[np.ndarray, np.ndarray],
    method: str = "platt",
) -> dict[str, float | None]:
    """`ece` of p_a on the test pairs and `calibrated_ece` after a calibrator fitted on the
    train pairs (None when there are too few of them). Each split is (p_a, human_a).
    """
    p_test, y_test = test
    if len(p_test) == 0:
        return {"ece": None, "calibrated_ece": None}
    figures: dict[str, float | None] = {"ece": expected_calibration_error(p_test, y_test)}
    figures["calibrated_ece"] = None
    if train is not None and can_fit(train[1]):
        calibrated = Calibrator(method).fit(*train).apply(p_test)
        figures["calibrated_ece"] = expected_calibration_error(calibrated, y_test)
    return figures
