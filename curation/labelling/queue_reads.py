"""Reading what the labelling queue needs from the store, by index: pairs as served, labels
in force, and stretches of the serving order.

Each read touches only the rows it names (an ordered range, or ids looked up in an index), so
its cost does not grow with the store.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from curation.store.store import Store, fetch_value

# Pairs with `overlap` annotators' votes already (skips do not count towards the overlap).
FULL_PAIRS = (
    "SELECT pair_id FROM current_labels WHERE choice <> 'skip' "
    "GROUP BY pair_id HAVING count(DISTINCT annotator) >= $overlap"
)
# DuckDB looks ids of an `IN (?, ...)` list up in the table's index; `= ANY($list)` turns into
# a join over the whole table beyond a few dozen ids. Lookups go in chunks of this many.
_LOOKUP_CHUNK = 256
# A serving key orders the pool: (tier, then within it) with tier 0 the positive priorities
# (higher first), 1 the serving order (by position), 2 the negative priorities.
Key = tuple[int, float, str]


@dataclass
class ServedPair:
    """A pair as one annotator sees it: the conversation and two anonymous responses.

    `left`/`right` are the responses in the order shown; `shown_order` is `ab` when the left
    one is the pair's response_a, `ba` when sides were swapped.
    """

    pair_id: str
    prompt_id: str
    messages: list[dict]
    left: str
    right: str
    shown_order: str
    left_id: str
    right_id: str
    served_at: float = 0.0

    def public(self) -> dict:
        """What a client may see: no response ids, models, sources or others' labels."""
        return {
            "pair_id": self.pair_id,
            "prompt": self.messages,
            "a": self.left,
            "b": self.right,
        }

    def oriented(self, shown_order: str) -> ServedPair:
        """A copy with the sides in `shown_order` (`ab`: response_a on the left)."""
        if shown_order == self.shown_order:
            return replace(self)
        return replace(
            self,
            left=self.right,
            right=self.left,
            left_id=self.right_id,
            right_id=self.left_id,
            shown_order=shown_order,
        )


def _lookup(store: Store, select: str, column: str, ids: list, extra: str = "") -> list[tuple]:
    """Rows of `select ... WHERE column IN ids extra`, looked up by index in chunks."""
    rows = []
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        marks = ", ".join(["?"] * len(chunk))
        rows += store.con.execute(f"{select} WHERE {column} IN ({marks}) {extra}", chunk).fetchall()
    return rows


def load_served_pairs(store: Store, pair_ids: list[str]) -> dict[str, ServedPair]:
    """The conversations and responses of pairs, sides as stored (`ab`), by index lookups."""
    rows = _lookup(store, "SELECT id, prompt_id, response_a, response_b FROM pairs", "id", pair_ids)
    prompt_ids = list({row[1] for row in rows})
    prompts = dict(_lookup(store, "SELECT id, messages FROM prompts", "id", prompt_ids))
    response_ids = list({rid for row in rows for rid in row[2:]})
    texts = dict(_lookup(store, "SELECT id, text FROM responses", "id", response_ids))
    return {
        pair_id: ServedPair(
            pair_id=pair_id,
            prompt_id=prompt_id,
            messages=json.loads(prompts[prompt_id]),
            left=texts[response_a],
            right=texts[response_b],
            shown_order="ab",
            left_id=response_a,
            right_id=response_b,
        )
        for pair_id, prompt_id, response_a, response_b in rows
    }


def labels_in_force(store: Store, pair_ids: list[str]) -> dict[str, dict[str, bool]]:
    """pair id -> annotator -> whether their label in force is a vote (not a skip).

    Reads the pairs' label rows by index and drops the retracted ones (an undo row names the
    label it retracts and belongs to the same pair), as the `current_labels` view does.
    """
    select = "SELECT id, pair_id, annotator, choice, supersedes FROM labels"
    rows = _lookup(store, select, "pair_id", pair_ids)
    retracted = {row[4] for row in rows if row[4] is not None}
    labelled: dict[str, dict[str, bool]] = {}
    for label_id, pair_id, annotator, choice, _ in rows:
        if choice is not None and label_id not in retracted:
            known = labelled.setdefault(pair_id, {})
            known[annotator] = known.get(annotator, False) or choice != "skip"
    return labelled


def scan_tier(
    store: Store, tier: int, after: Key | None, limit: int
) -> tuple[list, Key | None, bool]:
    """The next `limit` (key, pair id) of a serving tier after the key `after` (None: from its
    start); returns (rows, the last key read, whether more may follow).

    Tier 1 reads the serving order by position, leaving out pairs with a priority; tiers
    0 and 2 read the positive and negative priorities, higher first.
    """
    if tier == 1:
        rows = store.con.execute(
            "SELECT pair_id, position FROM queue WHERE position > ? ORDER BY position LIMIT ?",
            [after[1], limit],
        ).fetchall()
        keyed = [((1, position, ""), pair_id) for pair_id, position in rows]
        lifted = prioritised(store, [pair_id for pair_id, _ in rows])
        kept = [row for row in keyed if row[1] not in lifted]
    else:
        since = "" if after is None else "AND (priority < ? OR (priority = ? AND pair_id > ?))"
        params = [] if after is None else [-after[1], -after[1], after[2]]
        rows = store.con.execute(
            "SELECT pair_id, priority FROM queue_priorities "
            f"WHERE priority {'>' if tier == 0 else '<'} 0 {since} "
            "ORDER BY priority DESC, pair_id LIMIT ?",
            [*params, limit],
        ).fetchall()
        keyed = kept = [((tier, -priority, pair_id), pair_id) for pair_id, priority in rows]
    last = keyed[-1][0] if keyed else after
    return kept, last, len(rows) == limit


def prioritised(store: Store, pair_ids: list[str]) -> set[str]:
    """Which of these pairs have a priority other than 0 (served in tier 0 or 2)."""
    select = "SELECT pair_id FROM queue_priorities"
    rows = _lookup(store, select, "pair_id", pair_ids, "AND priority <> 0")
    return {pair_id for (pair_id,) in rows}


def keys_behind(store: Store, pair_ids: list[str], cursor: Key) -> list[tuple[Key, str]]:
    """(key, pair id) of the pairs without a priority whose serving key is at most `cursor`."""
    rows = _lookup(store, "SELECT pair_id, position FROM queue", "pair_id", pair_ids)
    lifted = prioritised(store, pair_ids)
    keyed = [((1, position, ""), pair_id) for pair_id, position in rows]
    return [(key, pid) for key, pid in keyed if key <= cursor and pid not in lifted]


def first_open_position(store: Store, overlap: int, after: int = 0) -> int:
    """The serving position just before the first pair after `after` that still lacks votes
    (the last position when none does)."""
    return fetch_value(
        store.con,
        "SELECT coalesce((SELECT min(position) FROM queue WHERE position > $after"
        f" AND pair_id NOT IN ({FULL_PAIRS})) - 1, (SELECT max(position) FROM queue), 0)",
        {"overlap": overlap, "after": after},
    )
