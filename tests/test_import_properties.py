"""Any file, however broken, is imported or refused with one `error: ` line, storing nothing.

Files are random bytes, or valid records of every format with a field dropped, retyped or
renamed, written as JSON Lines, JSON or CSV, then cut short or given stray bytes.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, assert_one_error_line, table_counts
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from test_import_errors import cli_import

from app.cli import main
from curation import PrefstudioError, Store, import_paths

GOOD = REPO / "data" / "preferences.jsonl"

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(max_size=12)
role = st.sampled_from(["system", "user", "assistant", "tool", "bot"])
message = st.fixed_dictionaries({"role": role, "content": text})
reply = st.one_of(text, st.builds(lambda t: [{"role": "assistant", "content": t}], text))
prompt = st.one_of(text, st.lists(message, min_size=1, max_size=3))
turn = st.builds(lambda h, a: f"\n\nHuman: {h}\n\nAssistant: {a}", text, text)

# One strategy per layout prefstudio reads (TRL's formats, multi-response rows, HH).
RECORDS = {
    "preference": st.fixed_dictionaries({"prompt": prompt, "chosen": reply, "rejected": reply}),
    "implicit": st.builds(lambda p, c, r: {"chosen": p + c, "rejected": p + r}, text, text, text),
    "unpaired": st.fixed_dictionaries(
        {"prompt": prompt, "completion": reply, "label": st.booleans()}
    ),
    "sft": st.fixed_dictionaries({"prompt": prompt, "completion": reply}),
    "messages": st.fixed_dictionaries({"messages": st.lists(message, min_size=2, max_size=4)}),
    "prompts": st.fixed_dictionaries({"prompt": prompt}),
    "responses": st.lists(text, min_size=1, max_size=4).flatmap(
        lambda rs: st.fixed_dictionaries(
            {
                "prompt": prompt,
                "responses": st.just(rs),
                "scores": st.lists(st.floats(), min_size=len(rs), max_size=len(rs)),
            }
        )
    ),
    "hh": st.builds(
        lambda shared, c, r: {"chosen": shared + c, "rejected": shared + r}, turn, turn, turn
    ),
}

json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
# Stands for a list nested n deep, written into the file text after serializing (json.dumps
# itself cannot go past Python's recursion limit).
deep_value = st.sampled_from([100, 128, 129, 2_000, 10_000]).map(lambda n: f"<deep {n}>")
DEEP_MARK = re.compile(r'"?<deep (\d+)>"?')
field_name = st.sampled_from(
    [
        "prompt",
        "chosen",
        "rejected",
        "Chosen",
        "completion",
        "label",
        "messages",
        "responses",
        "scores",
        "ranks",
        "text",
        "a\nb",
        "\ud800",
    ]
)


@st.composite
def mutated(draw: st.DrawFn, record: dict) -> dict:
    """`record` with one field dropped, retyped or added, or unchanged."""
    record = dict(record)
    action = draw(st.sampled_from(["keep", "drop", "retype", "deep", "deep", "add"]))
    if action == "drop" and record:
        del record[draw(st.sampled_from(sorted(record)))]
    elif action in ("retype", "deep") and record:
        key = draw(st.sampled_from(sorted(record)))
        record[key] = draw(json_value if action == "retype" else deep_value)
    elif action == "add":
        record[draw(field_name)] = draw(json_value)
    return record


def as_jsonl(records: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def as_json(records: list[dict]) -> str:
    return json.dumps(records, indent=1)


def as_csv(records: list[dict]) -> str:
    """Records as CSV: the first record's keys as the header, lists as JSON cells."""
    out = io.StringIO()
    writer = csv.writer(out)
    header = list(records[0])
    writer.writerow(header)
    for record in records:
        writer.writerow(
            [v if isinstance(v, str) else json.dumps(v) for v in (record.get(k) for k in header)]
        )
    return out.getvalue()


WRITERS: dict[str, Callable[[list[dict]], str]] = {
    ".jsonl": as_jsonl,
    ".json": as_json,
    ".csv": as_csv,
}


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """`data` unchanged, cut short, or with a few random bytes put in somewhere."""
    action = draw(st.sampled_from(["keep", "keep", "cut", "insert"]))
    at = draw(st.integers(0, len(data)))
    if action == "cut":
        return data[:at]
    if action == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data


@st.composite
def format_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """(suffix, contents) of a file of mutated records of one format."""
    layout = draw(st.sampled_from(sorted(RECORDS)))
    records = draw(st.lists(RECORDS[layout].flatmap(mutated), min_size=1, max_size=4))
    suffix = draw(st.sampled_from(sorted(WRITERS)))
    if suffix == ".csv" and not records[0]:
        records[0] = {"prompt": "p"}
    written = DEEP_MARK.sub(lambda m: "[" * int(m[1]) + "]" * int(m[1]), WRITERS[suffix](records))
    data = written.encode("utf-8", "surrogatepass")
    return suffix, draw(damaged(data))


random_files = st.tuples(st.sampled_from([".jsonl", ".json", ".csv"]), st.binary(max_size=200))


def check_import(store: Store, path: Path) -> None:
    """Import `path`: it succeeds, or is refused with a one-line PrefstudioError naming the file
    (what the CLI prints after `error: `) and every table an import writes unchanged. Hypothesis runs every
    example on one store, so refusals are checked against what earlier examples stored."""
    before = table_counts(store)
    try:
        import_paths(store, [path])
    except PrefstudioError as error:
        assert str(path) in assert_one_error_line(f"error: {error}")
        str(error).encode("utf-8")  # printable: no lone surrogate from the data
        assert table_counts(store) == before


def write(tmp_path: Path, suffix: str, data: bytes) -> Path:
    path = tmp_path / f"input{suffix}"
    path.write_bytes(data)
    return path


@SETTINGS
@given(file=format_files())
@example(file=(".jsonl", b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n"))
@example(file=(".json", b"[" * 10_000 + b"]" * 10_000))
def test_any_mutated_file_is_imported_or_refused_with_one_line(
    store: Store, tmp_path: Path, file: tuple[str, bytes]
) -> None:
    check_import(store, write(tmp_path, *file))


@SETTINGS
@given(file=random_files)
def test_random_bytes_are_imported_or_refused_with_one_line(
    store: Store, tmp_path: Path, file: tuple[str, bytes]
) -> None:
    check_import(store, write(tmp_path, *file))


BAD_FILES = {
    "deep.jsonl": b'{"prompt": ' + b"[" * 10_000 + b"]" * 10_000 + b"}\n",
    "nan.jsonl": b'{"prompt": "p", "responses": ["a", "b"], "scores": [NaN, 1]}\n',
    "repeated.csv": b"prompt,chosen,rejected,chosen\np,a,b,c\n",
    "hh.jsonl": b'{"chosen": "\\n\\nHuman: hi", "rejected": "\\n\\nHuman: hi there"}\n',
    "noise.json": bytes(range(256)),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_cli_refuses_bad_files_with_one_line_and_keeps_stats(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    db, runner = str(tmp_path / "cli.duckdb"), CliRunner()
    assert runner.invoke(main, ["import", str(GOOD), "--db", db]).exit_code == 0
    before = runner.invoke(main, ["stats", "--db", db, "--json"]).stdout
    result = runner.invoke(main, ["import", str(path), "--db", db])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert str(path) in assert_one_error_line(result.stderr)
    assert runner.invoke(main, ["stats", "--db", db, "--json"]).stdout == before


@pytest.mark.parametrize("name", ["deep.jsonl", "repeated.csv"])
def test_cli_process_refuses_bad_files_with_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(BAD_FILES[name])
    result = cli_import(path, tmp_path / "cli.duckdb")
    assert result.returncode == 1
    assert str(path) in assert_one_error_line(result.stderr)
