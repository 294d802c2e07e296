"""The labelling queue: which pair each annotator sees next.

Every pair has a serving position in `queue` (appended in arrival batches, shuffled within a
batch); `queue_priorities` lifts chosen pairs ahead, higher first. Each pair goes to `overlap`
distinct annotators, nobody gets a pair twice, and nobody sees anyone else's labels. A pair
handed out is claimed by its annotator for a lease, so two annotators do not get the last slot
of one pair. Each annotator has a small prefetched batch, refilled by one indexed query, so
serving the next pair is a memory operation.
"""

from __future__ import annotations

import json
import random
import threading
import time
import weakref
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import pandas as pd

from curation.annotation_errors import LabelError
from curation.store import Store, fetch_value

OVERLAP_KEY = "labelling.overlap"
MAX_OVERLAP = 50
# Pairs with `overlap` annotators' votes already (skips do not count towards the overlap).
_FULL = (
    "SELECT pair_id FROM current_labels WHERE choice <> 'skip' "
    "GROUP BY pair_id HAVING count(DISTINCT annotator) >= $overlap"
)


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


@dataclass
class _Annotator:
    """One annotator's queue state: the shown pair, the prefetched batch, the scan position."""

    current: ServedPair | None = None
    batch: deque = field(default_factory=deque)
    cursor: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    refill: Future | None = None  # a background refill in flight


def get_overlap(store: Store) -> int:
    """How many distinct annotators each pair goes to (default 1)."""
    value = fetch_value(store.con, "SELECT value FROM settings WHERE key = ?", [OVERLAP_KEY])
    return int(json.loads(value)) if value is not None else 1


def set_overlap(store: Store, overlap: int) -> int:
    """Set how many distinct annotators each pair goes to; raise LabelError if out of range."""
    if not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP:
        raise LabelError(f"overlap must be a whole number from 1 to {MAX_OVERLAP}, got {overlap!r}")
    with store.transaction() as con:
        con.execute(
            "INSERT OR REPLACE INTO settings (key, value, updated) VALUES (?, ?, now())",
            [OVERLAP_KEY, json.dumps(overlap)],
        )
    return overlap


def sync_queue(store: Store) -> int:
    """Give pairs without a serving position one after the last, shuffled; return how many."""
    pairs = fetch_value(store.con, "SELECT count(*) FROM pairs")
    queued = fetch_value(store.con, "SELECT count(*) FROM queue")
    if pairs == queued:
        return 0
    with store.transaction() as con:
        con.execute(
            "INSERT INTO queue (pair_id, position) "
            "SELECT id, (SELECT coalesce(max(position), 0) FROM queue) "
            "  + row_number() OVER (ORDER BY hash(id || $seed)) "
            "FROM pairs WHERE id NOT IN (SELECT pair_id FROM queue)",
            {"seed": str(random.random())},
        )
        added = fetch_value(con, "SELECT count(*) FROM queue") - queued
    return added


def set_priorities(store: Store, rows: pd.DataFrame) -> int:
    """Set serving priorities: rows of (pair_id, priority, reason); higher is served first.

    Pairs without a priority count as 0. A later call replaces a pair's earlier priority.
    Raises LabelError for missing columns, non-numeric priorities or unknown pair ids.
    """
    missing = {"pair_id", "priority", "reason"} - set(rows.columns)
    if missing:
        raise LabelError(f"priorities need the columns {', '.join(sorted(missing))}")
    frame = rows[["pair_id", "priority", "reason"]].copy()
    try:
        frame["priority"] = frame["priority"].astype("float64")
    except (TypeError, ValueError) as error:
        raise LabelError(f"priorities must be numbers: {error}") from None
    frame["pair_id"] = frame["pair_id"].astype(str)
    frame["reason"] = frame["reason"].astype("string")
    frame = frame.drop_duplicates("pair_id", keep="last")
    with store.transaction() as con:
        con.register("ps_new_priorities", frame)
        try:
            unknown = fetch_value(
                con,
                "SELECT count(*) FROM ps_new_priorities WHERE pair_id NOT IN (SELECT id FROM pairs)",
            )
            if unknown:
                raise LabelError(f"{unknown} of the {len(frame)} priorities name no stored pair")
            con.execute(
                "INSERT OR REPLACE INTO queue_priorities (pair_id, priority, reason, updated) "
                "SELECT pair_id, priority, reason, now() FROM ps_new_priorities"
            )
        finally:
            con.unregister("ps_new_priorities")
    queue = _queues.get(store)
    if queue is not None:
        queue.restart_scans()
    return len(frame)


def load_served_pairs(store: Store, pair_ids: list[str]) -> dict[str, ServedPair]:
    """The conversations and responses of pairs, each with a random left/right order."""
    if not pair_ids:
        return {}
    rows = store.con.execute(
        "SELECT id, prompt_id, response_a, response_b FROM pairs WHERE id = ANY($ids)",
        {"ids": pair_ids},
    ).fetchall()
    prompt_ids = list({row[1] for row in rows})
    response_ids = list({rid for row in rows for rid in row[2:]})
    prompts = dict(
        store.con.execute(
            "SELECT id, messages FROM prompts WHERE id = ANY($ids)", {"ids": prompt_ids}
        ).fetchall()
    )
    texts = dict(
        store.con.execute(
            "SELECT id, text FROM responses WHERE id = ANY($ids)", {"ids": response_ids}
        ).fetchall()
    )
    served = {}
    for pair_id, prompt_id, response_a, response_b in rows:
        swap = random.random() < 0.5
        left, right = (response_b, response_a) if swap else (response_a, response_b)
        served[pair_id] = ServedPair(
            pair_id=pair_id,
            prompt_id=prompt_id,
            messages=json.loads(prompts[prompt_id]),
            left=texts[left],
            right=texts[right],
            shown_order="ba" if swap else "ab",
            left_id=left,
            right_id=right,
        )
    return served


class LabelQueue:
    """Serves pairs to annotators from one store; safe to share between a server's threads."""

    def __init__(self, store: Store, *, batch: int = 24, lease_seconds: float = 900.0) -> None:
        self.store = store
        self.batch = batch
        self.lease_seconds = lease_seconds
        self._annotators: dict[str, _Annotator] = {}
        self._claims: dict[str, dict[str, float]] = {}  # pair id -> annotator -> lease end
        self._reserved: dict[str, str] = {}  # pair id -> annotator who prefetched it
        # pair id -> annotator -> whether their label in force is a vote (not a skip), for the
        # pairs handed out since start; kept current by finish() and forget_label().
        self._labelled: dict[str, dict[str, bool]] = {}
        self._overlap = get_overlap(store)
        self._lock = threading.Lock()
        self._refiller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-refill")
        store.on_close(lambda: self._refiller.shutdown(wait=True, cancel_futures=True))

    def _state(self, annotator: str) -> _Annotator:
        with self._lock:
            return self._annotators.setdefault(annotator, _Annotator())

    def next_pair(self, annotator: str) -> ServedPair | None:
        """The pair `annotator` should label now (the same one until it is labelled), or None."""
        state = self._state(annotator)
        with state.lock:
            if state.current is None:
                state.current = self._take(annotator, state)
            elif not self._claim(state.current.pair_id, annotator, renew=True):
                state.current = self._take(annotator, state)  # its lease ran out and was taken
            return state.current

    def current(self, annotator: str) -> ServedPair | None:
        """The pair last served to `annotator` and not yet labelled."""
        return self._state(annotator).current

    def finish(self, annotator: str, pair_id: str, *, voted: bool = True) -> None:
        """`annotator` labelled `pair_id` (`voted` False for a skip): release it and move on."""
        state = self._state(annotator)
        with state.lock:
            if state.current is not None and state.current.pair_id == pair_id:
                state.current = None
        with self._lock:
            self._claims.get(pair_id, {}).pop(annotator, None)
            if pair_id in self._labelled:
                self._labelled[pair_id][annotator] = voted

    def forget_label(self, annotator: str, pair_id: str) -> None:
        """`annotator`'s label on `pair_id` was undone."""
        with self._lock:
            self._labelled.get(pair_id, {}).pop(annotator, None)

    def serve_again(self, annotator: str, pair: ServedPair) -> None:
        """Show `pair` to `annotator` next (after an undo), ahead of the rest of their batch."""
        state = self._state(annotator)
        with state.lock:
            if state.current is not None:
                state.batch.appendleft(state.current)
            pair.served_at = time.monotonic()
            state.current = pair
            self._claim(pair.pair_id, annotator, renew=True)

    def restart_scans(self) -> None:
        """Let every annotator's next refill scan from the start (after priorities change)."""
        with self._lock:
            states = list(self._annotators.values())
        for state in states:
            state.cursor = 0

    def _claim(self, pair_id: str, annotator: str, *, renew: bool = False) -> bool:
        """Claim `pair_id` for `annotator` for a lease if the overlap leaves room; say if it did.

        Room means: distinct annotators with a vote in force plus others holding a live lease
        stay below the overlap. `renew` extends a lease the annotator still holds.
        """
        now = time.monotonic()
        with self._lock:
            holders = self._claims.setdefault(pair_id, {})
            if renew and holders.get(annotator, 0) > now:
                holders[annotator] = now + self.lease_seconds
                return True
        with self._lock:
            known = self._labelled.get(pair_id)
        if known is None:
            known = self._labels_in_force([pair_id]).get(pair_id, {})
            with self._lock:
                known = self._labelled.setdefault(pair_id, known)
        with self._lock:
            if annotator in known:
                return False
            votes = sum(1 for name, voted in known.items() if voted and name != annotator)
            holders = self._claims.setdefault(pair_id, {})
            others = sum(1 for name, until in holders.items() if name != annotator and until > now)
            if votes + others >= self._overlap:
                return False
            holders[annotator] = now + self.lease_seconds
            if self._reserved.get(pair_id) == annotator:
                del self._reserved[pair_id]
            return True

    def _take(self, annotator: str, state: _Annotator) -> ServedPair | None:
        """The next pair from the annotator's batch that is still open, refilling it when empty.

        When the batch runs low a refill starts in the background, so the request that
        empties it rarely waits for the database.
        """
        for _ in range(3):
            while state.batch:
                pair = state.batch.popleft()
                if self._claim(pair.pair_id, annotator):
                    pair.served_at = time.monotonic()
                    if len(state.batch) <= self.batch // 3 and state.refill is None:
                        state.refill = self._refiller.submit(self._refill, annotator, state)
                        state.refill.add_done_callback(lambda _: setattr(state, "refill", None))
                    return pair
            pending = state.refill
            if pending is not None:
                wait([pending])
            else:
                self._refill(annotator, state)
        return None

    def _refill(self, annotator: str, state: _Annotator) -> None:
        """Prefetch the annotator's next batch: prioritised pairs, then pairs in serving order.

        Pairs already prefetched by someone else come last, so annotators rarely race for one.
        """
        sync_queue(self.store)
        self._overlap = overlap = get_overlap(self.store)
        now = time.monotonic()
        with self._lock:
            self._claims = {
                pid: live
                for pid, holders in self._claims.items()
                if (live := {n: t for n, t in holders.items() if t > now})
            }
            busy = len(self._claims) + len(self._reserved)
        params = {"annotator": annotator, "overlap": overlap, "limit": self.batch + busy}
        rows = self._candidates(params, state.cursor)
        with self._lock:
            full = {
                pid
                for pid, _, votes in rows
                if votes
                + sum(1 for n, t in self._claims.get(pid, {}).items() if n != annotator and t > now)
                >= overlap
            }
            held = {pair.pair_id for pair in [state.current, *state.batch] if pair is not None}
            open_rows = [row for row in rows if row[0] not in full and row[0] not in held]
            open_rows.sort(key=lambda row: self._reserved.get(row[0], annotator) != annotator)
            chosen = [pid for pid, _, _ in open_rows[: self.batch]]
            for pid in chosen:
                self._reserved.setdefault(pid, annotator)
        known = self._labels_in_force(chosen) if overlap > 1 else {}
        with self._lock:
            for pid in chosen:
                self._labelled.setdefault(pid, known.get(pid, {}))
        positions = [pos for _, pos, _ in rows if pos is not None]
        state.cursor = max([state.cursor, *positions]) if chosen else 0
        loaded = load_served_pairs(self.store, chosen)
        state.batch.extend(loaded[pid] for pid in chosen if pid in loaded)

    def _labels_in_force(self, pair_ids: list[str]) -> dict[str, dict[str, bool]]:
        """pair id -> annotator -> whether their label in force is a vote (not a skip)."""
        labelled: dict[str, dict[str, bool]] = {}
        for pair_id, annotator, voted in self.store.con.execute(
            "SELECT pair_id, annotator, bool_or(choice <> 'skip') FROM current_labels "
            "WHERE pair_id = ANY($ids) GROUP BY ALL",
            {"ids": pair_ids},
        ).fetchall():
            labelled.setdefault(pair_id, {})[annotator] = voted
        return labelled

    def _candidates(self, params: dict, cursor: int) -> list[tuple[str, int | None, int]]:
        """(pair id, serving position or None, votes so far) of pairs open to the annotator.

        Positive priorities first, then unprioritised pairs after the annotator's cursor in
        serving order, then negative priorities.
        """
        rows = self._tier("queue_priorities c WHERE priority > 0", "priority DESC", params)
        rows += self._tier(
            "queue c WHERE position > $cursor AND NOT EXISTS (SELECT 1 FROM queue_priorities p"
            " WHERE p.pair_id = c.pair_id AND p.priority <> 0)",
            "position",
            {**params, "cursor": cursor},
        )
        if len(rows) < params["limit"]:
            rows += self._tier("queue_priorities c WHERE priority < 0", "priority DESC", params)
        votes = {}
        if params["overlap"] > 1 and rows:  # with overlap 1, open pairs have no votes yet
            votes = dict(
                self.store.con.execute(
                    "SELECT pair_id, count(DISTINCT annotator) FROM current_labels "
                    "WHERE pair_id = ANY($ids) AND choice <> 'skip' GROUP BY pair_id",
                    {"ids": [pair_id for pair_id, _ in rows]},
                ).fetchall()
            )
        return [(pair_id, position, votes.get(pair_id, 0)) for pair_id, position in rows]

    def _tier(self, source: str, order: str, params: dict) -> list[tuple[str, int | None]]:
        """Open pairs from one source, in `order`: not labelled by the annotator, not full."""
        position = "c.position" if order == "position" else "NULL::BIGINT"
        if params["overlap"] == 1:  # full means: anyone's vote (not a skip) is in force
            closed = "(l.annotator = $annotator OR l.choice <> 'skip')"
            full = ""
        else:
            closed = "l.annotator = $annotator"
            full = f" AND c.pair_id NOT IN ({_FULL})"
        return self.store.con.execute(
            f"SELECT c.pair_id, {position} FROM {source} AND NOT EXISTS (SELECT 1 FROM"
            f" current_labels l WHERE l.pair_id = c.pair_id AND {closed}){full}"
            f" ORDER BY {order}, c.pair_id LIMIT $limit",
            params if full else {k: v for k, v in params.items() if k != "overlap"},
        ).fetchall()


_queues: weakref.WeakKeyDictionary[Store, LabelQueue] = weakref.WeakKeyDictionary()
_queues_lock = threading.Lock()


def queue_for(store: Store) -> LabelQueue:
    """The one LabelQueue of an open store (created on first use)."""
    with _queues_lock:
        queue = _queues.get(store)
        if queue is None:
            queue = _queues[store] = LabelQueue(store)
        return queue


def next_pair_for(store: Store, annotator: str) -> ServedPair | None:
    """The pair `annotator` should label now, or None when nothing is left for them."""
    return queue_for(store).next_pair(annotator)
