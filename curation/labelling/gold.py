"""Gold pairs: pairs an admin gave a known answer, mixed into annotators' queues to score them.

An answer is `a`, `b`, `tie` or `both_bad`, relative to the pair's response_a/response_b as a
stored label's choice is. Marking, unmarking and a new rate reach a running queue at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from curation.errors import NotFound, PrefstudioError
from curation.io.importer import ImportReport
from curation.labelling.gold_mix import GOLD_EVERY_KEY
from curation.labelling.queue import gold_changed
from curation.store.settings import set_setting
from curation.store.store import Store, fetch_one

GOLD_ANSWERS = ("a", "b", "tie", "both_bad")
MAX_GOLD_EVERY = 1000
_COLUMNS = "pair_id, answer, marked_by, strftime(created, '%Y-%m-%d %H:%M')"


class GoldError(PrefstudioError):
    """A pair cannot be marked as gold as asked (a bad answer or rate)."""


class GoldPairNotFound(GoldError, NotFound):
    """The pair named is not stored, or is not a gold pair."""


@dataclass(frozen=True)
class GoldPair:
    """A gold pair: the pair, its expected answer, who marked it and when."""

    pair_id: str
    answer: str
    marked_by: str
    created: str

    def to_dict(self) -> dict:
        return asdict(self)


def add_gold(store: Store, pair_id: str, answer: str, marked_by: str) -> GoldPair:
    """Mark `pair_id` as gold with `answer` (replacing an earlier answer); return it.

    Raises GoldError for a bad answer, GoldPairNotFound for a pair that is not stored.
    """
    if answer not in GOLD_ANSWERS:
        raise GoldError(f"answer {answer!r} is not valid; choose from {', '.join(GOLD_ANSWERS)}")
    with store.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM pairs WHERE id = ?", [pair_id]) is None:
            raise GoldPairNotFound(f"no pair {pair_id!r} in the store")
        con.execute(
            "INSERT OR REPLACE INTO gold_pairs (pair_id, answer, marked_by) VALUES (?, ?, ?)",
            [pair_id, answer, marked_by],
        )
    gold_changed(store)
    return _gold_pair(store, pair_id)


def remove_gold(store: Store, pair_id: str) -> GoldPair:
    """Unmark a gold pair (its labels stay); return what it was. GoldPairNotFound if not gold."""
    removed = _gold_pair(store, pair_id)
    with store.transaction() as con:
        con.execute("DELETE FROM gold_pairs WHERE pair_id = ?", [pair_id])
    gold_changed(store)
    return removed


def list_gold(store: Store) -> list[GoldPair]:
    """Every gold pair, oldest mark first."""
    rows = store.con.execute(
        f"SELECT {_COLUMNS} FROM gold_pairs ORDER BY created, pair_id"
    ).fetchall()
    return [GoldPair(*row) for row in rows]


def _gold_pair(store: Store, pair_id: str) -> GoldPair:
    row = fetch_one(store.con, f"SELECT {_COLUMNS} FROM gold_pairs WHERE pair_id = ?", [pair_id])
    if row is None:
        raise GoldPairNotFound(f"pair {pair_id!r} is not a gold pair")
    return GoldPair(*row)


def set_gold_every(store: Store, every: int) -> int:
    """Serve one gold pair in every `every` pairs an annotator labels (0: none); return it."""
    if isinstance(every, bool) or not isinstance(every, int) or not 0 <= every <= MAX_GOLD_EVERY:
        raise GoldError(
            f"the gold rate must be a whole number from 0 (off) to {MAX_GOLD_EVERY}, got {every!r}"
        )
    set_setting(store, GOLD_EVERY_KEY, every)
    gold_changed(store)
    return every


def mark_imported_gold(store: Store, report: ImportReport) -> int:
    """Mark the labelled pairs of an import as gold, the imported label as the answer.

    `report` comes from `import_paths(..., list_prompts=True)`: the pairs are those of its
    records' prompts that carry a label by one of its sources (`import:<source>`); a pair's
    latest such label is its answer. Returns how many pairs were marked.
    """
    sources = sorted({f"import:{f.source}" for f in report.files})
    if not sources or not report.prompt_ids:
        return 0
    with store.transaction() as con:
        marked = con.execute(
            """INSERT OR REPLACE INTO gold_pairs (pair_id, answer, marked_by)
            SELECT l.pair_id, arg_max(l.choice, l.id), arg_max(l.annotator, l.id)
            FROM current_labels l JOIN pairs p ON p.id = l.pair_id
            WHERE l.annotator IN (SELECT unnest($sources))
              AND p.prompt_id IN (SELECT unnest($prompts))
              AND l.choice IN ('a', 'b', 'tie', 'both_bad')
            GROUP BY l.pair_id""",
            {"sources": sources, "prompts": list(set(report.prompt_ids))},
        ).fetchall()[0][0]
    gold_changed(store)
    return int(marked)
