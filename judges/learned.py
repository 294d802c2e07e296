"""The light learned judge: a logistic regression on the difference of two responses' features.

Features of a response are the base model's pooled hidden states (judges.features) and its
length (characters and words, raw and log). The classifier is fitted on each labelled pair in
both orders, with no intercept and scaling without centring, so p(A over B) = 1 - p(B over A)
exactly. It is saved as plain arrays (`.npz`, no pickle) named by their hash, under the
store's files folder, and that hash enters the judge's key.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judges.base import Judge, JudgeError, PairItem, Verdict, choice_from_p
from judges.features import Progress, ResponseFeatures

DEFAULT_MODEL = "smollm2-135m"
C_GRID = np.logspace(-4, 0, 5)  # inverse regularisation strengths tried by cross-validation
FOLDS = 5


def learned_dir(files_dir: Path) -> Path:
    """Where a store keeps its fitted classifiers."""
    return Path(files_dir) / "judges" / "learned"


def features_dir(files_dir: Path) -> Path:
    """Where a store caches response features."""
    return Path(files_dir) / "judges" / "features"


def length_features(texts: Sequence[str]) -> np.ndarray:
    """Characters and words of each text, raw and as log(1 + x).

    >>> length_features(["a b", ""]).round(6).tolist()
    [[3.0, 2.0, 1.386294, 1.098612], [0.0, 0.0, 0.0, 0.0]]
    """
    counts = np.array([[len(t), len(t.split())] for t in texts], dtype=float).reshape(-1, 2)
    return np.hstack([counts, np.log1p(counts)])


def pair_differences(
    features: ResponseFeatures, items: Sequence[PairItem], progress: Progress | None = None
) -> np.ndarray:
    """Per pair, the features of response A minus those of response B."""
    conversations = [(i.prompt, i.response_a) for i in items]
    conversations += [(i.prompt, i.response_b) for i in items]
    texts = [response for _, response in conversations]
    rows = np.hstack([features(conversations, progress), length_features(texts)])
    n = len(items)
    return rows[:n] - rows[n:]


@dataclass
class LightClassifier:
    """A scaled, intercept-free logistic regression on pair differences, as plain arrays.

    `c` is the inverse regularisation strength it was fitted with; `oof_p_a` and `oof_human_a`
    are its training pairs' p_a from classifiers fitted without them (cross-validation) and
    whether people preferred A there: what its calibration is fitted on.
    """

    scale: np.ndarray
    coef: np.ndarray
    c: float
    oof_p_a: np.ndarray
    oof_human_a: np.ndarray

    @classmethod
    def fit(cls, differences: np.ndarray, a_better: np.ndarray) -> LightClassifier:
        """Fit on pair differences and whether A was preferred, each pair in both orders, with
        the regularisation of C_GRID whose out-of-fold log loss (folds over pairs) is least."""
        a_better = np.asarray(a_better, dtype=int)
        scale = np.vstack([differences, -differences]).std(axis=0)
        scale[scale == 0] = 1.0
        scaled = differences / scale
        best = min((_out_of_fold(scaled, a_better, c) for c in C_GRID), key=lambda found: found[0])
        _, c, oof = best
        coef = _fit(scaled, a_better, c)
        return cls(scale, coef, float(c), oof, a_better.astype(float))

    def p_a(self, differences: np.ndarray) -> np.ndarray:
        """The probability that A is better, per pair difference."""
        return _sigmoid((differences / self.scale) @ self.coef)

    def digest(self) -> str:
        """A hash of the arrays that predict: equal digests predict the same."""
        digest = hashlib.sha256()
        for array in (self.scale, self.coef):
            digest.update(np.ascontiguousarray(array, dtype=np.float64).tobytes())
        return digest.hexdigest()[:24]

    def save(self, folder: Path) -> Path:
        """Write the arrays to `folder/<digest>.npz` (aside first, then renamed into place)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{self.digest()}.npz"
        handle, scratch = tempfile.mkstemp(dir=folder, suffix=".npz")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **{name: np.asarray(getattr(self, name)) for name in ARRAYS})
        os.replace(scratch, target)
        return target

    @classmethod
    def load(cls, path: Path) -> LightClassifier:
        """Read arrays written by `save`; JudgeError when they are missing or altered."""
        try:
            with np.load(path, allow_pickle=False) as saved:
                values = {name: saved[name] for name in ARRAYS}
        except (OSError, KeyError, ValueError) as error:
            raise JudgeError(
                f"cannot read the learned judge's classifier {path}: {error}"
            ) from None
        loaded = cls(**{**values, "c": float(values["c"])})
        if loaded.digest() != Path(path).stem:
            raise JudgeError(f"the learned judge's classifier {path} does not match its name")
        return loaded


ARRAYS = ("scale", "coef", "c", "oof_p_a", "oof_human_a")


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow."""
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


def _fit(scaled: np.ndarray, a_better: np.ndarray, c: float) -> np.ndarray:
    """Coefficients of an intercept-free logistic regression on each pair in both orders."""
    from sklearn.linear_model import LogisticRegression

    x = np.vstack([scaled, -scaled])
    y = np.concatenate([a_better, 1 - a_better])
    return LogisticRegression(C=c, fit_intercept=False, max_iter=2000).fit(x, y).coef_[0].copy()


def _out_of_fold(
    scaled: np.ndarray, a_better: np.ndarray, c: float
) -> tuple[float, float, np.ndarray]:
    """(log loss, c, p_a) of each pair from fits without it, in folds over pairs."""
    from sklearn.model_selection import KFold

    found = np.empty(len(scaled))
    folds = KFold(n_splits=min(FOLDS, len(scaled)), shuffle=True, random_state=0)
    for fit_rows, held_rows in folds.split(scaled):
        coef = _fit(scaled[fit_rows], a_better[fit_rows], c)
        found[held_rows] = _sigmoid(scaled[held_rows] @ coef)
    clipped = np.clip(found, 1e-9, 1 - 1e-9)
    loss = -np.mean(a_better * np.log(clipped) + (1 - a_better) * np.log(1 - clipped))
    return float(loss), c, found


class LearnedJudge(Judge):
    """Judges a pair by the light classifier over its two responses' features."""

    name = "learned"

    def __init__(
        self,
        model: str,
        classifier: LightClassifier,
        features: ResponseFeatures,
        *,
        tie_margin: float = 0.0,
    ) -> None:
        super().__init__(tie_margin=tie_margin)
        self.model = str(model)
        self.classifier = classifier
        self.features = features

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            **self.features.settings(),
            "classifier": self.classifier.digest(),
        }

    @classmethod
    def from_settings(cls, files_dir: Path, model: str, settings: dict[str, Any]) -> LearnedJudge:
        """The judge a stored description names, with its classifier read from `files_dir`."""
        classifier = LightClassifier.load(learned_dir(files_dir) / f"{settings['classifier']}.npz")
        features = ResponseFeatures(
            model,
            features_dir(files_dir),
            context_tokens=settings["context_tokens"],
            response_tokens=settings["response_tokens"],
        )
        return cls(model, classifier, features, tie_margin=settings["tie_margin"])

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        if not items:
            return []
        p_a = self.classifier.p_a(pair_differences(self.features, items))
        return [
            Verdict(float(p), choice_from_p(float(p), self.tie_margin), True, {"p_a": float(p)})
            for p in p_a
        ]
