"""Reading import files (JSONL, JSON, CSV, Parquet, `datasets` folders) as DuckDB relations.

Each source becomes a relation with one JSON column per field, in file order, so every format
is validated and normalized by the same SQL. Files are read where they lie (DuckDB's own
readers, streamed); only a `datasets` folder is copied into a temporary table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from curation.errors import BadInput
from curation.sql import quote_ident, quote_literal
from curation.store import fetch_one

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json"}
CSV_SUFFIXES = {".csv", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED_SUFFIXES = JSONL_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES | PARQUET_SUFFIXES
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")

# Fields that hold lists or numbers; in CSV cells they are written as JSON.
JSON_CELL_FIELDS = {"responses", "scores", "ranks", "messages"}
_SAMPLE_RECORDS = 1000


@dataclass
class RawSource:
    """One readable unit of an import: a file, or one split of a `datasets` folder.

    `relation` is SQL usable after FROM (a table function or a table) giving the records in
    file order, one JSON column per field in `fields`; `first` is the first record.
    """

    path: Path
    relation: str
    fields: list[str]
    first: dict[str, Any]
    record_word: str = "record"
    split: str | None = None

    def where(self, rec: int) -> str:
        """Where record `rec` stands, in the words a user finds it by (line, row, record)."""
        if self.record_word == "line":
            return f"line {_jsonl_line_of(self.path, rec)}"
        place = f"{self.record_word} {rec + 1}"
        return f"split {self.split}, {place}" if self.split else place

    def error(self, message: str, rec: int | None = None, field: str | None = None) -> BadInput:
        """A BadInput naming this source, the record and the field."""
        return BadInput(
            self.path, message, where=None if rec is None else self.where(rec), field=field
        )


def read_error(path: Path, error: duckdb.Error) -> BadInput:
    """A BadInput for a DuckDB error raised while reading `path`: the first undecodable or
    malformed line when one can be found, else DuckDB's own first line."""
    suffix = path.suffix.lower() if path.is_file() else ""
    if suffix in JSONL_SUFFIXES | JSON_SUFFIXES:
        found = _diagnose_json(path, suffix in JSONL_SUFFIXES)
        if found:
            return found
    elif suffix in CSV_SUFFIXES:
        _check_utf8(path)  # names the line of a non-UTF-8 byte, which DuckDB reports vaguely
    return BadInput(path, _first_line(error))


def is_dataset_folder(path: Path) -> bool:
    """True for a folder written by `datasets`' `save_to_disk`."""
    return path.is_dir() and any((path / marker).exists() for marker in DATASET_MARKERS)


def expand_paths(paths: list[str | Path]) -> list[Path]:
    """Files to import: files as given; a folder gives every supported file below it, sorted."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise BadInput(path, "no such file or folder")
        if path.is_file() or is_dataset_folder(path):
            found.append(path)
            continue
        inside = _importable_below(path)
        if not inside:
            raise BadInput(path, "folder has no importable files (.jsonl .json .csv .parquet)")
        found.extend(inside)
    return found


def _importable_below(folder: Path) -> list[Path]:
    """Supported files and dataset folders below `folder`, sorted; hidden entries and the
    files inside dataset folders are skipped."""
    found = []
    for path in sorted(folder.rglob("*")):
        inner = path.relative_to(folder)
        if any(part.startswith(".") for part in inner.parts):
            continue
        if any(is_dataset_folder(folder / above) for above in inner.parents if above.parts):
            continue
        if is_dataset_folder(path) or (
            path.is_file() and path.suffix.lower() in SUPPORTED_SUFFIXES
        ):
            found.append(path)
    return found


def read_sources(con: duckdb.DuckDBPyConnection, path: Path, prefix: str) -> list[RawSource]:
    """The sources of one file or dataset folder (a folder's splits go into temporary tables
    named from `prefix`)."""
    if is_dataset_folder(path):
        return list(_read_dataset_folder(con, path, prefix))
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise BadInput(
            path, f"unsupported file type {suffix or '(none)'}; use .jsonl .json .csv .parquet"
        )
    if path.stat().st_size == 0:
        raise BadInput(path, "file is empty")
    if suffix in JSONL_SUFFIXES | JSON_SUFFIXES:
        return [_read_json(con, path, newline_delimited=suffix in JSONL_SUFFIXES)]
    if suffix in CSV_SUFFIXES:
        return [_read_csv(con, path, delimiter="\t" if suffix == ".tsv" else ",")]
    relation, fields = _as_json_columns(con, path, f"read_parquet({quote_literal(path)})")
    try:
        return [_finish(con, path, relation, fields, record_word="row")]
    except duckdb.Error as error:
        raise read_error(path, error) from None


def _finish(
    con: duckdb.DuckDBPyConnection, path: Path, relation: str, fields: list[str], **kwargs: Any
) -> RawSource:
    """A source of `relation` (whose columns are `fields`), with its first record fetched; a
    relation without records is an empty file."""
    row = fetch_one(con, f"SELECT * FROM {relation} LIMIT 1")
    if row is None:
        raise BadInput(
            path,
            "file has no records",
            where=f"split {kwargs['split']}" if kwargs.get("split") else None,
        )
    first = {
        name: None if value is None else json.loads(value)
        for name, value in zip(fields, row, strict=True)
    }
    return RawSource(path=path, relation=relation, fields=fields, first=first, **kwargs)


def _read_json(con: duckdb.DuckDBPyConnection, path: Path, newline_delimited: bool) -> RawSource:
    """JSON Lines, or a JSON file holding an array of records (or JSON Lines)."""
    options = f"format={'newline_delimited' if newline_delimited else 'auto'!r}"
    try:
        keys = con.execute(
            f"SELECT DISTINCT unnest(json_keys(json)) FROM (SELECT json FROM read_json("
            f"{quote_literal(path)}, {options}, records=false, columns={{'json': 'JSON'}}) "
            f"LIMIT {_SAMPLE_RECORDS})"
        ).fetchall()
        if not keys:
            raise _diagnose_json(path, newline_delimited) or BadInput(
                path, "no records with fields"
            )
        fields = sorted(k for (k,) in keys)
        columns = ", ".join(f"{quote_literal(k)}: 'JSON'" for k in fields)
        relation = f"read_json({quote_literal(path)}, {options}, columns={{{columns}}})"
        return _finish(
            con, path, relation, fields, record_word="line" if newline_delimited else "record"
        )
    except duckdb.Error as error:
        raise read_error(path, error) from None


def _read_csv(con: duckdb.DuckDBPyConnection, path: Path, delimiter: str) -> RawSource:
    """CSV/TSV with a header row; cells are text, list fields are JSON text."""
    source = (
        f"read_csv({quote_literal(path)}, delim={quote_literal(delimiter)}, quote='\"', escape='\"', "
        "header=true, all_varchar=true, strict_mode=true, null_padding=false)"
    )
    try:
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
        columns = ", ".join(f"{_csv_cell_to_json(name)} AS {quote_ident(name)}" for name in names)
        return _finish(con, path, f"(SELECT {columns} FROM {source})", names, record_word="row")
    except duckdb.Error as error:
        raise read_error(path, error) from None


def _csv_cell_to_json(name: str) -> str:
    """SQL turning a CSV cell into minified JSON: list fields parsed, labels as booleans, text
    as strings."""
    col = quote_ident(name)
    if name in JSON_CELL_FIELDS:
        return f"CASE WHEN json_valid({col}) THEN json({col}) ELSE to_json({col}) END"
    if name == "label":
        return (
            f"CASE WHEN lower(trim({col})) IN ('true', '1', 'yes') THEN 'true'::JSON "
            f"WHEN lower(trim({col})) IN ('false', '0', 'no') THEN 'false'::JSON ELSE to_json({col}) END"
        )
    return f"to_json({col})"


def _as_json_columns(
    con: duckdb.DuckDBPyConnection, path: Path, relation: str
) -> tuple[str, list[str]]:
    """A typed relation (Parquet, Arrow) with each column turned into JSON, and the column
    names."""
    try:
        names = [row[0] for row in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()]
    except duckdb.Error as error:
        raise read_error(path, error) from None
    columns = ", ".join(f"to_json({quote_ident(n)}) AS {quote_ident(n)}" for n in names)
    return f"(SELECT {columns} FROM {relation})", names


def _read_dataset_folder(
    con: duckdb.DuckDBPyConnection, path: Path, prefix: str
) -> Iterator[RawSource]:
    """A `datasets` folder (Dataset or DatasetDict): one source per split."""
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except Exception as error:  # datasets raises many kinds for a damaged folder
        raise BadInput(path, f"cannot read datasets folder: {_first_line(error)}") from None
    splits = loaded.items() if isinstance(loaded, datasets.DatasetDict) else [(None, loaded)]
    for index, (split, dataset) in enumerate(splits):
        arrow_name, table = f"{prefix}_arrow{index}", f"{prefix}_{index}"
        con.register(arrow_name, dataset.data.table)
        try:
            relation, fields = _as_json_columns(con, path, arrow_name)
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}")
        finally:
            con.unregister(arrow_name)
        yield _finish(con, path, table, fields, record_word="row", split=split)


def _first_line(error: BaseException) -> str:
    """The first line of an error message, without DuckDB's class prefix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^[A-Za-z ]+ Error: ", "", text)


def _check_utf8(path: Path) -> None:
    """Raise BadInput naming the line of the first byte sequence that is not UTF-8."""
    decoder_line = 1
    with path.open("rb") as handle:
        for raw in handle:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise BadInput(
                    path,
                    f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
                    where=f"line {decoder_line}",
                ) from None
            decoder_line += 1


def _diagnose_json(path: Path, newline_delimited: bool) -> BadInput | None:
    """Find the first undecodable or malformed line of a JSON file, to name it precisely."""
    _check_utf8(path)
    if not newline_delimited:
        text = path.read_text(encoding="utf-8")
        try:
            json.loads(text)
            return None
        except json.JSONDecodeError as error:
            if not (error.msg == "Extra data" and text.lstrip().startswith("{")):
                return BadInput(path, f"malformed JSON: {error.msg}", where=f"line {error.lineno}")
    blank = True
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            blank = False
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                return BadInput(
                    path,
                    f"malformed JSON: {error.msg} (column {error.colno})",
                    where=f"line {number}",
                )
            if not isinstance(value, dict):
                return BadInput(
                    path,
                    f"expected a JSON object, got {type(value).__name__}",
                    where=f"line {number}",
                )
    return BadInput(path, "file is empty") if blank else None


def _jsonl_line_of(path: Path, rec: int) -> int:
    """The 1-based line number of record `rec` in a JSON Lines file (blank lines are skipped)."""
    seen = -1
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                seen += 1
                if seen == rec:
                    return number
    return rec + 1
