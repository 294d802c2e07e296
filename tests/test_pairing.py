"""Pairing strategies: within a model, across models, against a reference; never identical texts."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main
from curation.arena.candidates import GeneratedResponse, add_generated_responses
from curation.arena.pairing import PairingError, pair_responses
from curation.io.importer import import_paths
from curation.labelling.queue import next_pair_for
from curation.store.store import Store
from tests.conftest import assert_one_error_line


def _prompt_ids(
    store: Store, write_jsonl, texts: list[str], *, references: bool = False
) -> list[str]:
    """Import prompts (with a reference answer each when asked); their ids in the given order."""
    if references:
        records = [{"prompt": t, "completion": f"Reference answer to {t}"} for t in texts]
        import_paths(store, [write_jsonl("refs.jsonl", records)], format="sft")
    else:
        import_paths(store, [write_jsonl("prompts.jsonl", [{"prompt": t} for t in texts])])
    found = dict(
        store.con.execute(
            "SELECT json_extract_string(messages, '$[0].content'), id FROM prompts"
        ).fetchall()
    )
    return [found[t] for t in texts]


def _add(store: Store, prompt_id: str, model: str, *texts: str) -> None:
    add_generated_responses(store, [GeneratedResponse(prompt_id, t, model) for t in texts])


def _pairs(store: Store, origin: str) -> list[tuple[str, str, str]]:
    """(prompt id, text a, text b) of the pairs of one origin."""
    return store.con.execute(
        "SELECT p.prompt_id, ra.text, rb.text FROM pairs p "
        "JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b "
        "WHERE origin = ? ORDER BY 1, 2, 3",
        [origin],
    ).fetchall()


def test_within_model_pairs_samples_and_never_identical_texts(store, write_jsonl):
    first, second = _prompt_ids(store, write_jsonl, ["one?", "two?"])
    _add(store, first, "m", "Same answer.", "  same   ANSWER. ", "Different.")
    _add(store, second, "m", "Only one sample.")
    report = pair_responses(store, "within", ["m"], per_prompt=3)
    assert report.added == 2 and report.identical_skipped == 1
    pairs = _pairs(store, "pairing:within")
    assert all(
        a.split() != b.split() and a.lower().strip() != b.lower().strip() for _, a, b in pairs
    )
    assert {p for p, _, _ in pairs} == {first}


def test_within_model_takes_one_pair_per_prompt_by_default_and_skips_existing(store, write_jsonl):
    (prompt,) = _prompt_ids(store, write_jsonl, ["q?"])
    _add(store, prompt, "m", "x one", "x two", "x three")
    assert pair_responses(store, "within", ["m"]).added == 1
    assert pair_responses(store, "within", ["m"]).added == 1  # the next-best pair, not a repeat
    assert len(_pairs(store, "pairing:within")) == 2


def test_across_models_pairs_every_two_models_on_shared_prompts(store, write_jsonl):
    shared, only_a = _prompt_ids(store, write_jsonl, ["shared?", "only a?"])
    _add(store, shared, "a", "from a")
    _add(store, shared, "b", "from b")
    _add(store, shared, "c", "from a")  # same text as a: no a-c pair
    _add(store, only_a, "a", "lonely")
    report = pair_responses(store, "across", ["a", "b", "c"])
    assert (report.added, report.identical_skipped) == (2, 1)
    texts = sorted(tuple(sorted((a, b))) for _, a, b in _pairs(store, "pairing:across"))
    assert texts == [("from a", "from b"), ("from a", "from b")]  # a-b and b-c


def test_reference_pairs_each_model_answer_with_the_reference(store, write_jsonl):
    first, second = _prompt_ids(store, write_jsonl, ["alpha?", "beta?"], references=True)
    _add(store, first, "m", "my alpha")
    _add(store, second, "m", "Reference answer to beta?")  # the reference itself: left out
    report = pair_responses(store, "reference", ["m"])
    assert (report.added, report.identical_skipped) == (1, 1)
    assert _pairs(store, "pairing:reference") == [(first, "my alpha", "Reference answer to alpha?")]


def test_new_pairs_enter_the_labelling_queue_ahead_by_priority(store, write_jsonl):
    prompts = _prompt_ids(store, write_jsonl, [f"p{i}?" for i in range(5)])
    for prompt in prompts:
        _add(store, prompt, "a", f"a says {prompt}", f"a again {prompt}")
        _add(store, prompt, "b", f"b says {prompt}")
    pair_responses(store, "within", ["a"], priority=0.1)
    across = pair_responses(store, "across", ["a", "b"], priority=5.0)
    priorities = dict(
        store.con.execute("SELECT pair_id, priority FROM queue_priorities").fetchall()
    )
    assert len(priorities) == 10 and all(priorities[p] == 5.0 for p in across.pair_ids)
    assert next_pair_for(store, "alice").pair_id in across.pair_ids


@pytest.mark.parametrize(
    ("strategy", "models", "message"),
    [
        ("across", ["a"], "at least two different models"),
        ("sideways", ["a"], "unknown pairing strategy"),
        ("within", [], "at least one model"),
    ],
)
def test_bad_pairing_requests_are_clear_errors(store, strategy, models, message):
    with pytest.raises(PairingError, match=message):
        pair_responses(store, strategy, models)


def test_cli_pair_reports_json_and_errors_in_one_line(db_path, write_jsonl):
    with Store(db_path) as store:
        (prompt,) = _prompt_ids(store, write_jsonl, ["cli?"])
        _add(store, prompt, "a", "first", "second")
    runner = CliRunner()
    result = runner.invoke(
        main, ["pair", "--db", str(db_path), "--strategy", "within", "--model", "a", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "strategy": "within",
        "models": ["a"],
        "added": 1,
        "identical_skipped": 0,
    }
    bad = runner.invoke(
        main, ["pair", "--db", str(db_path), "--strategy", "across", "--model", "a"]
    )
    assert bad.exit_code == 1
    assert "at least two different models" in assert_one_error_line(bad.stderr)
