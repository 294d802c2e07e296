"""Gold pairs: pairs an admin gave a known answer, mixed into annotators' queues to score them.

An answer is `a`, `b`, `tie` or `both_bad`, relative to the pair's response_a/response_b as a
stored label's choice is. Marking, unmarking and a new rate reach a running queue at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from curation.errors import NotFound, PrefstudioError
from curation.io.importer import ImportReport
from curation.labelling.gold_mix import GOLD_EVERY_KEY, GoldRate, get_gold_every
from curation.labelling.queue import gold_changed
from curation.results import Fields
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
class GoldPair(Fields):
    """A gold pair: the pair, its expected answer, who marked it and when."""

    pair_id: str
    answer: str
    marked_by: str
    created: str

    def text(self) -> str:
        """What marking it says."""
        return f"{self.pair_id}: gold, answer {self.answer}"

    def line(self) -> str:
        """Its line in the list of gold pairs."""
        return f"{self.pair_id}  {self.answer:<8}  {self.marked_by:<20}  {self.created}"


@dataclass(frozen=True)
class UnmarkedGold(GoldPair):
    """A pair that was gold until now, as it was."""

    def text(self) -> str:
        return f"{self.pair_id}: no longer gold"


@dataclass(frozen=True)
class GoldListing:
    """Every gold pair, and the rate they are served at."""

    gold: list[GoldPair]
    rate: GoldRate

    def to_dict(self) -> dict:
        return {"gold": [pair.to_dict() for pair in self.gold], **self.rate.to_dict()}

    def text(self) -> str:
        lines = [self.rate.text(), *(pair.line() for pair in self.gold)]
        return "\n".join(lines if self.gold else [*lines, "no gold pairs yet"])


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


def remove_gold(store: Store, pair_id: str) -> UnmarkedGold:
    """Unmark a gold pair (its labels stay); return what it was. GoldPairNotFound if not gold."""
    removed = UnmarkedGold(**_gold_pair(store, pair_id).to_dict())
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


def gold_listing(store: Store) -> GoldListing:
    """Every gold pair, oldest mark first, with the rate they are served at."""
    return GoldListing(list_gold(store), GoldRate(get_gold_every(store)))


def _gold_pair(store: Store, pair_id: str) -> GoldPair:
    row = fetch_one(store.con, f"SELECT {_COLUMNS} FROM gold_pairs WHERE pair_id = ?", [pair_id])
    if row is None:
        raise GoldPairNotFound(f"pair {pair_id!r} is not a gold pair")
    return GoldPair(*row)


def set_gold_every(store: Store, every: int) -> GoldRate:
    """Serve one gold pair in every `every` pairs an annotator labels (0: none); return it."""
    if isinstance(every, bool) or not isinstance(every, int) or not 0 <= every <= MAX_GOLD_EVERY:
        raise GoldError(
            f"the gold rate must be a whole number from 0 (off) to {MAX_GOLD_EVERY}, got {every!r}"
        )
    set_setting(store, GOLD_EVERY_KEY, every)
    gold_changed(store)
    return GoldRate(every)


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
