"""Reading import files (JSONL, JSON, CSV, Parquet, `datasets` folders) as DuckDB relations.

Each source becomes a relation with one JSON column per field, in file order, so every format
is validated and normalized by the same SQL. Files are read where they lie (DuckDB's own
readers, streamed); only a `datasets` folder is copied into a temporary table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from curation.errors import BadInput
from curation.io.csv_errors import explain_csv, repeated_column
from curation.io.json_errors import explain_json, first_malformed
from curation.io.read_errors import first_line, shown, too_deep
from curation.store.sql import quote_ident, quote_literal
from curation.store.store import fetch_one

JSONL_SUFFIXES = {".jsonl", ".ndjson"}
JSON_SUFFIXES = {".json"}
CSV_SUFFIXES = {".csv", ".tsv"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
SUPPORTED_SUFFIXES = JSONL_SUFFIXES | JSON_SUFFIXES | CSV_SUFFIXES | PARQUET_SUFFIXES
DATASET_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")

# Fields that hold lists or numbers; in CSV cells they are written as JSON.
JSON_CELL_FIELDS = {"responses", "scores", "ranks", "messages"}
_SAMPLE_RECORDS = 1000
_NOT_JSON = "malformed JSON: a word JSON does not have, such as nan or inf"


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


def read_error(path: Path, error: duckdb.Error | RecursionError) -> BadInput:
    """A BadInput for an error raised while reading `path` (DuckDB's, or Python's recursion
    limit on a deeply nested record): the first line, row or record that explains it when one
    can be found, else DuckDB's own first line."""
    suffix = path.suffix.lower() if path.is_file() else ""
    found = None
    if suffix in JSONL_SUFFIXES | JSON_SUFFIXES:
        found = explain_json(path, error, suffix in JSONL_SUFFIXES)
    elif suffix in CSV_SUFFIXES:
        found = explain_csv(path, error, _delimiter(suffix), JSON_CELL_FIELDS)
    elif isinstance(error, RecursionError):
        found = too_deep(path)
    return found or BadInput(path, first_line(error))


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
        return [_read_csv(con, path, _delimiter(suffix))]
    _refuse_repeated_columns(path, _parquet_columns(path))
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
    source = RawSource(path=path, relation=relation, fields=fields, first={}, **kwargs)
    for name, value in zip(fields, row, strict=True):
        try:
            source.first[name] = None if value is None else json.loads(value)
        except RecursionError as error:
            raise read_error(path, error) from None
        except ValueError:  # DuckDB reads words JSON lacks, such as nan and inf
            raise source.error(_NOT_JSON, rec=0, field=shown(name)) from None
    return source


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
            raise first_malformed(path, newline_delimited) or BadInput(
                path, "no records with fields"
            )
        fields = sorted(k for (k,) in keys)
        _refuse_repeated_columns(path, fields)
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
    repeated = repeated_column(path, delimiter)
    if repeated:
        raise repeated
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
    for index, (split, dataset) in enumerate(_load_splits(path)):
        where = f"split {split}" if split else None
        _refuse_repeated_columns(path, dataset.column_names, where)
        arrow_name, table = f"{prefix}_arrow{index}", f"{prefix}_{index}"
        try:
            con.register(arrow_name, dataset.data.table)
            relation, fields = _as_json_columns(con, path, arrow_name)
            con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {relation}")
        except (duckdb.Error, pa.ArrowException) as error:
            raise BadInput(
                path, f"cannot read its data: {first_line(error)}", where=where
            ) from None
        finally:
            con.unregister(arrow_name)
        yield _finish(con, path, table, fields, record_word="row", split=split)


def _load_splits(path: Path) -> list[tuple[str | None, Any]]:
    """The (split, Dataset) pairs of a `datasets` folder; a DatasetDict is loaded split by split,
    so a damaged split is named."""

    listing = path / "dataset_dict.json"
    if not listing.exists():
        return [(None, _load_dataset(path, path, None))]
    try:
        names = json.loads(listing.read_text("utf-8"))["splits"]
    except (ValueError, KeyError, TypeError) as error:
        raise BadInput(path, f"dataset_dict.json lists no splits ({first_line(error)})") from None
    return [(str(name), _load_dataset(path / str(name), path, str(name))) for name in names]


def _load_dataset(folder: Path, path: Path, split: str | None) -> Any:
    """One `datasets` Dataset saved in `folder` (the split `split` of `path`)."""
    import datasets

    try:
        return datasets.Dataset.load_from_disk(str(folder))
    except Exception as error:  # datasets raises many kinds for a damaged folder
        raise BadInput(
            path,
            f"damaged or missing data files ({first_line(error)})",
            where=f"split {split}" if split else None,
        ) from None


def _parquet_columns(path: Path) -> list[str]:
    """The column names a Parquet file's schema holds, as written (none if it is unreadable:
    DuckDB's reader explains that)."""
    try:
        return pq.read_schema(path).names
    except (pa.ArrowException, OSError):
        return []


def _refuse_repeated_columns(path: Path, names: list[str], where: str | None = None) -> None:
    """Raise BadInput when two columns or fields share a name, in any case: DuckDB would keep
    only one of them under that name."""
    seen: dict[str, str] = {}
    for name in names:
        if name.lower() in seen:
            again = (
                "twice" if seen[name.lower()] == name else f'also as "{shown(seen[name.lower()])}"'
            )
            raise BadInput(
                path, f"named {again}; each field needs its own name", where=where, field=name
            )
        seen[name.lower()] = name


def _delimiter(suffix: str) -> str:
    """The cell delimiter of a CSV (`.csv`) or TSV (`.tsv`) file."""
    return "\t" if suffix == ".tsv" else ","


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
