"""Putting first in the labelling queue the pairs that judges are least sure of or disagree on."""

from __future__ import annotations

from curation import Store
from curation.judgments import uncertain_pairs
from curation.queue import set_priorities
from judges.registry import RULE_KINDS


def prioritize_uncertain_pairs(store: Store, *, include_rules: bool = False) -> int:
    """Give unlabelled pairs with verdicts a queue priority from the judges' uncertainty and
    disagreement (rule baselines left out unless `include_rules`); return how many were set.
    """
    rows = uncertain_pairs(store, exclude_names=() if include_rules else RULE_KINDS)
    if rows.empty:
        return 0
    return set_priorities(store, rows)
