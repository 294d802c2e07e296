"""Putting first in the labelling queue the pairs that judges are least sure of or disagree on,
going by the judge that agrees best with people on the newest snapshot's held-out pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation import Store
from curation.judging.judgments import set_suggestions, uncertain_pairs
from curation.labelling.queue import set_priorities
from curation.results import Fields
from curation.snapshots.freeze import latest_snapshot
from judges.base import JudgeError
from judges.heldout import snapshot_heldout
from judges.registry import RULE_KINDS

MIN_COVERAGE = 0.5  # share of the held-out pairs a judge must have judged to be ranked
BEST = "best"  # names the best judge wherever a judge key is asked for


def ranked_judges(store: Store) -> list[dict]:
    """Judges other than the rule baselines, best held-out agreement first, on the newest
    snapshot's test pairs: each {judge_key, label, agreement, n, snapshot}. Only judges that
    judged at least MIN_COVERAGE of those pairs are ranked; empty without a snapshot.
    """
    snapshot = latest_snapshot(store)
    if snapshot is None:
        return []
    figures, test_pairs = snapshot_heldout(store, snapshot)
    ranked = [
        {"judge_key": f["judge_key"], "label": label, "agreement": f["agreement"], "n": f["n"]}
        for label, f in figures.items()
        if not f["baseline"] and f["agreement"] is not None and f["n"] >= MIN_COVERAGE * test_pairs
    ]
    ranked.sort(key=lambda j: (-j["agreement"], -j["n"], j["judge_key"]))
    return [{**judge, "snapshot": snapshot} for judge in ranked]


def best_judge(store: Store) -> dict | None:
    """The judge with the best held-out agreement (see `ranked_judges`), or None."""
    ranked = ranked_judges(store)
    return ranked[0] if ranked else None


def best_judge_key(store: Store) -> str:
    """The key of the best judge; JudgeError when no judge has been measured on held-out pairs."""
    best = best_judge(store)
    if best is None:
        raise JudgeError(
            "no judge has been measured on held-out pairs yet: create a snapshot and run "
            "`prefstudio judge learn` (or judge its test pairs)"
        )
    return best["judge_key"]


def suggest(store: Store, enabled: bool, judge_key: str | None = None) -> dict:
    """Turn suggestions to annotators on (from `judge_key`, or from the best judge when it is
    BEST) or off; return the setting."""
    if enabled and judge_key == BEST:
        judge_key = best_judge_key(store)
    return set_suggestions(store, enabled, judge_key)


@dataclass(frozen=True)
class Prioritized(Fields):
    """How many unlabelled pairs got a queue priority, and from whose verdicts (None: every
    judge's)."""

    prioritized: int
    judge: str | None

    def text(self) -> str:
        text = f"gave {self.prioritized} unlabelled pairs a queue priority"
        if self.judge:
            text += f" from the verdicts of {self.judge} (best held-out agreement)"
        return text


def prioritize(store: Store, *, include_rules: bool = False) -> Prioritized:
    """Give unlabelled pairs with verdicts a queue priority from the judges' uncertainty and
    disagreement; return how many were set and the judge whose verdicts counted.

    The verdicts of the best judge by held-out agreement that has judged unlabelled pairs
    count alone; without one, every judge's count (rule baselines left out unless
    `include_rules`), and the judge returned is None.
    """
    excluded = () if include_rules else RULE_KINDS
    for judge in ranked_judges(store):
        rows = uncertain_pairs(store, excluded, judge_keys=[judge["judge_key"]])
        if not rows.empty:
            return Prioritized(set_priorities(store, rows), judge["label"])
    rows = uncertain_pairs(store, exclude_names=excluded)
    return Prioritized(0 if rows.empty else set_priorities(store, rows), None)
