"""Recording human judgements: votes on pairs, undo, edits, thumbs and rankings.

Labels are append-only: undo adds a row that supersedes the undone one. Every function commits
its write before returning, so whatever a client was told is stored survives a crash.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from concurrent.futures import Future
from dataclasses import dataclass
from itertools import combinations
from queue import SimpleQueue

from curation.io import content_ids
from curation.labelling.annotation_errors import LabelError
from curation.labelling.queue import note_votes, queue_for
from curation.labelling.queue_reads import ServedPair, load_served_pairs
from curation.store.store import Store, fetch_one, fetch_value

CHOICES = ("a", "b", "tie", "both_bad", "skip")
STRENGTHS = ("slight", "clear")
MAX_RATIONALE = 5_000
EDIT_SOURCE = "human-edit"
RANKING_ORIGIN = "ranking"


@dataclass(frozen=True)
class RecordedLabel:
    """A stored label: its id, the pair, and the choice as stored (relative to response_a/b)."""

    label_id: int
    pair_id: str
    choice: str


def _stored_choice(choice_shown: str, shown_order: str) -> str:
    """Map a vote on the sides as shown (a = left) to the pair's own response_a/response_b."""
    if shown_order == "ba" and choice_shown in ("a", "b"):
        return "b" if choice_shown == "a" else "a"
    return choice_shown


def _check_vote(choice: str, strength: str | None, rationale: str | None) -> None:
    if choice not in CHOICES:
        raise LabelError(f"choice {choice!r} is not valid; choose from {', '.join(CHOICES)}")
    if strength is not None and strength not in STRENGTHS:
        raise LabelError(f"strength {strength!r} is not valid; choose slight or clear")
    if strength is not None and choice not in ("a", "b"):
        raise LabelError("a strength goes only with a vote for a or b")
    if rationale is not None and len(rationale) > MAX_RATIONALE:
        raise LabelError(f"rationale is longer than {MAX_RATIONALE} characters")


def submit_label(
    store: Store,
    annotator: str,
    pair_id: str,
    choice: str,
    *,
    strength: str | None = None,
    rationale: str | None = None,
) -> Future:
    """Queue `annotator`'s vote on the pair the queue is showing them, sides as shown.

    `choice` is a, b (the left or right response as shown), tie, both_bad or skip. The pair
    must be the one last served to this annotator. Returns a Future that gives the
    RecordedLabel once the vote is committed (or the error that stopped it); in the meantime
    a second vote on that pair is refused. Only memory work happens here, so async code may
    call it and await the Future.
    """
    _check_vote(choice, strength, rationale)
    queue = queue_for(store)
    served = queue.begin_label(annotator, pair_id)
    if served is None:
        raise LabelError(
            f"pair {pair_id} is not the pair being shown to {annotator}; fetch the next pair first"
        )
    stored = _stored_choice(choice, served.shown_order)
    ms_spent = int((time.monotonic() - served.served_at) * 1000) if served.served_at else None
    row = [pair_id, annotator, stored, strength, rationale or None, served.shown_order, ms_spent]
    return _writer_for(store).submit(row, served, voted=choice != "skip")


def record_label(
    store: Store, annotator: str, pair_id: str, choice: str, **details: str | None
) -> RecordedLabel:
    """Record `annotator`'s vote as submit_label does (`strength`, `rationale`); return it
    once committed."""
    return submit_label(store, annotator, pair_id, choice, **details).result()


_INSERT_VOTES = (
    "INSERT INTO labels (pair_id, annotator, choice, strength, rationale, shown_order, ms_spent)"
)


@dataclass
class _Vote:
    """A vote waiting for the writer: its row, the pair shown, and who waits for it."""

    row: list
    served: ServedPair
    voted: bool
    done: Future


class _LabelWriter:
    """Commits votes arriving from many threads together: one transaction per batch.

    One thread owns the writes. Votes that arrive while a transaction commits go together
    into the next one (group commit), so concurrent annotators share a commit instead of
    queueing for one each. A vote's Future is resolved only after its transaction committed
    and the queue has moved its annotator on.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.queue = queue_for(store)
        self._pending: SimpleQueue = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="label-writer", daemon=True)
        self._thread.start()
        store.on_close(self.stop)

    def submit(self, row: list, served: ServedPair, *, voted: bool) -> Future:
        """Queue one vote row; the Future gives its RecordedLabel once committed.

        The Future cannot be cancelled: a queued vote is committed even if nobody waits for it
        any more (a client that went away).
        """
        vote = _Vote(row, served, voted, Future())
        vote.done.set_running_or_notify_cancel()
        self._pending.put(vote)
        return vote.done

    def stop(self) -> None:
        self._pending.put(None)
        self._thread.join()

    def _run(self) -> None:
        while (first := self._pending.get()) is not None:
            batch = [first]
            while len(batch) < 256 and not self._pending.empty():
                item = self._pending.get()
                if item is None:
                    self._pending.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Vote]) -> None:
        try:
            values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(batch))
            # One statement, committed on its own (all rows or none): an explicit transaction
            # around it would only add two round trips to every vote.
            inserted = self.store.con.execute(
                f"{_INSERT_VOTES} VALUES {values} RETURNING pair_id, annotator, id",
                [value for vote in batch for value in vote.row],
            ).fetchall()
            by_key = {(pair_id, annotator): label_id for pair_id, annotator, label_id in inserted}
            ids = [by_key[(vote.row[0], vote.row[1])] for vote in batch]
        except Exception as error:
            if len(batch) == 1:
                vote = batch[0]
                self.queue.cancel_label(vote.row[1], vote.served)
                vote.done.set_exception(error)
            else:  # keep one bad row from failing the others
                for vote in batch:
                    self._commit([vote])
            return
        for vote, label_id in zip(batch, ids, strict=True):
            pair_id, annotator, stored = vote.row[:3]
            self.queue.finish(annotator, pair_id, voted=vote.voted)
            vote.done.set_result(RecordedLabel(label_id, pair_id, stored))


_writers: weakref.WeakKeyDictionary[Store, _LabelWriter] = weakref.WeakKeyDictionary()
_writers_lock = threading.Lock()


def _writer_for(store: Store) -> _LabelWriter:
    with _writers_lock:
        if store not in _writers:
            _writers[store] = _LabelWriter(store)
        return _writers[store]


def undo_last(store: Store, annotator: str) -> ServedPair | None:
    """Retract `annotator`'s latest label in force and serve that pair to them again.

    Adds a row superseding the label (nothing is changed in place). Returns the pair to show,
    or None when the annotator has no label to undo.
    """
    with store.transaction() as con:
        last = fetch_one(
            con,
            "SELECT id, pair_id, shown_order FROM current_labels WHERE annotator = ? "
            "AND pair_id IN (SELECT id FROM pairs) ORDER BY id DESC LIMIT 1",
            [annotator],
        )
        if last is None:
            return None
        label_id, pair_id, shown_order = last
        con.execute(
            "INSERT INTO labels (pair_id, annotator, choice, supersedes) VALUES (?, ?, NULL, ?)",
            [pair_id, annotator, label_id],
        )
    pair = load_served_pairs(store, [pair_id])[pair_id].oriented(shown_order or "ab")
    queue = queue_for(store)
    queue.forget_label(annotator, pair_id)
    queue.serve_again(annotator, pair)
    return pair


def record_edit(store: Store, annotator: str, response_id: str, new_text: str) -> RecordedLabel:
    """Store an annotator's rewrite of a response as a new, better response.

    Adds the response (source `human-edit`), a pair of it and the original, and the
    annotator's label that the edit wins. Raises LabelError if the text is empty or unchanged.
    """
    new_text = new_text.strip()
    if not new_text:
        raise LabelError("the edited response is empty")
    with store.transaction() as con:
        original = fetch_one(
            con, "SELECT prompt_id, text FROM responses WHERE id = ?", [response_id]
        )
        if original is None:
            raise LabelError(f"no response {response_id} to edit")
        prompt_id, old_text = original
        if new_text == old_text.strip():
            raise LabelError("the edit does not change the response")
        edited_id = content_ids.response_id(prompt_id, new_text)
        meta = json.dumps({"edited_from": response_id, "editor": annotator})
        con.execute(
            "INSERT OR IGNORE INTO responses (id, prompt_id, text, source, meta) "
            "VALUES (?, ?, ?, ?, ?)",
            [edited_id, prompt_id, new_text, EDIT_SOURCE, meta],
        )
        pair_id = content_ids.pair_id(edited_id, response_id)
        con.execute(
            "INSERT OR IGNORE INTO pairs (id, prompt_id, response_a, response_b, origin) "
            "VALUES (?, ?, ?, ?, ?)",
            [pair_id, prompt_id, edited_id, response_id, EDIT_SOURCE],
        )
        label = _insert_label(con, pair_id, annotator, winner=edited_id, rationale="edited")
    note_votes(store, [pair_id], annotator)
    return label


def _insert_label(
    con, pair_id: str, annotator: str, *, winner: str, rationale: str
) -> RecordedLabel:
    """Insert a clear vote for `winner` on `pair_id`, whichever side of the pair it is."""
    response_a = fetch_value(con, "SELECT response_a FROM pairs WHERE id = ?", [pair_id])
    choice = "a" if response_a == winner else "b"
    label_id = fetch_value(
        con,
        "INSERT INTO labels (pair_id, annotator, choice, strength, rationale) "
        "VALUES (?, ?, ?, 'clear', ?) RETURNING id",
        [pair_id, annotator, choice, rationale],
    )
    return RecordedLabel(label_id, pair_id, choice)


def record_thumb(store: Store, annotator: str, response_id: str, thumb: bool) -> int:
    """Record a thumbs up (True) or down (False) on one response; return the rating id."""
    with store.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM responses WHERE id = ?", [response_id]) is None:
            raise LabelError(f"no response {response_id} to rate")
        return fetch_value(
            con,
            "INSERT INTO ratings (response_id, annotator, thumb) VALUES (?, ?, ?) RETURNING id",
            [response_id, annotator, bool(thumb)],
        )


def next_response_to_rate(store: Store, annotator: str) -> dict | None:
    """A response `annotator` has not rated, least-rated first: {response_id, prompt, text}."""
    row = fetch_one(
        store.con,
        "SELECT r.id, p.messages, r.text FROM responses r JOIN prompts p ON p.id = r.prompt_id "
        "LEFT JOIN (SELECT response_id, count(*) AS n, bool_or(annotator = $me) AS mine "
        "           FROM ratings GROUP BY response_id) k ON k.response_id = r.id "
        "WHERE NOT coalesce(k.mine, false) ORDER BY coalesce(k.n, 0), hash(r.id) LIMIT 1",
        {"me": annotator},
    )
    if row is None:
        return None
    return {"response_id": row[0], "prompt": json.loads(row[1]), "text": row[2]}


def next_prompt_to_rank(store: Store, annotator: str, *, at_least: int = 3) -> dict | None:
    """A prompt with `at_least` responses that `annotator` has not ranked yet, with them."""
    row = fetch_one(
        store.con,
        "SELECT p.id, p.messages, list(r.id ORDER BY hash(r.id)), list(r.text ORDER BY hash(r.id)) "
        "FROM prompts p JOIN responses r ON r.prompt_id = p.id "
        "WHERE p.id NOT IN (SELECT prompt_id FROM rankings WHERE annotator = $me) "
        "GROUP BY p.id, p.messages HAVING count(*) >= $n "
        "ORDER BY (SELECT count(*) FROM rankings k WHERE k.prompt_id = p.id), hash(p.id) LIMIT 1",
        {"me": annotator, "n": at_least},
    )
    if row is None:
        return None
    return {
        "prompt_id": row[0],
        "prompt": json.loads(row[1]),
        "responses": [
            {"response_id": rid, "text": text} for rid, text in zip(row[2], row[3], strict=True)
        ],
    }


def record_ranking(store: Store, annotator: str, prompt_id: str, best_first: list[str]) -> int:
    """Store a ranking of 3+ responses of one prompt and expand it into pairs with labels.

    Every two ranked responses become a pair (created when new, origin `ranking`) with a
    label by `annotator` for the higher-ranked one. Returns the ranking id.
    """
    if len(best_first) < 3 or len(set(best_first)) != len(best_first):
        raise LabelError("a ranking needs 3 or more different responses, best first")
    with store.transaction() as con:
        known = fetch_value(
            con,
            "SELECT count(*) FROM responses WHERE prompt_id = ? AND id = ANY(?)",
            [prompt_id, best_first],
        )
        if known != len(best_first):
            raise LabelError(f"every ranked response must be a response to prompt {prompt_id}")
        ranking_id = fetch_value(
            con,
            "INSERT INTO rankings (prompt_id, annotator, response_ids) VALUES (?, ?, ?) RETURNING id",
            [prompt_id, annotator, json.dumps(best_first)],
        )
        pair_ids = []
        for better, worse in combinations(best_first, 2):
            pair_id = content_ids.pair_id(better, worse)
            pair_ids.append(pair_id)
            con.execute(
                "INSERT OR IGNORE INTO pairs (id, prompt_id, response_a, response_b, origin) "
                "VALUES (?, ?, ?, ?, ?)",
                [pair_id, prompt_id, better, worse, RANKING_ORIGIN],
            )
            _insert_label(con, pair_id, annotator, winner=better, rationale=f"ranking {ranking_id}")
    note_votes(store, pair_ids, annotator)
    return ranking_id


def annotator_progress(store: Store, annotator: str) -> dict:
    """{done, assigned} for an annotator: labels in force, and those plus pairs still open to them."""
    from curation.labelling.queue import get_overlap

    done, still_open = fetch_one(
        store.con,
        "SELECT (SELECT count(*) FROM current_labels WHERE annotator = $me AND pair_id IN"
        "          (SELECT id FROM pairs)),"
        " (SELECT count(*) FROM pairs p WHERE NOT EXISTS (SELECT 1 FROM current_labels l"
        "   WHERE l.pair_id = p.id AND l.annotator = $me) AND p.id NOT IN (SELECT pair_id FROM"
        "   current_labels WHERE choice <> 'skip' GROUP BY pair_id"
        "   HAVING count(DISTINCT annotator) >= $k))",
        {"me": annotator, "k": get_overlap(store)},
    )
    return {"done": done, "assigned": done + still_open}
