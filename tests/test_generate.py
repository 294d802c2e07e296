"""Generating candidates: batched and left-padded, N samples, stored per batch, cancel, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from curation.arena.candidates import prompts_from_file
from curation.errors import BadInput
from curation.store.store import Store
from tests.conftest import assert_one_error_line
from tests.models import build_tiny_causal_lm
from training.generate import (
    GenerationError,
    SamplingSettings,
    generate_batches,
    generate_candidates,
    generate_texts,
)
from training.models import EMBEDDED_MODEL, load_causal_lm

PROMPTS = [
    "Hi",
    "What is the capital of France, and why is it famous?",
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}],
    "Write a short poem about the sea and the wind and the rain.",
    "2+2?",
]
GREEDY = SamplingSettings(temperature=0, max_new_tokens=8)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")


@pytest.fixture(scope="module")
def tiny(tiny_lm):
    return load_causal_lm(tiny_lm)


def _store_with_prompts(store: Store, write_jsonl, count: int = 5) -> None:
    from curation.io.importer import import_paths

    import_paths(
        store,
        [
            write_jsonl(
                "p.jsonl", [{"prompt": f"Prompt number {i}" + " x" * i} for i in range(count)]
            )
        ],
    )


def test_batched_greedy_generation_matches_one_prompt_at_a_time(tiny):
    model, tokenizer = tiny
    batched = generate_texts(model, tokenizer, PROMPTS, GREEDY, batch_size=5)
    single = [generate_texts(model, tokenizer, [p], GREEDY)[0] for p in PROMPTS]
    assert batched == single
    assert all(len(texts) == 1 and texts[0] for texts in batched)


def test_batches_are_sorted_longest_first_and_padded_on_the_left(tiny):
    model, tokenizer = tiny
    batches = list(generate_batches(model, tokenizer, PROMPTS, GREEDY, batch_size=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    order = [index for batch in batches for index, _ in batch]
    assert sorted(order) == list(range(5)) and order[0] == 3 and order[-1] == 0
    assert tokenizer.padding_side == "left"
    assert all(0 < s.tokens <= 8 for batch in batches for _, samples in batch for s in samples)


def test_n_samples_per_prompt_with_sampling(tiny):
    model, tokenizer = tiny
    texts = generate_texts(
        model, tokenizer, PROMPTS[:2], SamplingSettings(n=3, temperature=1.0, max_new_tokens=12)
    )
    assert [len(t) for t in texts] == [3, 3]
    assert len(set(texts[1])) > 1  # samples differ


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"n": 2, "temperature": 0}, "need a temperature above 0"),
        ({"top_p": 0}, "top_p must be"),
        ({"max_new_tokens": 0}, "max new tokens"),
    ],
)
def test_bad_sampling_settings_are_clear_errors(settings, message):
    with pytest.raises(GenerationError, match=message):
        SamplingSettings(**settings)


def test_a_mistyped_prompt_choice_is_a_clear_error(store, tiny_lm):
    with pytest.raises(
        BadInput, match="expected unlabeled or all or a prompt file, got 'unlabelled'"
    ):
        generate_candidates(store, [str(tiny_lm)], prompts="unlabelled")


def test_generated_responses_are_stored_with_model_and_settings(store, write_jsonl, tiny_lm):
    _store_with_prompts(store, write_jsonl)
    seen = []
    settings = SamplingSettings(n=2, temperature=0.9, max_new_tokens=6, seed=3)
    report = generate_candidates(
        store,
        [str(tiny_lm)],
        settings=settings,
        batch_size=2,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert (report.prompts, report.samples, report.prompts_done) == (5, 10, 5)
    assert seen == [(2, 5), (4, 5), (5, 5)]
    rows = store.con.execute("SELECT model, source, meta FROM responses").fetchall()
    assert report.responses_added == len(rows) and len(rows) >= 9  # two samples may coincide
    model, source, meta = rows[0]
    assert (model, source) == (str(tiny_lm), "generate")
    meta = json.loads(meta)
    assert (meta["temperature"], meta["max_new_tokens"], meta["seed"]) == (0.9, 6, 3)
    assert meta["sample"] in (0, 1) and 0 < meta["new_tokens"] <= 6
    # By default only prompts without a response from this model are taken: none are left.
    again = generate_candidates(store, [str(tiny_lm)], settings=settings)
    assert (again.prompts, again.responses_added) == (0, 0)


def test_cancel_keeps_the_batches_already_done(store, write_jsonl, tiny_lm):
    _store_with_prompts(store, write_jsonl, count=6)
    done = []
    report = generate_candidates(
        store,
        [str(tiny_lm)],
        settings=GREEDY,
        batch_size=2,
        progress=lambda d, t: done.append(d),
        should_stop=lambda: len(done) >= 1,
    )
    assert report.cancelled and report.prompts_done == 2
    assert store.con.execute("SELECT count(*) FROM responses").fetchall()[0][0] == 2
    rest = generate_candidates(store, [str(tiny_lm)], settings=GREEDY, batch_size=4)
    assert (rest.prompts, rest.responses_added, rest.cancelled) == (4, 4, False)


def test_prompts_from_a_file_are_imported_and_generated_for(store, write_jsonl, tiny_lm):
    path = write_jsonl(
        "new.jsonl", [{"prompt": "Fresh one"}, {"prompt": "Fresh two"}, {"prompt": "Fresh one"}]
    )
    report = generate_candidates(store, [str(tiny_lm)], prompts=path, settings=GREEDY)
    assert (report.prompts, report.responses_added) == (2, 2)
    assert store.con.execute("SELECT count(*) FROM prompts").fetchall()[0][0] == 2


def test_prompts_from_a_file_come_in_file_order_once_each(store, write_jsonl):
    texts = ["Fresh two", "Fresh one", "Fresh two", "Fresh three"]
    path = write_jsonl("new.jsonl", [{"prompt": text} for text in texts])
    prompts = prompts_from_file(store, path, limit=3)
    assert [p.messages[0]["content"] for p in prompts] == ["Fresh two", "Fresh one", "Fresh three"]
    assert prompts_from_file(store, path, limit=1) == prompts[:1]  # a re-import adds nothing


def test_a_lora_adapter_folder_generates_like_a_model(store, write_jsonl, tiny_lm, tmp_path):
    from peft import LoraConfig, get_peft_model

    model, _ = load_causal_lm(tiny_lm)
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(
        tmp_path / "run-out"
    )
    _store_with_prompts(store, write_jsonl, count=2)
    report = generate_candidates(store, [str(tmp_path / "run-out"), str(tiny_lm)], settings=GREEDY)
    assert report.per_model == {str(tmp_path / "run-out"): 2, str(tiny_lm): 2}


def test_cli_generate_json_and_bad_settings(db_path, write_jsonl, tiny_lm):
    with Store(db_path) as store:
        _store_with_prompts(store, write_jsonl, count=3)
    runner = CliRunner()
    args = ["generate", "--db", str(db_path), "--model", str(tiny_lm), "--max-new-tokens", "4"]
    result = runner.invoke(main, [*args, "--limit", "2", "--n", "2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["prompts"] == 2 and data["samples"] == 4 and data["settings"]["n"] == 2
    bad = runner.invoke(main, [*args, "--temperature", "0"])  # n defaults to 2
    assert bad.exit_code == 1
    assert "temperature above 0" in assert_one_error_line(bad.stderr)


def test_embedded_default_answers_a_question(store, write_jsonl):
    from curation.io.importer import import_paths

    import_paths(store, [write_jsonl("q.jsonl", [{"prompt": "What is the capital of France?"}])])
    report = generate_candidates(
        store, [EMBEDDED_MODEL], settings=SamplingSettings(temperature=0, max_new_tokens=12)
    )
    (text,) = store.con.execute(
        "SELECT text FROM responses WHERE model = ?", [EMBEDDED_MODEL]
    ).fetchall()[0]
    assert report.responses_added == 1 and "Paris" in text
