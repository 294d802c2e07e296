"""Naming the row of a CSV/TSV file that explains why DuckDB's reader refused it, and refusing a
header that names a column twice (DuckDB would quietly rename the second one)."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

from curation.errors import BadInput
from curation.io.json_errors import deep_key
from curation.io.read_errors import MAX_DEPTH, check_utf8, shown, too_deep, too_large

_LINE_SIZE = re.compile(r"Maximum line size of (\d+) bytes")
_FIELD_SIZE = 2**31 - 1
_CSV_MESSAGES = {
    "unexpected end of data": "a quoted field is never closed",
    "',' expected after '\"'": "text after the closing quote of a field",
    "'\\t' expected after '\"'": "text after the closing quote of a field",
}


def repeated_column(path: Path, delimiter: str) -> BadInput | None:
    """The error for a header naming a column twice (in any case), if it does."""
    try:
        with closing(_rows(path, delimiter)) as rows:
            where, header = next(rows, ("", []))
    except BadInput:
        return None  # DuckDB's reader explains an unreadable header
    seen: set[str] = set()
    for name in header:
        if name and name.lower() in seen:
            return BadInput(
                path, "column named twice in the header", where=where, field=shown(name)
            )
        seen.add(name.lower())
    return None


def explain_csv(
    path: Path, error: BaseException, delimiter: str, json_fields: set[str]
) -> BadInput | None:
    """The first row that explains `error` (raised reading the file), or None.

    `json_fields` are the columns whose cells are read as JSON."""
    check_utf8(path)
    message = str(error)
    size = _LINE_SIZE.search(message)
    try:
        if size:
            return too_large(
                path,
                lambda: ((w, len(delimiter.join(c).encode())) for w, c in _rows(path, delimiter)),
                int(size.group(1)),
                unit="row",
            )
        if isinstance(error, RecursionError) or "maximum recursion depth" in message:
            return _first_too_deep(path, delimiter, json_fields) or too_deep(path)
        return _first_misshapen(path, delimiter)
    except BadInput as unreadable:
        return unreadable


def _rows(path: Path, delimiter: str) -> Iterator[tuple[str, list[str]]]:
    """(where, cells) of the header and each row, blank lines skipped; raises BadInput at a row
    that is not CSV."""
    limit = csv.field_size_limit(_FIELD_SIZE)
    try:
        with path.open(newline="", encoding="utf-8-sig", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            number, start = 0, 1
            while True:
                where = f"row {number} (line {start})" if number else f"line {start}"
                try:
                    cells = next(reader)
                except StopIteration:
                    return
                except csv.Error as error:
                    text = _CSV_MESSAGES.get(str(error), f"malformed CSV: {error}")
                    raise BadInput(path, text, where=where) from None
                if cells:
                    yield where, cells
                    number += 1
                start = reader.line_num + 1
    finally:
        csv.field_size_limit(limit)


def _first_too_deep(path: Path, delimiter: str, json_fields: set[str]) -> BadInput | None:
    """The error for the first JSON cell nested too deeply to read."""
    rows = _rows(path, delimiter)
    _, header = next(rows, ("", []))
    for where, cells in rows:
        for name, cell in zip(header, cells, strict=False):
            if name in json_fields and deep_key(cell, MAX_DEPTH - 1)[0]:
                return too_deep(path, where, shown(name))
    return None


def _first_misshapen(path: Path, delimiter: str) -> BadInput | None:
    """The error for the first row with more or fewer cells than the header."""
    rows = _rows(path, delimiter)
    _, header = next(rows, ("", []))
    for where, cells in rows:
        if len(cells) != len(header):
            return BadInput(
                path, f"{len(cells)} fields where the header has {len(header)}", where=where
            )
    return None
