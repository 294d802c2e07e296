"""Annotator agreement and biases: Cohen's and Fleiss' kappa, agreement with the majority,
preference for longer responses, and position (left/right) bias.

Votes are the labels in force with a choice among a, b, tie and both_bad (skips do not vote).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from itertools import combinations

import numpy as np
import pandas as pd

from curation.store.store import Store

CHOICES = ("a", "b", "tie", "both_bad")

_VOTES_SQL = """
    SELECT l.pair_id, l.annotator, arg_max(l.choice, l.id) AS choice,
           arg_max(l.shown_order, l.id) AS shown_order,
           any_value(length(ra.text)) AS length_a, any_value(length(rb.text)) AS length_b
    FROM current_labels l JOIN pairs p ON p.id = l.pair_id
    JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
    WHERE l.choice <> 'skip'
    GROUP BY l.pair_id, l.annotator
"""


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of an items x categories matrix of vote counts.

    Items may have different numbers of votes (those with fewer than two are left out).
    The example from Fleiss (1971) as given on Wikipedia, 10 items by 14 raters:

    >>> table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
    ...     [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0],
    ...     [0, 2, 2, 3, 7]])
    >>> round(fleiss_kappa(table), 3)
    0.21
    """
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    counts, raters = counts[raters >= 2], raters[raters >= 2]
    if not len(counts):
        return None
    observed = ((counts * (counts - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = counts.sum(axis=0) / raters.sum()
    expected = float((shares**2).sum())
    if expected >= 1:
        return None  # everyone used one category: agreement by chance alone is perfect
    return float((observed - expected) / (1 - expected))


@dataclass
class PairKappa:
    """Cohen's kappa of two annotators over the pairs both labelled."""

    annotators: tuple[str, str]
    pairs: int
    agreement: float
    kappa: float | None


@dataclass
class AnnotatorFigures:
    """One annotator's votes, agreement with the others' majority, and biases."""

    votes: int
    majority_agreement: float | None  # share of votes matching the other annotators' majority
    majority_pairs: int  # votes on pairs where the others had a strict majority
    left_share: float | None  # share of a/b votes for the response shown on the left
    left_votes: int
    position_p_value: float | None  # two-sided binomial test of left_share against 0.5
    longer_share: float | None  # share of a/b votes (of different lengths) for the longer one


@dataclass
class AgreementReport:
    """Agreement and bias figures over every annotator's votes in force."""

    annotators: list[str] = field(default_factory=list)
    votes: int = 0
    pairs_with_two_votes: int = 0
    fleiss_kappa: float | None = None
    cohen: list[PairKappa] = field(default_factory=list)
    per_annotator: dict[str, AnnotatorFigures] = field(default_factory=dict)
    chosen_longer_share: float | None = None  # over pairs whose majority picks a or b
    decided_pairs: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["cohen"] = [{**asdict(c), "annotators": list(c.annotators)} for c in self.cohen]
        return data

    def kappa_matrix(self) -> pd.DataFrame:
        """Cohen's kappa of every annotator pair as a square table (1 on the diagonal)."""
        matrix = pd.DataFrame(np.nan, index=self.annotators, columns=self.annotators)
        for name in self.annotators:
            matrix.loc[name, name] = 1.0
        for c in self.cohen:
            first, second = c.annotators
            matrix.loc[first, second] = matrix.loc[second, first] = c.kappa
        return matrix


def _share(hits: pd.Series) -> float | None:
    """The mean of a boolean series, or None when it is empty."""
    return float(hits.mean()) if len(hits) else None


def _cohen(votes: pd.DataFrame, first: str, second: str) -> PairKappa | None:
    """Cohen's kappa of two annotators, or None when they share no pair."""
    from sklearn.metrics import cohen_kappa_score

    wide = votes[votes.annotator.isin([first, second])].pivot(
        index="pair_id", columns="annotator", values="choice"
    )
    both = wide.dropna()
    if both.empty:
        return None
    x, y = both[first].to_numpy(), both[second].to_numpy()
    kappa = None
    if len(set(x) | set(y)) > 1:  # kappa is undefined when only one category was ever used
        kappa = float(cohen_kappa_score(x, y, labels=list(CHOICES)))
    return PairKappa((first, second), len(both), float((x == y).mean()), kappa)


def _others_majority(votes: pd.DataFrame) -> pd.Series:
    """Per vote, the strict majority choice of the other annotators of its pair (else NaN)."""
    counts = pd.crosstab(votes.pair_id, votes.choice).reindex(columns=list(CHOICES), fill_value=0)
    others = counts.loc[votes.pair_id].to_numpy(copy=True)  # writable under copy-on-write
    others[np.arange(len(votes)), [CHOICES.index(c) for c in votes.choice]] -= 1
    top = others.max(axis=1)
    unique_top = (others == top[:, None]).sum(axis=1) == 1
    winner = np.array(CHOICES)[others.argmax(axis=1)]
    return pd.Series(np.where(unique_top & (top > 0), winner, None), index=votes.index)


def _annotator_figures(votes: pd.DataFrame) -> dict[str, AnnotatorFigures]:
    """The per-annotator figures of every annotator in `votes`."""
    from scipy.stats import binomtest

    votes = votes.assign(majority=_others_majority(votes))
    decisive = votes.choice.isin(["a", "b"])
    shown = votes.shown_order.notna() & decisive
    left = ((votes.shown_order == "ab") & (votes.choice == "a")) | (
        (votes.shown_order == "ba") & (votes.choice == "b")
    )
    lengths_differ = votes.length_a != votes.length_b
    longer = np.where(
        votes.choice == "a", votes.length_a > votes.length_b, votes.length_b > votes.length_a
    )
    votes = votes.assign(left=left, shown=shown, longer=longer, sized=decisive & lengths_differ)
    figures = {}
    for name, own in votes.groupby("annotator", sort=True):
        with_majority = own[own.majority.notna()]
        placed = own[own.shown]
        p_value = (
            float(binomtest(int(placed.left.sum()), len(placed)).pvalue) if len(placed) else None
        )
        figures[name] = AnnotatorFigures(
            votes=len(own),
            majority_agreement=_share(with_majority.choice == with_majority.majority),
            majority_pairs=len(with_majority),
            left_share=_share(placed.left),
            left_votes=len(placed),
            position_p_value=p_value,
            longer_share=_share(own[own.sized].longer),
        )
    return figures


def _chosen_longer(store: Store) -> tuple[float | None, int]:
    """Share of pairs whose majority choice is the longer response, and how many were decided."""
    row = store.con.execute(
        """SELECT avg(CASE WHEN v.votes_a > v.votes_b THEN length(ra.text) > length(rb.text)
                           ELSE length(rb.text) > length(ra.text) END::INT), count(*)
        FROM pair_votes v JOIN pairs p ON p.id = v.pair_id
        JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
        WHERE v.votes_a <> v.votes_b AND length(ra.text) <> length(rb.text)"""
    ).fetchall()[0]
    return (None if row[0] is None else float(row[0])), int(row[1])


def annotator_agreement(store: Store) -> AgreementReport:
    """Agreement between annotators and their biases, over all labels in force."""
    votes = store.con.sql(_VOTES_SQL).df()
    report = AgreementReport()
    report.chosen_longer_share, report.decided_pairs = _chosen_longer(store)
    if votes.empty:
        return report
    report.annotators = sorted(votes.annotator.unique())
    report.votes = len(votes)
    counts = pd.crosstab(votes.pair_id, votes.choice).reindex(columns=list(CHOICES), fill_value=0)
    report.pairs_with_two_votes = int((counts.sum(axis=1) >= 2).sum())
    report.fleiss_kappa = fleiss_kappa(counts.to_numpy())
    report.cohen = [
        kappa
        for first, second in combinations(report.annotators, 2)
        if (kappa := _cohen(votes, first, second)) is not None
    ]
    report.per_annotator = _annotator_figures(votes)
    return report


def _figure(value: float | None, digits: int = 2) -> str:
    """A figure for text output; n/a when undefined."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def agreement_lines(agreement: dict) -> list[str]:
    """The text lines `stats` shows for the agreement figures of `AgreementReport.to_dict()`."""
    lines = [
        f"{'agreement':>15}: Fleiss kappa {_figure(agreement['fleiss_kappa'])} over "
        f"{agreement['pairs_with_two_votes']} pairs with 2+ votes; chosen is the longer response "
        f"in {_figure(agreement['chosen_longer_share'])} of {agreement['decided_pairs']} decided pairs"
    ]
    for c in agreement["cohen"]:
        first, second = c["annotators"]
        lines.append(
            f"{'':>15}  Cohen kappa {first} / {second}: {_figure(c['kappa'])} "
            f"(agree {_figure(c['agreement'])} on {c['pairs']} pairs)"
        )
    for name, f in agreement["per_annotator"].items():
        lines.append(
            f"{'':>15}  {name}: {f['votes']} votes, with majority {_figure(f['majority_agreement'])}, "
            f"left {_figure(f['left_share'])} (p {_figure(f['position_p_value'], 3)}), "
            f"longer {_figure(f['longer_share'])}"
        )
    return lines
