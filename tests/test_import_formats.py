"""Every import format and file type lands in the store as prompts, responses, pairs and labels."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pandas as pd
import pytest
from conftest import CONVERSATION, PREFERENCES, THUMBS, table_counts

from curation import BadInput, Store, import_paths


def labels_by_text(store: Store) -> set[tuple[str, str, str]]:
    """(chosen text, rejected text, annotator) for every a/b label in the store."""
    rows = store.con.execute(
        """SELECT CASE WHEN l.choice = 'a' THEN ra.text ELSE rb.text END,
                  CASE WHEN l.choice = 'a' THEN rb.text ELSE ra.text END, l.annotator
           FROM labels l JOIN pairs p ON p.id = l.pair_id
           JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
           WHERE l.choice IN ('a', 'b')"""
    ).fetchall()
    return set(rows)


def prompt_messages(store: Store) -> list[list[dict]]:
    return [
        json.loads(m)
        for (m,) in store.con.execute("SELECT messages FROM prompts ORDER BY messages").fetchall()
    ]


def test_standard_preference_becomes_pairs_with_import_labels(store, write_jsonl):
    report = import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    assert report.files[0].format == "preference"
    assert report.added == {"prompts": 2, "responses": 4, "pairs": 2, "labels": 2, "ratings": 0}
    assert labels_by_text(store) == {
        ("4", "5", "import:prefs"),
        ("Paris.", "Lyon, obviously.", "import:prefs"),
    }
    assert {"role": "user", "content": "What is 2+2?"} in [m[0] for m in prompt_messages(store)]
    assert store.con.execute("SELECT bool_or(is_chat) FROM prompts").fetchone()[0] is False


def test_conversational_preference_keeps_every_turn(store, write_jsonl):
    import_paths(store, [write_jsonl("chat.jsonl", [CONVERSATION])])
    assert prompt_messages(store) == [CONVERSATION["prompt"]]
    assert labels_by_text(store) == {("Honey never spoils.", "No.", "import:chat")}
    assert store.con.execute("SELECT is_chat FROM prompts").fetchone()[0] is True


def test_implicit_prompt_is_cut_from_the_shared_start(store, write_jsonl):
    conversational = {
        "chosen": [*CONVERSATION["prompt"], *CONVERSATION["chosen"]],
        "rejected": [*CONVERSATION["prompt"], *CONVERSATION["rejected"]],
    }
    plain = {"chosen": "The sky is blue", "rejected": "The sky is green"}
    report = import_paths(store, [write_jsonl("implicit.jsonl", [conversational, plain])])
    assert report.files[0].format == "preference"
    assert CONVERSATION["prompt"] in prompt_messages(store)
    assert [{"role": "user", "content": "The sky is"}] in prompt_messages(store)
    assert ("Honey never spoils.", "No.", "import:implicit") in labels_by_text(store)
    assert (" blue", " green", "import:implicit") in labels_by_text(store)


def test_unpaired_rows_become_thumb_ratings(store, write_jsonl):
    report = import_paths(store, [write_jsonl("thumbs.jsonl", THUMBS)])
    assert report.files[0].format == "unpaired"
    assert report.added["ratings"] == 2 and report.added["pairs"] == 0
    thumbs = store.con.execute(
        "SELECT r.text, t.thumb FROM ratings t JOIN responses r ON r.id = t.response_id ORDER BY r.text"
    ).fetchall()
    assert thumbs == [("Go away.", False), ("Hi there!", True)]


@pytest.mark.parametrize(
    "row",
    [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello!"},
            ]
        },
        {"prompt": "Hi", "completion": "Hello!"},
    ],
    ids=["messages", "prompt-completion"],
)
def test_sft_rows_become_reference_responses(store, write_jsonl, row):
    report = import_paths(store, [write_jsonl("sft.jsonl", [row])])
    assert report.files[0].format == "sft"
    assert store.con.execute("SELECT text, is_reference FROM responses").fetchall() == [
        ("Hello!", True)
    ]
    assert prompt_messages(store) == [[{"role": "user", "content": "Hi"}]]


def test_prompt_only_rows_become_prompts(store, write_jsonl):
    report = import_paths(
        store, [write_jsonl("prompts.jsonl", [{"prompt": "Why?"}, {"prompt": "How?"}])]
    )
    assert report.files[0].format == "prompts"
    assert table_counts(store) == {
        "prompts": 2,
        "responses": 0,
        "pairs": 0,
        "labels": 0,
        "ratings": 0,
    }


def test_multi_response_rows_expand_into_every_pair(store, write_jsonl):
    rows = [
        {"prompt": "unlabelled", "responses": ["a", "b", "c"]},
        {"prompt": "scored", "responses": ["low", "high", "mid"], "scores": [1, 9, 5]},
        {"prompt": "ranked", "responses": ["second", "first"], "ranks": [2, 1]},
        {"prompt": "tied", "responses": ["x", "y"], "scores": [3, 3]},
    ]
    report = import_paths(store, [write_jsonl("multi.jsonl", rows)])
    assert report.files[0].format == "responses"
    assert report.added["pairs"] == 3 + 3 + 1 + 1
    assert report.added["labels"] == 3 + 1 + 1
    preferred = {(c, r) for c, r, _ in labels_by_text(store)}
    assert preferred == {("high", "low"), ("mid", "low"), ("high", "mid"), ("first", "second")}
    assert store.con.execute("SELECT count(*) FROM labels WHERE choice = 'tie'").fetchone()[0] == 1


def test_reimport_is_a_no_op(store, write_jsonl):
    path = write_jsonl("prefs.jsonl", [*PREFERENCES, CONVERSATION])
    import_paths(store, [path])
    before = table_counts(store)
    report = import_paths(store, [path])
    assert set(report.added.values()) == {0}
    assert table_counts(store) == before


def test_progress_hears_each_file_then_each_load_step(store, write_jsonl):
    first = write_jsonl("a.jsonl", PREFERENCES)
    second = write_jsonl("b.jsonl", THUMBS)
    heard: list[tuple[int, int, str]] = []
    import_paths(store, [first, second], progress=lambda *step: heard.append(step))
    names = ["reading a.jsonl", "reading b.jsonl", "prompts", "responses", "pairs", "labels"]
    assert heard == [(i, 7, name) for i, name in enumerate([*names, "commit", "done"])]


def test_progress_never_hears_done_when_the_import_fails(store, write_jsonl):
    bad = write_jsonl("bad.jsonl", [{"prompt": "Q", "chosen": 3, "rejected": "B"}])
    heard: list[tuple[int, int, str]] = []
    with pytest.raises(BadInput):
        import_paths(store, [bad], progress=lambda *step: heard.append(step))
    assert heard == [(0, 6, "reading bad.jsonl")]


def test_swapped_duplicate_pair_is_one_pair_with_two_labels(store, write_jsonl):
    first = write_jsonl("one.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}])
    second = write_jsonl("two.jsonl", [{"prompt": "Q", "chosen": "B", "rejected": "A"}])
    import_paths(store, [first, second])
    assert table_counts(store)["pairs"] == 1
    assert labels_by_text(store) == {("A", "B", "import:one"), ("B", "A", "import:two")}


def test_same_conversation_as_string_or_messages_is_one_prompt(store, write_jsonl):
    as_string = {"prompt": "Hello?", "chosen": "Hi", "rejected": "No"}
    as_messages = {
        "prompt": [{"role": "user", "content": "Hello?"}],
        "chosen": "Hey",
        "rejected": "Meh",
    }
    import_paths(
        store, [write_jsonl("a.jsonl", [as_string]), write_jsonl("b.jsonl", [as_messages])]
    )
    assert table_counts(store)["prompts"] == 1


def test_source_name_overrides_the_file_name(store, write_jsonl):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)], source="vendor-x")
    annotators = {a for _, _, a in labels_by_text(store)}
    assert annotators == {"import:vendor-x"}
    assert store.con.execute("SELECT DISTINCT source FROM prompts").fetchall() == [("vendor-x",)]


def test_forced_format_overrides_detection(store, write_jsonl):
    path = write_jsonl("prefs.jsonl", PREFERENCES)
    report = import_paths(store, [path], format="prompts")
    assert report.files[0].format == "prompts"
    assert table_counts(store)["responses"] == 0


def test_megabyte_responses_import_whole(store, write_jsonl):
    huge = "word " * 200_000 + "end"
    import_paths(
        store,
        [write_jsonl("huge.jsonl", [{"prompt": "Long?", "chosen": huge, "rejected": "short"}])],
    )
    assert store.con.execute("SELECT max(length(text)) FROM responses").fetchone()[0] == len(huge)


def test_json_array_file(store, tmp_path):
    path = tmp_path / "prefs.json"
    path.write_text(json.dumps(PREFERENCES), "utf-8")
    import_paths(store, [path])
    assert table_counts(store)["labels"] == 2


def test_csv_with_list_cells(store, tmp_path):
    path = tmp_path / "multi.csv"
    pd.DataFrame(
        [
            {
                "prompt": "Q1, with a comma",
                "responses": " " + json.dumps(["a", 'b "quoted"'], indent=1),  # spaces, newlines
                "scores": "[2, 1]",
            },
            {"prompt": "Q2", "responses": json.dumps(["c", "d"]), "scores": None},
        ]
    ).to_csv(path, index=False)
    report = import_paths(store, [path])
    assert report.files[0].format == "responses"
    assert labels_by_text(store) == {("a", 'b "quoted"', "import:multi")}
    assert table_counts(store)["pairs"] == 2


def test_csv_unpaired_labels_read_as_booleans(store, tmp_path):
    path = tmp_path / "thumbs.csv"
    path.write_text("prompt,completion,label\nQ,good,true\nQ,bad,false\n", "utf-8")
    import_paths(store, [path])
    assert sorted(store.con.execute("SELECT thumb FROM ratings").fetchall()) == [(False,), (True,)]


def test_parquet_with_conversations(store, tmp_path):
    path = tmp_path / "chat.parquet"
    pd.DataFrame([CONVERSATION]).to_parquet(path)
    import_paths(store, [path])
    assert prompt_messages(store) == [CONVERSATION["prompt"]]
    assert labels_by_text(store) == {("Honey never spoils.", "No.", "import:chat")}


def test_datasets_folder_with_splits(store, tmp_path):
    folder = tmp_path / "hf"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(PREFERENCES),
            "test": datasets.Dataset.from_list(
                [{"prompt": "Q3", "chosen": "yes", "rejected": "no"}]
            ),
        }
    ).save_to_disk(str(folder))
    report = import_paths(store, [folder])
    assert sorted(f.records for f in report.files) == [1, 2]
    assert table_counts(store)["labels"] == 3


def test_folder_imports_every_supported_file(store, tmp_path, write_jsonl):
    write_jsonl("in/a.jsonl", PREFERENCES)
    write_jsonl("in/nested/b.jsonl", [CONVERSATION])
    (tmp_path / "in" / "notes.txt").write_text("not data", "utf-8")
    report = import_paths(store, [tmp_path / "in"])
    assert len(report.files) == 2
    assert table_counts(store)["labels"] == 3


def test_half_a_pair_is_refused_not_read_as_prompts(store, write_jsonl):
    with pytest.raises(BadInput, match='field "rejected"'):
        import_paths(store, [write_jsonl("half.jsonl", [{"prompt": "Q", "chosen": "A"}])])
    assert table_counts(store)["prompts"] == 0


def test_bundled_sample_has_labelled_and_unlabelled_pairs(store):
    report = import_paths(store, [Path(__file__).resolve().parent.parent / "data"])
    assert {f.format for f in report.files} == {"preference", "responses", "unpaired"}
    counts = table_counts(store)
    assert 180 <= counts["prompts"] <= 320
    per_prompt = store.con.execute(
        "SELECT min(n), max(n) FROM (SELECT count(*) n FROM responses GROUP BY prompt_id)"
    ).fetchone()
    assert per_prompt[0] >= 1 and per_prompt[1] <= 6
    labelled = store.con.execute("SELECT count(*) FROM pair_votes").fetchone()[0]
    assert 0 < labelled < counts["pairs"]


def test_dataset_folder_inside_a_folder_is_read_once_as_a_dataset(store, tmp_path, write_jsonl):
    datasets.Dataset.from_list(PREFERENCES).save_to_disk(str(tmp_path / "in" / "hf"))
    write_jsonl("in/.hidden/skip.jsonl", [CONVERSATION])
    report = import_paths(store, [tmp_path / "in"])
    assert [Path(f.path).name for f in report.files] == ["hf"]
    assert table_counts(store)["labels"] == 2


def test_null_scores_leave_a_row_unlabelled(store, write_jsonl):
    rows = [
        {"prompt": "open", "responses": ["a", "b"], "scores": None},
        {"prompt": "scored", "responses": ["c", "d"], "scores": [1, 2]},
    ]
    report = import_paths(store, [write_jsonl("multi.jsonl", rows)])
    assert report.added["pairs"] == 2 and report.added["labels"] == 1
