"""The labelling queue: which pair each annotator sees next.

Every pair has a serving position in `queue` (appended in arrival batches, shuffled within a
batch); `queue_priorities` lifts chosen pairs ahead, higher first. Each pair goes to `overlap`
distinct annotators, nobody gets a pair twice, and nobody sees anyone else's labels. Gold pairs
stay out of that order: `curation.labelling.gold_mix` slips them into each annotator's stream at a rate.

All annotators draw from one shared pool of open pairs held in memory in serving order, each
with the labels in force on it, so serving the next pair is a memory operation. A pair handed
out is claimed by its annotator for a lease, so two annotators do not get the last slot of one
pair. One background thread tops the pool up: it reads the next stretch of the serving order
(an ordered range read, no anti-join over the whole table) and looks up the labels and texts
of just those pairs by their indexes.
"""

from __future__ import annotations

import asyncio
import bisect
import random
import threading
import time
import weakref
from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd

from curation.labelling.annotation_errors import LabelError
from curation.labelling.gold_mix import GoldMix
from curation.labelling.queue_reads import (
    Key,
    ServedPair,
    first_open_position,
    keys_behind,
    labels_in_force,
    load_served_pairs,
    scan_tier,
)
from curation.store.settings import get_setting, set_setting
from curation.store.store import Store, fetch_value

OVERLAP_KEY = "labelling.overlap"
MAX_OVERLAP = 50
# Serving tiers, in order: positive priorities, the serving order, negative priorities.
_TIERS = (0, 1, 2)
_FRONT: Key = (-1, 0, "")  # serving key of a pair put back by an undo: ahead of everything


def get_overlap(store: Store) -> int:
    """How many distinct annotators each pair goes to (default 1)."""
    return int(get_setting(store, OVERLAP_KEY, 1))


def set_overlap(store: Store, overlap: int) -> int:
    """Set how many distinct annotators each pair goes to; raise LabelError if out of range."""
    if not isinstance(overlap, int) or not 1 <= overlap <= MAX_OVERLAP:
        raise LabelError(f"overlap must be a whole number from 1 to {MAX_OVERLAP}, got {overlap!r}")
    set_setting(store, OVERLAP_KEY, overlap)
    queue = _queues.get(store)
    if queue is not None:
        queue.restart()
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
        queue.priorities_changed(set(frame["pair_id"]))
    return len(frame)


class LabelQueue:
    """Serves pairs to annotators from one store; safe to share between a server's threads.

    `batch` is how many open pairs one refill adds to the shared pool; a refill starts in the
    background when fewer than `batch` pairs lie beyond the one served, so the pool stays a
    batch ahead of the annotators.
    """

    def __init__(self, store: Store, *, batch: int = 256, lease_seconds: float = 900.0) -> None:
        self.store = store
        self.batch = batch
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()  # guards every field below; held only for memory work
        self._pool: list[tuple[Key, str]] = []  # (serving key, pair id) of open pairs, sorted
        self._pooled: dict[str, tuple[Key, ServedPair]] = {}  # pair id -> key, pair (sides ab)
        # pair id -> annotator -> whether their label in force is a vote (not a skip), for the
        # pooled pairs and the pairs handed out; dropped when a pair is neither.
        self._labelled: dict[str, dict[str, bool]] = {}
        self._claims: dict[str, dict[str, float]] = {}  # pair id -> annotator -> lease end
        self._current: dict[str, ServedPair] = {}  # annotator -> the pair shown to them now
        self._cursors: list[Key | None] = [None, None, None]  # last key read per tier
        self._requeue: set[str] = set()  # pairs to look at again whatever the cursors say
        self._journal: list[tuple[str, str, bool | None]] | None = None  # during a refill
        self._generation = 0  # bumped when the pool is rebuilt; stale refills are dropped
        self._overlap = 1
        self._refill: Future | None = None  # the refill in flight (one at a time)
        self._gold = GoldMix.load(store)  # gold pairs, served apart from the pool
        self._refiller = ThreadPoolExecutor(max_workers=1, thread_name_prefix="queue-refill")
        store.on_close(lambda: self._refiller.shutdown(wait=True, cancel_futures=True))

    # Serving -----------------------------------------------------------------------------

    def next_pair(self, annotator: str) -> ServedPair | None:
        """The pair `annotator` should label now (the same one until it is labelled), or None.

        Waits for the store only when the pool holds nothing open to the annotator.
        """
        pair = self.next_pair_nowait(annotator)
        for _ in range(3):
            if pair is not None:
                return pair
            self.refill_soon().result()
            pair = self.next_pair_nowait(annotator, refill=False)
        return pair

    async def next_pair_async(self, annotator: str) -> ServedPair | None:
        """next_pair for async code: awaits a refill instead of blocking a thread."""
        pair = self.next_pair_nowait(annotator)
        for _ in range(3):
            if pair is not None:
                return pair
            # shielded: a caller that goes away must not cancel the refill others await
            await asyncio.shield(asyncio.wrap_future(self.refill_soon()))
            pair = self.next_pair_nowait(annotator, refill=False)
        return pair

    def next_pair_nowait(self, annotator: str, *, refill: bool = True) -> ServedPair | None:
        """Like next_pair, from memory only: None when the pool holds nothing for `annotator`."""
        with self._lock:
            now = time.monotonic()
            current = self._current.get(annotator)
            if current is not None:
                if self._gold.is_gold(current.pair_id) or self._hold(
                    current.pair_id, annotator, now
                ):
                    return current
                del self._current[annotator]  # its lease ran out and the pair was taken
            gold = self._gold.due(annotator)
            if gold is not None:
                return self._show(annotator, gold, now)
            pair, index = self._pick(annotator, now)
            if refill and len(self._pool) - index <= self.batch:
                self._start_refill()
            return pair

    def begin_label(self, annotator: str, pair_id: str) -> ServedPair | None:
        """Take the pair shown to `annotator` for recording a label on it, if it is `pair_id`.

        Until finish() or cancel_label(), a second label on it is refused.
        """
        with self._lock:
            current = self._current.get(annotator)
            if current is None or current.pair_id != pair_id:
                return None
            del self._current[annotator]
            return current

    def cancel_label(self, annotator: str, pair: ServedPair) -> None:
        """Recording a label on `pair` failed: show it to `annotator` again."""
        with self._lock:
            self._current.setdefault(annotator, pair)

    def finish(self, annotator: str, pair_id: str, *, voted: bool = True) -> None:
        """`annotator`'s label on `pair_id` is committed (`voted` False for a skip): move on."""
        with self._lock:
            current = self._current.get(annotator)
            if current is not None and current.pair_id == pair_id:
                del self._current[annotator]
            holders = self._claims.get(pair_id)
            if holders is not None:
                holders.pop(annotator, None)
            self._gold.count_labels(annotator, 1)
            self._note(pair_id, annotator, voted)

    def note_votes(self, pair_ids: list[str], annotator: str) -> None:
        """`annotator` voted on these pairs outside the queue (an edit or a ranking)."""
        with self._lock:
            self._gold.count_labels(annotator, len(pair_ids))
            for pair_id in pair_ids:
                self._note(pair_id, annotator, True)

    def forget_label(self, annotator: str, pair_id: str) -> None:
        """`annotator`'s label on `pair_id` was undone."""
        with self._lock:
            self._gold.count_labels(annotator, -1)
            self._note(pair_id, annotator, None)

    def serve_again(self, annotator: str, pair: ServedPair) -> None:
        """Show `pair` to `annotator` next (after an undo of their label on it)."""
        known = labels_in_force(self.store, [pair.pair_id]).get(pair.pair_id, {})
        known.pop(annotator, None)
        with self._lock:
            now = time.monotonic()
            previous = self._current.get(annotator)
            if previous is not None:  # back to the pool for whoever comes next
                self._claims.get(previous.pair_id, {}).pop(annotator, None)
            self._labelled.setdefault(pair.pair_id, known).pop(annotator, None)
            if pair.pair_id not in self._pooled and not self._gold.is_gold(pair.pair_id):
                self._add_to_pool(_FRONT, pair.oriented("ab"))
            pair.served_at = now
            self._current[annotator] = pair
            self._claims.setdefault(pair.pair_id, {})[annotator] = now + self.lease_seconds

    def _hold(self, pair_id: str, annotator: str, now: float) -> bool:
        """Renew `annotator`'s lease on `pair_id`, or claim it again if it is still open."""
        holders = self._claims.get(pair_id)
        if holders is not None and holders.get(annotator, 0) > now:
            holders[annotator] = now + self.lease_seconds
            return True
        if not self._open_to(pair_id, annotator, now):
            return False
        self._claims.setdefault(pair_id, {})[annotator] = now + self.lease_seconds
        return True

    def _open_to(self, pair_id: str, annotator: str, now: float) -> bool:
        """Whether `annotator` may take `pair_id`: not labelled by them, and votes in force plus
        others' live leases below the overlap."""
        known = self._labelled.get(pair_id)
        if known is None or annotator in known:
            return False
        votes = sum(known.values())
        holders = self._claims.get(pair_id, {})
        others = sum(1 for name, until in holders.items() if name != annotator and until > now)
        return votes + others < self._overlap

    def _pick(self, annotator: str, now: float) -> tuple[ServedPair | None, int]:
        """Claim the first pooled pair open to `annotator`; (the pair as shown, its index)."""
        for index, (_, pair_id) in enumerate(self._pool):
            if self._open_to(pair_id, annotator, now):
                self._claims.setdefault(pair_id, {})[annotator] = now + self.lease_seconds
                return self._show(annotator, self._pooled[pair_id][1], now), index
        return None, len(self._pool)

    def _show(self, annotator: str, pair: ServedPair, now: float) -> ServedPair:
        """Make `pair`, sides in a random order, the one shown to `annotator`; return it."""
        shown = pair.oriented(random.choice(("ab", "ba")))
        shown.served_at = now
        self._current[annotator] = shown
        return shown

    def _note(self, pair_id: str, annotator: str, voted: bool | None) -> None:
        """Track a label in force (None: retracted); a pair with enough votes leaves the pool."""
        if self._journal is not None:
            self._journal.append((pair_id, annotator, voted))
        known = self._labelled.get(pair_id)
        if known is None:
            return
        if voted is None:
            known.pop(annotator, None)
        else:
            known[annotator] = voted
        if pair_id in self._pooled and sum(known.values()) >= self._overlap:
            key, _ = self._pooled.pop(pair_id)
            del self._pool[bisect.bisect_left(self._pool, (key, pair_id))]
        if pair_id not in self._pooled and not self._claims.get(pair_id):
            self._labelled.pop(pair_id, None)
            self._claims.pop(pair_id, None)

    def _add_to_pool(self, key: Key, pair: ServedPair) -> None:
        self._pooled[pair.pair_id] = (key, pair)
        bisect.insort(self._pool, (key, pair.pair_id))

    # Rebuilding after changes ------------------------------------------------------------

    def restart(self) -> None:
        """Rebuild the pool from the start of the serving order (after the overlap changed)."""
        with self._lock:
            self._generation += 1
            self._pool.clear()
            self._pooled.clear()
            self._cursors = [None, None, None]
            for pair_id in list(self._labelled):
                if not self._claims.get(pair_id):
                    del self._labelled[pair_id]

    def reload_gold(self) -> None:
        """Gold pairs or their rate changed: read them again; pairs that became gold leave the
        pool, pairs that stopped being gold are looked at again."""
        gold = GoldMix.load(self.store)
        with self._lock:
            self._generation += 1
            dropped = set(self._gold.pairs) - set(gold.pairs)
            self._gold = gold
            self._pool = [(key, pid) for key, pid in self._pool if not gold.is_gold(pid)]
            for pair_id in [pid for pid in self._pooled if gold.is_gold(pid)]:
                del self._pooled[pair_id]
            if dropped:  # back in the serving order, wherever the cursors are
                self._cursors[0] = self._cursors[2] = None
                self._requeue |= dropped

    def priorities_changed(self, pair_ids: set[str]) -> None:
        """Priorities of `pair_ids` changed: reread the priority tiers, look at them again."""
        with self._lock:
            self._generation += 1
            for key, pair_id in list(self._pool):
                if key[0] in (0, 2) or pair_id in pair_ids:
                    self._pooled.pop(pair_id)
            self._pool = [(key, pid) for key, pid in self._pool if pid in self._pooled]
            self._cursors[0] = self._cursors[2] = None
            self._requeue |= pair_ids  # those now without a priority may lie behind the cursor

    # Refilling the pool from the store ---------------------------------------------------

    def _start_refill(self) -> Future:
        """The refill in flight, or a new one started in the background (the lock is held)."""
        if self._refill is None or self._refill.done():
            self._refill = self._refiller.submit(self._refill_pool)
        return self._refill

    def refill_soon(self) -> Future:
        """The refill in flight, or a new one; its result is how many pairs it added."""
        with self._lock:
            return self._start_refill()

    def _refill_pool(self) -> int:
        """Add up to `batch` open pairs to the pool, in serving order, from where it stopped;
        return how many (runs in the refill thread only)."""
        with self._lock:
            generation, cursors = self._generation, list(self._cursors)
            requeue, self._requeue = self._requeue, set()
            pooled = set(self._pooled)
            self._journal = []
        try:
            sync_queue(self.store)
            overlap = get_overlap(self.store)
            if cursors[1] is None:
                cursors[1] = (1, first_open_position(self.store, overlap), "")
            found = keys_behind(self.store, list(requeue), cursors[1]) if requeue else []
            found = self._open(found, pooled, overlap)
            for tier in _TIERS:
                while len(found) < self.batch:
                    rows, cursors[tier], more = scan_tier(
                        self.store, tier, cursors[tier], self.batch
                    )
                    opened = self._open(rows, pooled, overlap)
                    if tier == 1 and more and not opened:  # a run of done pairs: jump it
                        after = first_open_position(self.store, overlap, cursors[1][1])
                        cursors[1] = (1, after, "")
                    found += opened
                    if not more:
                        break
                if len(found) >= self.batch:
                    break
            pairs = load_served_pairs(self.store, [pair_id for _, pair_id, _ in found])
        except BaseException:
            with self._lock:
                self._journal = None
                self._requeue |= requeue
            raise
        with self._lock:
            journal, self._journal = self._journal, None
            if generation != self._generation:  # rebuilt meanwhile: read again next time
                self._requeue |= requeue
                return 0
            self._overlap = overlap
            self._cursors = cursors
            return self._merge(found, pairs, journal)

    def _merge(self, found: list, pairs: dict[str, ServedPair], journal: list) -> int:
        """Add refilled pairs to the pool, with what was labelled while they were read; return
        how many were added."""
        now = time.monotonic()
        added = 0
        for key, pair_id, known in found:
            if pair_id in pairs and pair_id not in self._pooled:
                self._labelled.setdefault(pair_id, known)
                self._add_to_pool(key, pairs[pair_id])
                added += 1
        for pair_id, annotator, voted in journal:
            if pair_id in pairs:
                self._note(pair_id, annotator, voted)
        for pair_id in [p for p in self._claims if p not in self._pooled]:
            if not any(until > now for until in self._claims[pair_id].values()):
                del self._claims[pair_id]  # leases that ran out on pairs no longer open
        for pair_id in [p for p in self._labelled if p not in self._pooled]:
            if pair_id not in self._claims:
                del self._labelled[pair_id]
        return added

    def _open(self, rows: list[tuple[Key, str]], pooled: set[str], overlap: int) -> list:
        """(key, pair id, labels in force) of the rows not pooled yet and not full."""
        fresh = [
            (key, pair_id)
            for key, pair_id in rows
            if pair_id not in pooled and not self._gold.is_gold(pair_id)
        ]
        labelled = labels_in_force(self.store, [pair_id for _, pair_id in fresh])
        found = []
        for key, pair_id in fresh:
            known = labelled.get(pair_id, {})
            if sum(known.values()) < overlap:
                pooled.add(pair_id)
                found.append((key, pair_id, known))
        return found


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


def gold_changed(store: Store) -> None:
    """Tell the store's queue (if one runs) that gold pairs or their rate changed."""
    queue = _queues.get(store)
    if queue is not None:
        queue.reload_gold()


def note_votes(store: Store, pair_ids: list[str], annotator: str) -> None:
    """Tell the store's queue (if one runs) that `annotator` voted on pairs outside it."""
    queue = _queues.get(store)
    if queue is not None:
        queue.note_votes(pair_ids, annotator)
