"""A run's sample answers become base-vs-trained pairs with origin run:<id>, queued for labelling."""

from __future__ import annotations

from conftest import PREFERENCES

from curation import import_paths
from curation.arena.run_pairs import add_run_pairs


def test_answers_become_queued_pairs_and_identical_answers_none(store, write_jsonl):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    prompt_ids = [
        row[0] for row in store.con.execute("SELECT id FROM prompts ORDER BY id").fetchall()
    ]
    rows = [
        {"prompt_id": prompt_ids[0], "base": "Four.", "trained": "It is 4."},
        {"prompt_id": prompt_ids[1], "base": "Paris", "trained": "  paris "},  # same text
        {"prompt_id": None, "prompt": "unknown to the store", "base": "a", "trained": "b"},
    ]

    assert add_run_pairs(store, 5, "smollm2-135m", rows) == 1
    assert add_run_pairs(store, 5, "smollm2-135m", rows) == 0  # nothing twice

    pairs = store.con.execute(
        """SELECT p.origin, ra.model, ra.text, rb.model, rb.text, q.priority
        FROM pairs p JOIN responses ra ON ra.id = p.response_a
        JOIN responses rb ON rb.id = p.response_b
        LEFT JOIN queue_priorities q ON q.pair_id = p.id
        WHERE p.origin LIKE 'run:%'"""
    ).fetchall()
    assert len(pairs) == 1
    origin, *sides, priority = pairs[0]
    assert origin == "run:5" and priority == 1.0
    assert {(sides[0], sides[1]), (sides[2], sides[3])} == {
        ("smollm2-135m", "Four."),
        ("run:5", "It is 4."),
    }
