"""Annotator agreement (Cohen, Fleiss, majority) and biases (length, position) on hand-built votes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from curation import import_paths
from curation.quality.agreement import annotator_agreement, fleiss_kappa

# Four unlabelled pairs; in each, response a is the short one and b the long one.
PROMPTS = ["One?", "Two?", "Three?", "Four?"]


@pytest.fixture
def pairs(store, write_jsonl):
    """The store and its pair ids, in PROMPTS order."""
    records = [
        {"prompt": p, "responses": ["Short.", f"A much longer answer to {p}"]} for p in PROMPTS
    ]
    import_paths(store, [write_jsonl("pairs.jsonl", records)])
    ids = []
    for prompt in PROMPTS:
        row = store.con.execute(
            "SELECT p.id, length(ra.text) < length(rb.text) FROM pairs p "
            "JOIN prompts q ON q.id = p.prompt_id JOIN responses ra ON ra.id = p.response_a "
            "JOIN responses rb ON rb.id = p.response_b "
            "WHERE json_extract_string(q.messages, '$[0].content') = ?",
            [prompt],
        ).fetchall()[0]
        assert row[1], "response a is the short one"
        ids.append(row[0])
    return store, ids


def vote(store, pair_id: str, annotator: str, choice: str, shown_order: str = "ab") -> None:
    store.con.execute(
        "INSERT INTO labels (pair_id, annotator, choice, shown_order) VALUES (?, ?, ?, ?)",
        [pair_id, annotator, choice, shown_order],
    )


def test_fleiss_kappa_matches_the_published_example():
    table = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa([[2, 0], [2, 0]]) is None  # one category only: undefined
    assert fleiss_kappa([[1, 0]]) is None  # no item with two votes


def test_cohen_and_fleiss_kappa_of_two_annotators(pairs):
    store, ids = pairs
    for pair_id, alice, bob in zip(ids, "aabb", "abbb", strict=True):
        vote(store, pair_id, "alice", alice)
        vote(store, pair_id, "bob", bob)
    report = annotator_agreement(store)
    [cohen] = report.cohen
    # observed 3/4; chance 1/2 * 1/4 + 1/2 * 3/4 = 1/2; kappa (3/4 - 1/2) / (1 - 1/2)
    assert cohen.annotators == ("alice", "bob") and cohen.pairs == 4
    assert cohen.agreement == 0.75 and cohen.kappa == pytest.approx(0.5)
    # pooled shares a 3/8, b 5/8: chance 34/64; kappa (3/4 - 34/64) / (1 - 34/64)
    assert report.fleiss_kappa == pytest.approx((0.75 - 34 / 64) / (1 - 34 / 64))
    assert report.pairs_with_two_votes == 4 and report.votes == 8
    assert report.kappa_matrix().loc["alice", "bob"] == pytest.approx(0.5)


def test_agreement_with_the_other_annotators_majority(pairs):
    store, ids = pairs
    for pair_id, a, b, c in zip(ids, "aaab", "aabb", "abbb", strict=True):
        vote(store, pair_id, "alice", a)
        vote(store, pair_id, "bob", b)
        vote(store, pair_id, "carol", c)
    figures = annotator_agreement(store).per_annotator
    # alice vs majority of bob+carol: pair1 a/a->a (agree), pair2 a/b split, pair3 b/b->b
    # (alice a: disagree), pair4 b/b->b (agree)
    assert figures["alice"].majority_pairs == 3
    assert figures["alice"].majority_agreement == pytest.approx(2 / 3)
    assert figures["bob"].majority_agreement == 1.0  # every strict majority of the others


def test_position_bias_counts_the_side_shown_on_the_left(pairs):
    store, ids = pairs
    for pair_id, order in zip(ids, ["ab", "ba", "ab", "ba"], strict=True):
        vote(store, pair_id, "lefty", "a" if order == "ab" else "b", order)
        vote(store, pair_id, "fair", "b", order)
    figures = annotator_agreement(store).per_annotator
    assert figures["lefty"].left_share == 1.0 and figures["lefty"].left_votes == 4
    assert figures["lefty"].position_p_value == pytest.approx(0.125)
    assert figures["fair"].left_share == 0.5 and figures["fair"].position_p_value == 1.0


def test_length_bias_per_annotator_and_over_decided_pairs(pairs):
    store, ids = pairs
    for pair_id, choice in zip(ids, "bbba", strict=True):
        vote(store, pair_id, "alice", choice)  # b is always the longer response
    vote(store, ids[0], "bob", "tie")
    report = annotator_agreement(store)
    assert report.per_annotator["alice"].longer_share == 0.75
    assert report.per_annotator["bob"].longer_share is None  # ties say nothing about length
    assert report.chosen_longer_share == 0.75 and report.decided_pairs == 4


def test_skips_and_retracted_labels_do_not_vote(pairs):
    store, ids = pairs
    vote(store, ids[0], "alice", "skip")
    vote(store, ids[1], "alice", "a")
    store.con.execute(
        "INSERT INTO labels (pair_id, annotator, choice, supersedes) "
        "SELECT pair_id, annotator, NULL, id FROM labels WHERE choice = 'a'"
    )
    report = annotator_agreement(store)
    assert report.votes == 0 and report.fleiss_kappa is None and report.cohen == []


def test_stats_json_has_an_agreement_key(pairs, db_path):
    store, ids = pairs
    for pair_id in ids:
        vote(store, pair_id, "alice", "a")
        vote(store, pair_id, "bob", "a")
    store.close()
    result = CliRunner().invoke(main, ["stats", "--db", str(db_path), "--json"])
    assert result.exit_code == 0, result.output
    agreement = json.loads(result.stdout)["agreement"]
    assert agreement["annotators"] == ["alice", "bob"]
    assert agreement["cohen"][0]["agreement"] == 1.0 and agreement["cohen"][0]["kappa"] is None
    text = CliRunner().invoke(main, ["stats", "--db", str(db_path)]).stdout
    assert "agreement" in text
