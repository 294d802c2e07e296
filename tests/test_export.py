"""Exports are TRL's dataset formats, read back unchanged by `datasets`, and re-importable."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from conftest import CONVERSATION, PREFERENCES, THUMBS, table_counts

from curation import Store, export_dataset, import_paths
from curation.errors import ExportError
from curation.labelling.queue import next_pair_for
from curation.labelling.votes import record_label, undo_last


def read_back(path: Path, file_type: str) -> list[dict]:
    """Rows as `datasets` reads the exported file or folder."""
    if file_type == "hf":
        return datasets.load_from_disk(str(path)).to_list()
    builder = "json" if file_type == "jsonl" else "parquet"
    return datasets.load_dataset(builder, data_files=str(path), split="train").to_list()


@pytest.mark.parametrize("file_type", ["jsonl", "parquet", "hf"])
def test_standard_preferences_round_trip_as_strings(store, write_jsonl, tmp_path, file_type):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    out = tmp_path / f"dpo.{file_type}"
    report = export_dataset(store, "dpo", out, file_type)
    assert report.rows == 2 and not report.conversational
    rows = read_back(out, file_type)
    assert sorted(rows, key=lambda r: r["prompt"]) == sorted(PREFERENCES, key=lambda r: r["prompt"])


@pytest.mark.parametrize("file_type", ["jsonl", "parquet", "hf"])
def test_conversational_data_exports_as_messages(store, write_jsonl, tmp_path, file_type):
    import_paths(store, [write_jsonl("chat.jsonl", [CONVERSATION])])
    out = tmp_path / f"rm.{file_type}"
    assert export_dataset(store, "rm", out, file_type).conversational
    assert read_back(out, file_type) == [CONVERSATION]


def test_mixed_data_exports_every_row_as_a_conversation(store, write_jsonl, tmp_path):
    import_paths(store, [write_jsonl("mixed.jsonl", [*PREFERENCES, CONVERSATION])])
    rows = read_back(export_dataset(store, "dpo", tmp_path / "d.jsonl").path, "jsonl")
    assert len(rows) == 3
    assert all(
        isinstance(r["prompt"], list) and r["chosen"][0]["role"] == "assistant" for r in rows
    )


def test_dpo_export_reimports_to_the_same_preferences(store, write_jsonl, tmp_path):
    import_paths(store, [write_jsonl("prefs.jsonl", [*PREFERENCES, CONVERSATION])])
    out = tmp_path / "dpo.jsonl"
    export_dataset(store, "dpo", out)
    with Store(tmp_path / "second.duckdb") as second:
        import_paths(second, [out])
        assert table_counts(second) == table_counts(store)
        for table in ("prompts", "responses", "pairs"):
            ids = f"SELECT id FROM {table} ORDER BY id"
            assert second.con.execute(ids).fetchall() == store.con.execute(ids).fetchall()


def test_kto_export_has_thumbs_and_unpaired_preferences(store, write_jsonl, tmp_path):
    import_paths(
        store, [write_jsonl("thumbs.jsonl", THUMBS), write_jsonl("prefs.jsonl", PREFERENCES[:1])]
    )
    rows = read_back(
        export_dataset(store, "kto", tmp_path / "kto.parquet", "parquet").path, "parquet"
    )
    assert sorted((r["completion"], r["label"]) for r in rows) == [
        ("4", True),
        ("5", False),
        ("Go away.", False),
        ("Hi there!", True),
    ]


def test_sft_export_has_references_winners_and_liked_responses(store, write_jsonl, tmp_path):
    sft = write_jsonl("sft.jsonl", [{"prompt": "Name a colour", "completion": "Blue."}])
    import_paths(
        store,
        [sft, write_jsonl("thumbs.jsonl", THUMBS), write_jsonl("prefs.jsonl", PREFERENCES[:1])],
    )
    rows = read_back(export_dataset(store, "sft", tmp_path / "sft.jsonl").path, "jsonl")
    assert sorted(r["completion"] for r in rows) == ["4", "Blue.", "Hi there!"]
    assert set(rows[0]) == {"prompt", "completion"}


def test_tied_and_unlabelled_pairs_are_not_exported(store, write_jsonl, tmp_path):
    rows = [
        {"prompt": "tie", "responses": ["x", "y"], "scores": [1, 1]},
        {"prompt": "open", "responses": ["p", "q"]},
        {"prompt": "won", "responses": ["good", "bad"], "scores": [2, 1]},
    ]
    import_paths(store, [write_jsonl("multi.jsonl", rows)])
    exported = read_back(export_dataset(store, "dpo", tmp_path / "d.jsonl").path, "jsonl")
    assert exported == [{"prompt": "won", "chosen": "good", "rejected": "bad"}]


def test_majority_of_annotators_decides_the_direction(store, write_jsonl, tmp_path):
    for name, (chosen, rejected) in {"a1": ("A", "B"), "a2": ("A", "B"), "a3": ("B", "A")}.items():
        import_paths(
            store,
            [
                write_jsonl(
                    f"{name}.jsonl", [{"prompt": "Q", "chosen": chosen, "rejected": rejected}]
                )
            ],
        )
    exported = read_back(export_dataset(store, "dpo", tmp_path / "d.jsonl").path, "jsonl")
    assert exported == [{"prompt": "Q", "chosen": "A", "rejected": "B"}]


@pytest.mark.parametrize("file_type", ["jsonl", "parquet"])
def test_labels_export_has_every_label_in_force_with_its_texts(
    store, write_jsonl, tmp_path, file_type
):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)], source="seed")
    unlabelled = [{"prompt": f"Name colour {i}.", "responses": ["Blue.", "Loud."]} for i in (1, 2)]
    import_paths(store, [write_jsonl("open.jsonl", unlabelled)])
    tied = next_pair_for(store, "ann").pair_id
    record_label(store, "ann", tied, "tie", rationale="both fine")
    record_label(store, "ann", next_pair_for(store, "ann").pair_id, "a")
    undo_last(store, "ann")  # retracted: no longer in force, so not exported
    out = tmp_path / f"labels.{file_type}"
    report = export_dataset(store, "labels", out, file_type)
    rows = read_back(out, file_type)
    assert report.rows == len(rows) == 3
    chosen = {p["prompt"]: p["chosen"] for p in PREFERENCES}
    imported = [r for r in rows if r["annotator"] == "import:seed"]
    assert len(imported) == 2
    for row in imported:  # the choice names the side that holds the chosen text
        assert row[f"response_{row['choice']}"] == chosen[row["prompt"][0]["content"]]
    (mine,) = [r for r in rows if r["annotator"] == "ann"]
    assert (mine["pair_id"], mine["choice"], mine["rationale"]) == (tied, "tie", "both fine")


def test_export_with_nothing_to_write_fails_clearly(store, tmp_path):
    with pytest.raises(ExportError, match="nothing to export as dpo"):
        export_dataset(store, "dpo", tmp_path / "d.jsonl")
    assert not (tmp_path / "d.jsonl").exists()


def test_hf_export_refuses_to_overwrite_a_folder(store, write_jsonl, tmp_path):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    (tmp_path / "out").mkdir()
    with pytest.raises(ExportError, match="already exists"):
        export_dataset(store, "dpo", tmp_path / "out", "hf")


def test_failed_export_leaves_no_partial_file(store, write_jsonl, tmp_path):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    with pytest.raises(ExportError):
        export_dataset(store, "dpo", tmp_path / "d.xlsx", "xlsx")
    assert list(tmp_path.glob("d.*")) == [] and list(tmp_path.glob(".d.*")) == []


def test_unwritable_destination_fails_clearly(store, write_jsonl, tmp_path):
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    blocker = tmp_path / "a-file"
    blocker.write_text("", "utf-8")
    with pytest.raises(ExportError, match="cannot write"):
        export_dataset(store, "dpo", blocker / "sub" / "d.jsonl")


def test_exports_of_the_same_store_are_byte_identical(store, tmp_path):
    import_paths(store, [Path(__file__).resolve().parent.parent / "data"])
    first = export_dataset(store, "kto", tmp_path / "one.jsonl").path
    second = export_dataset(store, "kto", tmp_path / "two.jsonl").path
    assert Path(first).read_bytes() == Path(second).read_bytes()
