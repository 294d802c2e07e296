"""Mixing gold pairs into each annotator's queue: which gold pair, if any, to serve next.

An annotator's next pair is gold when one in `every` of the pairs they have labelled (counting
the next one) should have been gold and fewer were: with `every` 10, their 10th, 20th, 30th ...
pairs, as long as gold pairs they have not seen remain. Each gold pair goes to each annotator
at most once, in a fixed order (by pair id), so annotators answer the same gold pairs first.
The decision is made from memory; `GoldMix.load` reads what it needs from the store once, and
the queue keeps the label counts up to date as labels come and go.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.labelling.queue_reads import ServedPair, load_served_pairs
from curation.store.settings import get_setting
from curation.store.store import Store

GOLD_EVERY_KEY = "labelling.gold_every"
DEFAULT_GOLD_EVERY = 10


def get_gold_every(store: Store) -> int:
    """One in how many served pairs is gold (0: gold pairs are not served)."""
    return int(get_setting(store, GOLD_EVERY_KEY, DEFAULT_GOLD_EVERY))


@dataclass(frozen=True)
class GoldRate:
    """One in how many served pairs is gold (0: none)."""

    every: int

    def to_dict(self) -> dict:
        return {"every": self.every}

    def text(self) -> str:
        if not self.every:
            return "gold pairs are not served"
        return f"one pair in every {self.every} served is gold"


class GoldMix:
    """The gold pairs as served, and per annotator their labels in force and gold pairs seen.

    Not thread-safe on its own: the queue calls it with its lock held.
    """

    def __init__(
        self,
        every: int = 0,
        pairs: dict[str, ServedPair] | None = None,
        labelled: dict[str, int] | None = None,
        seen: dict[str, set[str]] | None = None,
    ) -> None:
        self.every = every
        self.pairs = pairs or {}  # gold pair id -> the pair (sides as stored)
        self._order = sorted(self.pairs)
        self._labelled = labelled or {}  # annotator -> labels in force
        self._seen = seen or {}  # annotator -> gold pairs served to or labelled by them

    @classmethod
    def load(cls, store: Store) -> GoldMix:
        """The gold pairs, the rate and, when there is gold, everyone's counts from the store."""
        ids = [
            pair_id
            for (pair_id,) in store.con.execute(
                "SELECT g.pair_id FROM gold_pairs g JOIN pairs p ON p.id = g.pair_id"
            ).fetchall()
        ]
        if not ids:
            return cls(get_gold_every(store))
        labelled = dict(
            store.con.execute(
                "SELECT annotator, count(*) FROM current_labels GROUP BY annotator"
            ).fetchall()
        )
        seen: dict[str, set[str]] = {}
        for annotator, pair_id in store.con.execute(
            "SELECT DISTINCT annotator, pair_id FROM labels "
            "WHERE pair_id IN (SELECT pair_id FROM gold_pairs)"
        ).fetchall():
            seen.setdefault(annotator, set()).add(pair_id)
        return cls(get_gold_every(store), load_served_pairs(store, ids), labelled, seen)

    def is_gold(self, pair_id: str) -> bool:
        return pair_id in self.pairs

    def due(self, annotator: str) -> ServedPair | None:
        """The gold pair to serve `annotator` now (counted as seen), or None."""
        if not self.every or not self.pairs:
            return None
        seen = self._seen.setdefault(annotator, set())
        if (self._labelled.get(annotator, 0) + 1) // self.every <= len(seen):
            return None
        for pair_id in self._order:
            if pair_id not in seen:
                seen.add(pair_id)
                return self.pairs[pair_id]
        return None

    def count_labels(self, annotator: str, change: int) -> None:
        """`annotator` gained (or, negative, lost) labels in force."""
        self._labelled[annotator] = self._labelled.get(annotator, 0) + change
