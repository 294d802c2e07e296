"""Votes, undo, edits, thumbs and rankings: what each stores, append-only."""

from __future__ import annotations

from concurrent.futures import Future

import duckdb
import pytest

from curation import export_dataset, import_paths
from curation.labelling.annotation_errors import LabelError
from curation.labelling.queue import next_pair_for, queue_for
from curation.labelling.votes import (
    _Vote,
    _writer_for,
    next_prompt_to_rank,
    next_response_to_rate,
    record_edit,
    record_label,
    record_ranking,
    record_thumb,
    submit_label,
    undo_last,
)

RANKED = {"prompt": "Name a colour.", "responses": ["Blue.", "Colour.", "I refuse.", "Red!"]}


@pytest.fixture
def served(store, write_jsonl):
    """One unlabelled pair served to ann."""
    import_paths(
        store, [write_jsonl("c.jsonl", [{"prompt": "Hi?", "responses": ["Hello!", "Go away."]}])]
    )
    return next_pair_for(store, "ann")


def label_rows(store) -> list[tuple]:
    return store.con.execute(
        "SELECT annotator, choice, strength, rationale, shown_order, supersedes FROM labels ORDER BY id"
    ).fetchall()


def test_vote_is_stored_relative_to_response_a(store, served):
    label = record_label(store, "ann", served.pair_id, "a", strength="slight", rationale="kinder")
    left_is_a = served.shown_order == "ab"
    assert label.choice == ("a" if left_is_a else "b")
    assert label_rows(store) == [
        ("ann", label.choice, "slight", "kinder", served.shown_order, None)
    ]
    text_a = store.con.execute(
        "SELECT r.text FROM pairs p JOIN responses r ON r.id = p.response_a WHERE p.id = ?",
        [served.pair_id],
    ).fetchone()[0]
    assert (text_a == served.left) == left_is_a


@pytest.mark.parametrize(
    ("choice", "strength", "message"),
    [("left", None, "choice"), ("a", "huge", "strength"), ("tie", "clear", "strength goes only")],
)
def test_bad_votes_store_nothing(store, served, choice, strength, message):
    with pytest.raises(LabelError, match=message):
        record_label(store, "ann", served.pair_id, choice, strength=strength)
    assert label_rows(store) == []


def test_a_submitted_vote_is_committed_even_if_its_waiter_gives_up(store, served):
    committed = submit_label(store, "ann", served.pair_id, "a")
    assert not committed.cancel()
    assert committed.result().pair_id == served.pair_id
    assert len(label_rows(store)) == 1


def test_a_second_vote_on_a_pair_in_flight_is_refused(store, served):
    committed = submit_label(store, "ann", served.pair_id, "a")
    with pytest.raises(LabelError, match="not the pair being shown"):
        submit_label(store, "ann", served.pair_id, "b")
    committed.result()
    assert [row[1] for row in label_rows(store)] == [committed.result().choice]


def test_a_row_that_fails_in_a_group_commit_leaves_the_others_committed(store, write_jsonl):
    """The label writer commits queued votes as one statement; if it fails, each vote is
    retried alone, so one bad row fails only its own vote and its pair is shown again."""
    rows = [{"prompt": f"Q{i}?", "responses": [f"Yes {i}.", f"No {i}."]} for i in range(2)]
    import_paths(store, [write_jsonl("two.jsonl", rows)])
    votes = []
    for annotator, stored in (("ann", "a"), ("bob", "not-a-choice")):  # the CHECK refuses it
        served = queue_for(store).begin_label(annotator, next_pair_for(store, annotator).pair_id)
        row = [served.pair_id, annotator, stored, None, None, served.shown_order, 0]
        votes.append(_Vote(row, served, True, Future()))
    _writer_for(store)._commit(votes)  # what the writer thread does with one batch

    assert votes[0].done.result().pair_id == votes[0].row[0]
    with pytest.raises(duckdb.ConstraintException):
        votes[1].done.result()
    assert label_rows(store) == [("ann", "a", None, None, votes[0].row[5], None)]
    assert next_pair_for(store, "bob").pair_id == votes[1].row[0]


def test_only_the_served_pair_can_be_labelled(store, served):
    with pytest.raises(LabelError, match="not the pair being shown"):
        record_label(store, "bob", served.pair_id, "a")
    assert label_rows(store) == []


def test_undo_adds_a_superseding_row_and_serves_the_pair_again(store, served):
    label = record_label(store, "ann", served.pair_id, "b")
    assert next_pair_for(store, "ann") is None
    again = undo_last(store, "ann")
    assert again.pair_id == served.pair_id and again.left == served.left
    rows = label_rows(store)
    assert rows[-1] == ("ann", None, None, None, None, label.label_id)
    assert store.con.execute("SELECT count(*) FROM current_labels").fetchone()[0] == 0
    assert next_pair_for(store, "ann").pair_id == served.pair_id
    record_label(store, "ann", served.pair_id, "a")
    assert store.con.execute("SELECT count(*) FROM current_labels").fetchone()[0] == 1


def test_undo_with_nothing_to_undo(store, served):
    assert undo_last(store, "ann") is None
    assert undo_last(store, "bob") is None


def test_edit_stores_a_new_response_and_a_winning_pair(store, served, tmp_path):
    label = record_edit(store, "ann", served.left_id, "Hello! How can I help you today?")
    source, meta = store.con.execute(
        "SELECT source, meta FROM responses WHERE text = 'Hello! How can I help you today?'"
    ).fetchone()
    assert source == "human-edit" and served.left_id in meta
    pair = store.con.execute(
        "SELECT origin, response_a, response_b FROM pairs WHERE id = ?", [label.pair_id]
    ).fetchone()
    assert pair[0] == "human-edit" and served.left_id in pair[1:]
    report = export_dataset(store, "dpo", tmp_path / "dpo.jsonl")
    assert "How can I help you today?" in (tmp_path / "dpo.jsonl").read_text() and report.rows == 1


@pytest.mark.parametrize(("text", "message"), [("  ", "empty"), ("Hello!", "does not change")])
def test_edit_must_change_the_response(store, served, text, message):
    original = served.left_id if served.left == "Hello!" else served.right_id
    with pytest.raises(LabelError, match=message):
        record_edit(store, "ann", original, text)


def test_thumbs_are_ratings(store, served):
    first = next_response_to_rate(store, "ann")
    record_thumb(store, "ann", first["response_id"], True)
    second = next_response_to_rate(store, "ann")
    assert second["response_id"] != first["response_id"]
    record_thumb(store, "ann", second["response_id"], False)
    assert next_response_to_rate(store, "ann") is None
    assert store.con.execute("SELECT count(*) FROM ratings").fetchone()[0] == 2
    with pytest.raises(LabelError, match="no response"):
        record_thumb(store, "ann", "missing", True)


def test_ranking_expands_into_pairs_and_labels(store, write_jsonl):
    import_paths(
        store,
        [write_jsonl("r.jsonl", [{"prompt": RANKED["prompt"], "responses": RANKED["responses"]}])],
    )
    task = next_prompt_to_rank(store, "ann")
    texts = {r["response_id"]: r["text"] for r in task["responses"]}
    order = sorted(
        texts, key=lambda rid: ["Blue.", "Red!", "Colour.", "I refuse."].index(texts[rid])
    )
    record_ranking(store, "ann", task["prompt_id"], order)
    assert next_prompt_to_rank(store, "ann") is None
    votes = store.con.execute(
        "SELECT p.response_a, p.response_b, l.choice FROM current_labels l "
        "JOIN pairs p ON p.id = l.pair_id WHERE l.annotator = 'ann'"
    ).fetchall()
    assert len(votes) == 6
    for response_a, response_b, choice in votes:
        winner = response_a if choice == "a" else response_b
        loser = response_b if choice == "a" else response_a
        assert order.index(winner) < order.index(loser)
    with pytest.raises(LabelError, match="3 or more"):
        record_ranking(store, "ann", task["prompt_id"], order[:2])
