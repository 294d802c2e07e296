"""The labelling queue: overlap, no repeats, blindness, priorities and leases."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
import pytest

from curation import import_paths
from curation.labelling import queue as queue_module
from curation.labelling.annotation_errors import LabelError
from curation.labelling.queue import (
    LabelQueue,
    get_overlap,
    next_pair_for,
    queue_for,
    set_overlap,
    set_priorities,
)
from curation.labelling.votes import next_prompt_to_rank, record_label, record_ranking

CANDIDATES = [
    {"prompt": f"Question {i}?", "responses": [f"Answer {i} one.", f"Answer {i} two."]}
    for i in range(6)
]


@pytest.fixture
def pairs(store, write_jsonl) -> list[str]:
    """Six unlabelled pairs in the store; their ids."""
    import_paths(store, [write_jsonl("cands.jsonl", CANDIDATES)])
    return [row[0] for row in store.con.execute("SELECT id FROM pairs").fetchall()]


def label_all(store, annotator: str, choice: str = "a") -> list[str]:
    """Label every pair the queue gives `annotator`; the pair ids in order."""
    seen = []
    while (pair := next_pair_for(store, annotator)) is not None:
        seen.append(pair.pair_id)
        record_label(store, annotator, pair.pair_id, choice)
    return seen


def test_overlap_one_gives_each_pair_to_one_annotator(store, pairs):
    first = next_pair_for(store, "ann")
    second = next_pair_for(store, "bob")
    assert first.pair_id != second.pair_id  # the first one is claimed by ann
    seen_ann = label_all(store, "ann")
    seen_bob = label_all(store, "bob")
    assert sorted(seen_ann + seen_bob) == sorted(pairs)
    assert not set(seen_ann) & set(seen_bob)


def test_overlap_k_gives_each_pair_to_k_distinct_annotators(store, pairs):
    set_overlap(store, 2)
    assert get_overlap(store) == 2
    seen = {name: label_all(store, name) for name in ("ann", "bob", "cy")}
    counts = pd.Series([p for ids in seen.values() for p in ids]).value_counts()
    assert set(counts.index) == set(pairs) and set(counts) == {2}
    assert all(len(ids) == len(set(ids)) for ids in seen.values())  # nobody sees a pair twice


def test_skips_do_not_fill_a_pair(store, pairs):
    skipped = label_all(store, "ann", choice="skip")
    assert sorted(skipped) == sorted(pairs)
    assert sorted(label_all(store, "bob")) == sorted(pairs)
    assert label_all(store, "ann") == []


def test_the_same_pair_is_served_until_labelled(store, pairs):
    assert next_pair_for(store, "ann").pair_id == next_pair_for(store, "ann").pair_id


def test_served_pair_is_blind(store, pairs):
    public = next_pair_for(store, "ann").public()
    assert set(public) == {"pair_id", "prompt", "a", "b"}


def test_priorities_are_served_first_higher_first(store, pairs):
    low, high = pairs[4], pairs[5]
    set_priorities(
        store,
        pd.DataFrame({"pair_id": [low, high], "priority": [1.0, 5.0], "reason": ["x", "y"]}),
    )
    order = label_all(store, "ann")
    assert order[:2] == [high, low]
    set_priorities(store, pd.DataFrame({"pair_id": [pairs[0]], "priority": [-1], "reason": ["z"]}))


def test_negative_priority_comes_last(store, pairs):
    set_priorities(store, pd.DataFrame({"pair_id": [pairs[0]], "priority": [-1], "reason": ["z"]}))
    assert label_all(store, "ann")[-1] == pairs[0]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"pair_id": ["x"], "priority": [1.0]}), "reason"),
        (pd.DataFrame({"pair_id": ["nope"], "priority": [1.0], "reason": ["r"]}), "name no stored"),
        (pd.DataFrame({"pair_id": ["x"], "priority": ["high"], "reason": ["r"]}), "numbers"),
    ],
)
def test_bad_priorities_are_refused(store, pairs, frame, message):
    with pytest.raises(LabelError, match=message):
        set_priorities(store, frame)


@pytest.mark.parametrize("overlap", [0, 51, 1.5])
def test_bad_overlap_is_refused(store, overlap):
    with pytest.raises(LabelError, match="overlap"):
        set_overlap(store, overlap)


def test_expired_lease_frees_a_pair_for_someone_else(store, pairs):
    expiring = LabelQueue(store, batch=len(pairs), lease_seconds=0.0)
    held = expiring.next_pair("ann")
    assert expiring.next_pair("bob").pair_id == held.pair_id  # ann's lease ran out
    lasting = LabelQueue(store, batch=len(pairs), lease_seconds=600.0)
    held = lasting.next_pair("ann")
    assert all(lasting.next_pair(name).pair_id != held.pair_id for name in ("bob", "cy", "dee"))


def test_new_pairs_join_the_queue(store, pairs, write_jsonl):
    label_all(store, "ann")
    import_paths(store, [write_jsonl("more.jsonl", [{"prompt": "New?", "responses": ["x", "y"]}])])
    assert len(label_all(store, "ann")) == 1


def test_concurrent_annotators_over_many_refills(store, write_jsonl):
    many = [{"prompt": f"Q{i}?", "responses": [f"x{i}", f"y{i}"]} for i in range(300)]
    import_paths(store, [write_jsonl("many.jsonl", many)])
    set_overlap(store, 2)
    names = ["ann", "bob", "cy", "dee"]
    with ThreadPoolExecutor(len(names)) as pool:
        seen = dict(zip(names, pool.map(lambda name: label_all(store, name), names), strict=True))
    counts = pd.Series([p for ids in seen.values() for p in ids]).value_counts()
    assert len(counts) == 300 and set(counts) == {2}  # each pair to exactly 2 annotators
    assert all(len(ids) == len(set(ids)) for ids in seen.values())  # nobody sees a pair twice
    stored = store.con.execute(
        "SELECT count(*), count(DISTINCT (pair_id, annotator)) FROM current_labels"
    ).fetchone()
    assert stored == (600, 600)
    assert queue_for(store)._labelled == {}  # nothing tracked once every pair is done


def test_a_pair_whose_priority_is_cleared_is_still_served(store, pairs):
    lifted = pairs[3]
    set_priorities(store, pd.DataFrame({"pair_id": [lifted], "priority": [5.0], "reason": ["x"]}))
    first = next_pair_for(store, "bob")  # the pool now holds every pair, the lifted one first
    assert first.pair_id == lifted
    set_priorities(store, pd.DataFrame({"pair_id": [lifted], "priority": [0.0], "reason": ["y"]}))
    assert sorted(label_all(store, "ann")) == sorted(set(pairs) - {lifted})  # bob holds it
    record_label(store, "bob", lifted, "skip")
    assert label_all(store, "ann") == [lifted]


def test_ranked_pairs_are_not_served_to_their_ranker(store, write_jsonl):
    ranked = {"prompt": "Pick a colour.", "responses": ["Blue.", "Red!", "Green?"]}
    import_paths(store, [write_jsonl("ranked.jsonl", [ranked])])
    set_overlap(store, 2)
    assert next_pair_for(store, "bob") is not None  # the three pairs are pooled now
    task = next_prompt_to_rank(store, "ann")
    record_ranking(store, "ann", task["prompt_id"], [r["response_id"] for r in task["responses"]])
    assert next_pair_for(store, "ann") is None
    assert len(label_all(store, "bob")) == 3


def test_a_restarted_queue_jumps_runs_of_labelled_pairs(store, write_jsonl, monkeypatch):
    many = [{"prompt": f"Q{i}?", "responses": [f"x{i}", f"y{i}"]} for i in range(300)]
    import_paths(store, [write_jsonl("many.jsonl", many)])
    for n in range(299):  # ann skips the first pair and labels all others but the last
        pair = next_pair_for(store, "ann")
        record_label(store, "ann", pair.pair_id, "skip" if n == 0 else "a")
    first, last = store.con.execute(
        "SELECT min_by(pair_id, position), max_by(pair_id, position) FROM queue"
    ).fetchone()
    reads = []
    scan = queue_module.scan_tier
    monkeypatch.setattr(queue_module, "scan_tier", lambda *a: reads.append(a) or scan(*a))
    restarted = LabelQueue(store, batch=10)  # as after a server restart: nothing in memory
    assert restarted.next_pair("bob").pair_id == first
    restarted.finish("bob", first)
    assert restarted.next_pair("bob").pair_id == last
    assert len(reads) <= 8  # not the 30 reads of ten it takes to walk the labelled pairs
