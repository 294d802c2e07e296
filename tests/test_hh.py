"""Anthropic HH transcripts: the shared conversation becomes the prompt, the rest the responses."""

from __future__ import annotations

import json

import pytest
from conftest import table_counts

from curation import BadInput, import_paths
from curation.io.transcripts import parse_hh_turns, split_hh_pair

PREFIX = "\n\nHuman: Hi there\n\nAssistant: Hello! How can I help?\n\nHuman: Tell me a joke."


def test_multi_turn_prefix_is_parsed_into_messages():
    prompt, chosen, rejected = split_hh_pair(
        PREFIX + "\n\nAssistant: Why did the chicken cross the road?",
        PREFIX + "\n\nAssistant: No.",
    )
    assert prompt == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Tell me a joke."},
    ]
    assert (chosen, rejected) == ("Why did the chicken cross the road?", "No.")


def test_responses_that_quote_turn_markers_keep_them():
    chosen = "You can write it as 'Human: hi' in your script.\n\nHuman: then more text"
    rejected = "Assistant: is how I start.\n\nAssistant: twice"
    prompt, got_chosen, got_rejected = split_hh_pair(
        PREFIX + "\n\nAssistant: " + chosen, PREFIX + "\n\nAssistant: " + rejected
    )
    assert len(prompt) == 3
    assert got_chosen == chosen
    assert got_rejected == rejected


def test_responses_sharing_their_first_words_are_not_cut():
    _, chosen, rejected = split_hh_pair(
        PREFIX + "\n\nAssistant: Sure, here", PREFIX + "\n\nAssistant: Sure, no"
    )
    assert (chosen, rejected) == ("Sure, here", "Sure, no")


@pytest.mark.parametrize("empty", ["", " ", "   \n  "])
def test_whitespace_only_responses_are_kept_as_written(empty):
    _, chosen, rejected = split_hh_pair(
        PREFIX + "\n\nAssistant: A real answer.", PREFIX + "\n\nAssistant:" + empty
    )
    assert chosen == "A real answer."
    assert rejected.strip() == ""


def test_transcript_without_leading_blank_line_is_accepted():
    assert parse_hh_turns("Human: a\n\nAssistant: b") == [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
    ]


def test_pair_sharing_no_assistant_turn_is_refused():
    with pytest.raises(ValueError, match="share no Assistant"):
        split_hh_pair("\n\nHuman: a\n\nAssistant: x", "\n\nHuman: b\n\nAssistant: y")


def test_hh_file_is_detected_and_imported(store, write_jsonl):
    rows = [
        {
            "chosen": PREFIX + "\n\nAssistant: A pun.",
            "rejected": PREFIX + "\n\nAssistant: Human: no",
        },
        {"chosen": "\n\nHuman: 2+2?\n\nAssistant: 4", "rejected": "\n\nHuman: 2+2?\n\nAssistant: "},
    ]
    report = import_paths(store, [write_jsonl("hh.jsonl", rows)])
    assert report.files[0].format == "hh"
    assert report.added["labels"] == 2
    texts = {t for (t,) in store.con.execute("SELECT text FROM responses").fetchall()}
    assert texts == {"A pun.", "Human: no", "4", ""}
    prompts = [
        json.loads(m) for (m,) in store.con.execute("SELECT messages FROM prompts").fetchall()
    ]
    assert [{"role": "user", "content": "2+2?"}] in prompts


def test_bad_hh_row_names_its_line_and_imports_nothing(store, write_jsonl):
    rows = [
        {"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q\n\nAssistant: b"},
        {"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: other\n\nAssistant: b"},
    ]
    with pytest.raises(BadInput, match=r'hh\.jsonl, line 2, field "chosen": .*share no Assistant'):
        import_paths(store, [write_jsonl("hh.jsonl", rows)], format="hh")
    assert set(table_counts(store).values()) == {0}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"chosen": "\n\nHuman: hi there", "rejected": "\n\nHuman: hi there you"}, "chosen"),
        ({"chosen": "\n\nHuman: q\n\nAssistant: a", "rejected": "\n\nHuman: q"}, "rejected"),
    ],
    ids=["neither-side", "rejected-side"],
)
def test_transcript_without_an_assistant_turn_is_refused_not_read_as_plain_text(
    store, write_jsonl, row, field
):
    with pytest.raises(BadInput, match=rf'line 1, field "{field}": transcript has no Assistant'):
        import_paths(store, [write_jsonl("hh.jsonl", [row])])
    assert set(table_counts(store).values()) == {0}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"chosen": "The sky is", "rejected": "The sky is green"}, "chosen"),
        ({"chosen": "The sky is blue", "rejected": "The sky is blue"}, "chosen"),
        ({"chosen": "The sky is blue!", "rejected": "The sky is blue"}, "rejected"),
    ],
    ids=["chosen-is-the-prompt", "identical", "rejected-is-the-prompt"],
)
def test_implicit_prompt_leaving_a_side_empty_is_refused(store, write_jsonl, row, field):
    rows = [{"chosen": "Sky is blue", "rejected": "Sky is green"}, row]
    with pytest.raises(BadInput, match=rf'line 2, field "{field}": nothing is left for a response'):
        import_paths(store, [write_jsonl("implicit.jsonl", rows)])
    assert set(table_counts(store).values()) == {0}
