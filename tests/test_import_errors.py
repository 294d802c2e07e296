"""Bad input is refused with one clear message naming file, place and field, and stores nothing."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import assert_one_error_line, imported_through_api, table_counts

from curation import BadInput, Store, UnknownFormat, import_paths

WriteJsonl = Callable[[str, list[dict]], Path]
ZEROS = {"prompts": 0, "responses": 0, "pairs": 0, "labels": 0, "ratings": 0}
GOOD_PAIRS = [
    {"prompt": "What is 2 + 2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"},
]


def refused(store: Store, paths: list[Path], **kwargs: object) -> str:
    """Import `paths`, expect BadInput, and return its message."""
    with pytest.raises(BadInput) as caught:
        import_paths(store, paths, **kwargs)
    return str(caught.value)


def refused_naming(store: Store, paths: list[Path], *parts: str, **kwargs: object) -> str:
    """Expect the import to be refused with a message holding every part, storing nothing."""
    message = refused(store, paths, **kwargs)
    for part in parts:
        assert part in message, message
    assert table_counts(store) == ZEROS
    return message


def write_lines(path: Path, lines: list[str]) -> Path:
    """Write raw text lines (each ends with a newline) and return the path."""
    path.write_text("".join(line + "\n" for line in lines), "utf-8")
    return path


def cli_import(path: Path, db: Path) -> subprocess.CompletedProcess:
    """Run `prefstudio import PATH --db DB` as its own process."""
    command = ["prefstudio", "import", str(path), "--db", str(db)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def snapshot(store: Store) -> dict[str, list[tuple]]:
    """Every row of the tables an import writes, in a stable order."""
    tables = ("prompts", "responses", "pairs", "labels", "ratings")
    return {t: store.con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in tables}


def test_malformed_line_names_its_line_counting_blank_lines_and_imports_nothing(
    store: Store, tmp_path: Path
) -> None:
    good = json.dumps(GOOD_PAIRS[0])
    path = write_lines(
        tmp_path / "broken.jsonl",
        [good, "", '{"prompt": "x", "chosen": ', json.dumps(GOOD_PAIRS[1])],
    )
    refused_naming(store, [path], str(path), "line 3")


def test_missing_field_names_line_and_field_and_imports_nothing(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl("missing.jsonl", [GOOD_PAIRS[0], {"prompt": "Hi?", "chosen": "Hello"}])
    refused_naming(store, [path], str(path), "line 2", 'field "rejected"')


@pytest.mark.parametrize(
    ("bad_record", "field"),
    [
        ({"prompt": "Hi?", "chosen": 42, "rejected": "no"}, "chosen"),
        ({"prompt": {"text": "Hi?"}, "chosen": "yes", "rejected": "no"}, "prompt"),
        ({"prompt": [{"role": "user", "content": 7}], "chosen": "yes", "rejected": "no"}, "prompt"),
    ],
    ids=["chosen-is-number", "prompt-is-object", "message-content-is-number"],
)
def test_wrong_typed_preference_field_names_line_and_field_and_imports_nothing(
    store: Store, write_jsonl: WriteJsonl, bad_record: dict, field: str
) -> None:
    path = write_jsonl("typed.jsonl", [GOOD_PAIRS[0], bad_record, GOOD_PAIRS[1]])
    refused_naming(store, [path], str(path), "line 2", f'field "{field}"')


def test_string_label_in_unpaired_data_names_field_label(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl(
        "thumbs.jsonl",
        [
            {"prompt": "Hi?", "completion": "Hello!", "label": True},
            {"prompt": "Bye?", "completion": "Ciao", "label": "maybe"},
        ],
    )
    refused_naming(store, [path], str(path), "line 2", 'field "label"')


def test_scores_of_other_length_than_responses_names_field_scores(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl(
        "scored.jsonl",
        [
            {"prompt": "Hi?", "responses": ["a", "b"], "scores": [1, 2]},
            {"prompt": "Yo?", "responses": ["a", "b", "c"], "scores": [1, 2]},
        ],
    )
    refused_naming(store, [path], str(path), "line 2", 'field "scores"')


def test_non_utf8_bytes_name_their_line_and_import_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(
        (json.dumps(GOOD_PAIRS[0]) + "\n").encode()
        + b'{"prompt": "caf\xff\xfe", "chosen": "a", "rejected": "b"}\n'
    )
    refused_naming(store, [path], str(path), "line 2")


def test_empty_file_is_refused_naming_the_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    refused_naming(store, [path], str(path), "empty")


def test_file_of_only_blank_lines_is_refused_naming_the_file(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "blank.jsonl", ["", "   ", ""])
    refused_naming(store, [path], str(path))


def test_unknown_fields_raise_unknown_format_that_says_pass_format(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl("odd.jsonl", [{"text": "hello", "foo": 1}, {"text": "bye", "foo": 2}])
    with pytest.raises(UnknownFormat) as caught:
        import_paths(store, [path])
    assert str(path) in str(caught.value)
    assert "--format" in str(caught.value)
    assert table_counts(store) == ZEROS


def test_unsupported_extension_is_refused_naming_the_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text(json.dumps(GOOD_PAIRS[0]) + "\n", "utf-8")
    refused_naming(store, [path], str(path), ".txt")


def test_missing_path_is_refused_naming_it(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.jsonl"
    refused_naming(store, [path], str(path))


def test_folder_without_importable_files_is_refused_naming_it(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "readme.txt").write_text("nothing to import\n", "utf-8")
    refused_naming(store, [folder], str(folder))


def test_json_array_names_the_bad_record(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "pairs.json"
    path.write_text(json.dumps([GOOD_PAIRS[0], {"prompt": "Hi?", "chosen": 1, "rejected": "x"}]))
    refused_naming(store, [path], str(path), "record 2", 'field "chosen"')


def test_csv_names_the_bad_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "thumbs.csv"
    path.write_text(
        "prompt,completion,label\nHi?,Hello!,true\nBye?,Ciao,maybe\n",
        "utf-8",
    )
    refused_naming(store, [path], str(path), "row 2", 'field "label"')


def test_parquet_names_the_bad_row(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "scored.parquet"
    table = pa.table(
        {
            "prompt": ["Hi?", "Yo?"],
            "responses": [["a", "b"], ["a", "b", "c"]],
            "scores": [[1.0, 2.0], [1.0, 2.0]],
        }
    )
    pq.write_table(table, path)
    refused_naming(store, [path], str(path), "row 2", 'field "scores"')


def test_csv_with_unterminated_quote_is_refused_naming_the_file(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "quotes.csv"
    path.write_text('prompt,chosen,rejected\nHi?,"Hello,Bye\nYo?,a,b\n', "utf-8")
    refused_naming(store, [path], str(path))


def test_forced_unpaired_format_on_preference_data_names_missing_completion(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl("pairs.jsonl", GOOD_PAIRS)
    refused_naming(store, [path], str(path), 'field "completion"', format="unpaired")


def test_good_file_then_bad_file_in_one_call_stores_neither(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    good = write_jsonl("a_good.jsonl", GOOD_PAIRS)
    bad = write_jsonl("b_bad.jsonl", [{"prompt": "Hi?", "chosen": 3, "rejected": "x"}])
    refused_naming(store, [good, bad], str(bad))


def test_bad_folder_member_after_good_one_stores_nothing(
    store: Store, write_jsonl: WriteJsonl, tmp_path: Path
) -> None:
    write_jsonl("batch/a_good.jsonl", GOOD_PAIRS)
    bad = write_jsonl("batch/b_bad.jsonl", [{"prompt": "Hi?", "chosen": "y", "rejected": None}])
    refused_naming(store, [tmp_path / "batch"], str(bad))


def test_bad_import_after_good_one_leaves_earlier_data_exactly_as_it_was(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    good = write_jsonl("good.jsonl", GOOD_PAIRS)
    import_paths(store, [good])
    before = snapshot(store)
    assert table_counts(store)["pairs"] == 2
    other = write_jsonl("more.jsonl", [{"prompt": "New?", "chosen": "a", "rejected": "b"}])
    bad = write_jsonl("bad.jsonl", [{"prompt": "Hi?", "chosen": [1], "rejected": "x"}])
    refused(store, [other, bad])
    assert snapshot(store) == before


def test_store_accepts_good_data_after_a_refused_import(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    good = write_jsonl("good.jsonl", GOOD_PAIRS)
    bad = write_jsonl("bad.jsonl", [{"prompt": "Hi?", "chosen": 3, "rejected": "x"}])
    refused(store, [good, bad])
    report = import_paths(store, [good])
    assert report.added["pairs"] == 2
    assert table_counts(store)["labels"] == 2


def test_cli_import_of_bad_file_prints_one_error_line_and_exits_1(
    tmp_path: Path, write_jsonl: WriteJsonl
) -> None:
    bad = write_jsonl("bad.jsonl", [GOOD_PAIRS[0], {"prompt": "Hi?", "chosen": 5, "rejected": "x"}])
    result = cli_import(bad, tmp_path / "cli.duckdb")
    assert result.returncode == 1
    assert str(bad) in assert_one_error_line(result.stderr)
    assert "Traceback" not in result.stderr + result.stdout


def test_non_utf8_csv_names_its_line_and_imports_nothing(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(b"prompt,chosen,rejected\nok,a,b\ncaf\xe9,a,b\n")
    refused_naming(store, [path], str(path), "line 3", "not UTF-8")


# Files are read in parallel chunks and row groups of 122,880 rows: a problem far into a big file
# must still be named by its own line.
BIG_FILE_RECORDS = 250_000


def big_file_lines(bad_index: int, bad_line: str) -> list[str]:
    """`BIG_FILE_RECORDS` small good records with `bad_line` at 0-based `bad_index`."""
    lines = [
        json.dumps({"prompt": f"p{i}", "chosen": "a", "rejected": "b"})
        for i in range(BIG_FILE_RECORDS)
    ]
    lines[bad_index] = bad_line
    return lines


def test_wrong_typed_field_deep_in_a_big_file_names_its_line(store: Store, tmp_path: Path) -> None:
    bad = json.dumps({"prompt": "p", "chosen": "a", "rejected": 3})
    path = write_lines(tmp_path / "big.jsonl", big_file_lines(200_000, bad))
    refused_naming(store, [path], "line 200001,", 'field "rejected"')


def test_malformed_line_after_the_sampled_records_names_its_line(
    store: Store, tmp_path: Path
) -> None:
    path = write_lines(tmp_path / "big.jsonl", big_file_lines(180_000, '{"prompt": "p", "chos'))
    refused_naming(store, [path], "line 180001", "malformed JSON")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["scores", "ranks"])
def test_non_finite_score_or_rank_is_refused_naming_line_and_field(
    store: Store, tmp_path: Path, literal: str, field: str
) -> None:
    good = json.dumps({"prompt": "Hi?", "responses": ["a", "b"], field: [1, 2]})
    bad = f'{{"prompt": "Yo?", "responses": ["a", "b"], "{field}": [{literal}, 1]}}'
    path = write_lines(tmp_path / "scored.jsonl", [good, bad])
    message = refused_naming(store, [path], "line 2", f'field "{field}"', "NaN or Infinity")
    assert literal not in message.split(": ", 1)[0]


def test_nan_score_in_a_csv_cell_or_parquet_is_refused(store: Store, tmp_path: Path) -> None:
    csv_path = tmp_path / "scored.csv"
    csv_path.write_text('prompt,responses,scores\nHi?,"[""a"", ""b""]","[NaN, 1]"\n', "utf-8")
    refused_naming(store, [csv_path], "row 1", 'field "scores"', "NaN or Infinity")
    parquet_path = tmp_path / "scored.parquet"
    table = {"prompt": ["Hi?"], "responses": [["a", "b"]], "scores": [[float("inf"), 1.0]]}
    pq.write_table(pa.table(table), parquet_path)
    refused_naming(store, [parquet_path], "row 1", 'field "scores"', "NaN or Infinity")


@pytest.mark.parametrize(
    ("header", "field"),
    [("prompt,chosen,rejected,chosen", "chosen"), ("prompt,chosen,rejected,Chosen", "Chosen")],
    ids=["same", "other-case"],
)
def test_csv_header_naming_a_column_twice_is_refused(
    store: Store, tmp_path: Path, header: str, field: str
) -> None:
    path = write_lines(tmp_path / "pairs.csv", [header, "Hi?,a,b,c"])
    refused_naming(store, [path], "line 1", f'field "{field}"', "named twice")


def test_parquet_column_named_twice_is_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "pairs.parquet"
    columns = [pa.array(["Hi?"]), pa.array(["a"]), pa.array(["b"]), pa.array(["c"])]
    table = pa.Table.from_arrays(columns, names=["prompt", "chosen", "rejected", "chosen"])
    pq.write_table(table, path)
    refused_naming(store, [path], 'field "chosen"', "named twice")


def test_json_key_written_twice_in_a_record_is_refused(store: Store, tmp_path: Path) -> None:
    repeated = '{"prompt": "Hi?", "chosen": "a", "rejected": "b", "chosen": "c"}'
    path = write_lines(tmp_path / "pairs.jsonl", [json.dumps(GOOD_PAIRS[0]), repeated])
    refused_naming(store, [path], "line 2", 'field "chosen"', "twice")


def test_json_fields_differing_only_in_case_are_refused(
    store: Store, write_jsonl: WriteJsonl
) -> None:
    path = write_jsonl("pairs.jsonl", [GOOD_PAIRS[0], {**GOOD_PAIRS[1], "Chosen": "c"}])
    refused_naming(store, [path], str(path), '"Chosen"', '"chosen"', "named also as")


DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("depth", [129, 10_000])
def test_deeply_nested_field_after_the_first_record_is_refused_naming_line_and_field(
    store: Store, tmp_path: Path, depth: int
) -> None:
    deep = "[" * depth + "]" * depth
    prompt = f'[{{"role": "user", "content": "Hi?"}}, {deep}]'
    path = write_lines(
        tmp_path / "deep.jsonl",
        [json.dumps(GOOD_PAIRS[0]), f'{{"prompt": {prompt}, "chosen": "a", "rejected": "b"}}'],
    )
    refused_naming(store, [path], "line 2", 'field "prompt"')


def test_deeply_nested_first_record_is_refused(store: Store, tmp_path: Path) -> None:
    path = write_lines(tmp_path / "deep.jsonl", [f'{{"prompt": {DEEP}}}'])
    refused_naming(store, [path], "line 1", 'field "prompt"', "nested too deeply")


def test_deeply_nested_json_array_is_refused_naming_the_record(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(f"[{json.dumps(GOOD_PAIRS[0])}, {DEEP}]", "utf-8")
    refused_naming(store, [path], "record 2", "nested too deeply")
    whole = tmp_path / "whole.json"
    whole.write_text(DEEP, "utf-8")
    refused_naming(store, [whole], "nested too deeply")


def test_record_over_the_size_limit_is_named_by_line_in_our_words(
    store: Store, tmp_path: Path
) -> None:
    big = json.dumps({"prompt": "x" * (40 << 20), "chosen": "a", "rejected": "b"})
    path = write_lines(tmp_path / "big.jsonl", [json.dumps(GOOD_PAIRS[0]), big])
    message = refused_naming(store, [path], "line 2", "record too large", "16 MiB")
    assert "maximum_object_size" not in message


def test_csv_row_over_the_size_limit_is_named_by_row(store: Store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "big.csv", ["prompt,chosen,rejected", "Hi?,a,b", f'Yo?,"{"x" * (3 << 20)}",b']
    )
    message = refused_naming(store, [path], "row 2 (line 3)", "row too large")
    assert "max_line_size" not in message


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("Yo?,a,b,c,d", "5 fields where the header has 3"),
        ("Yo?,a", "2 fields where the header has 3"),
        ('Yo?,"a,b', "quoted field is never closed"),
        ('Yo?,"a"b,c', "after the closing quote"),
    ],
    ids=["long", "short", "unclosed-quote", "text-after-quote"],
)
def test_csv_row_of_the_wrong_shape_is_named_by_row_and_line(
    store: Store, tmp_path: Path, row: str, problem: str
) -> None:
    path = write_lines(tmp_path / "pairs.csv", ["prompt,chosen,rejected", "Hi?,a,b", row, "x,y,z"])
    refused_naming(store, [path], "row 2 (line 3)", problem)


def test_damaged_split_of_a_datasets_folder_is_named(store: Store, tmp_path: Path) -> None:
    import datasets

    folder = tmp_path / "ds"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(GOOD_PAIRS),
            "test": datasets.Dataset.from_list(GOOD_PAIRS[:1]),
        }
    ).save_to_disk(str(folder))
    for arrow in (folder / "test").glob("*.arrow"):
        arrow.write_bytes(arrow.read_bytes()[:100])
    refused_naming(store, [folder], str(folder), "split test", "damaged")


def test_lone_surrogate_in_a_one_line_file_is_named_on_line_1(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.jsonl"
    path.write_text('{"prompt": "\\ud800", "chosen": "a", "rejected": "b"}', "utf-8")
    refused_naming(store, [path], "line 1:", "\\ud800", "surrogate", "column 13")


def test_lone_surrogate_in_a_json_array_names_its_record(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "surrogate.json"
    bad = '{"prompt": "x\\udc00", "chosen": "a", "rejected": "b"}'
    path.write_text(f"[{json.dumps(GOOD_PAIRS[0])},\n{bad}]", "utf-8")
    refused_naming(store, [path], "record 2", "\\udc00")


def test_escaped_backslash_before_u_is_text_not_a_surrogate(store: Store, tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "text.jsonl", ['{"prompt": "\\\\ud800", "chosen": "a", "rejected": "b"}']
    )
    assert import_paths(store, [path]).added["pairs"] == 1


@pytest.mark.parametrize(
    ("line", "column"),
    [('{"prompt": "x", "chosen": ', 27), ('{"prompt": "héllo", "chosen" "a"}', 30)],
    ids=["cut-short", "missing-colon"],
)
def test_malformed_json_line_names_the_column_of_the_problem(
    store: Store, tmp_path: Path, line: str, column: int
) -> None:
    path = write_lines(tmp_path / "broken.jsonl", [json.dumps(GOOD_PAIRS[0]), line])
    refused_naming(store, [path], "line 2", f"(column {column})")


def test_malformed_json_array_names_line_and_column(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"prompt": "x",\n   "chosen" "a"}\n]\n', "utf-8")
    refused_naming(store, [path], "line 3", "(column 13)")


def test_a_deeply_nested_upload_fails_its_api_import_job_in_one_line(db_path: Path) -> None:
    from fastapi.testclient import TestClient

    from app.context import AppContext
    from app.server import create_app
    from curation.labelling.accounts import add_user

    admin = ("root", "root-password")
    with Store(db_path) as store:
        add_user(store, admin[0], "admin", admin[1])
        with TestClient(create_app(AppContext(store))) as client:
            files = {"file": ("deep.jsonl", f'{{"prompt": {DEEP}}}\n'.encode())}
            job = imported_through_api(client, files, admin)
        assert job["status"] == "failed"
        error = job["error"]
        assert error.startswith("deep.jsonl, line 1") and "nested too deeply" in error
        assert "\n" not in error
        assert table_counts(store) == ZEROS
