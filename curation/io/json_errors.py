"""Naming the place in a JSON or JSON Lines file that explains why DuckDB's reader refused it.

A JSON Lines record is named by its line (with a column where one helps), a record of a JSON
array by its number. Python's parser is more lenient than DuckDB's in three ways that are
checked by hand: a lone surrogate escape, a key written twice, and nesting deeper than
MAX_DEPTH.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from curation.errors import BadInput
from curation.io.read_errors import MAX_DEPTH, TOO_DEEP, check_utf8, shown, too_deep, too_large

# A JSON string, or one structural character; anything else (numbers, literals) is skipped.
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}:,]')
_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)
_OBJECT_SIZE = re.compile(r'"maximum_object_size" of (\d+) bytes')
_READ_SO_FAR = re.compile(r"\(>(\d+) bytes\)")


class _Record(NamedTuple):
    """One record's text and where it stands; `is_line` when it is a whole line of the file."""

    where: str
    text: str
    is_line: bool


class _Object(list):
    """A JSON object as its (key, value) pairs, repeated keys kept."""


def explain_json(path: Path, error: BaseException, newline_delimited: bool) -> BadInput | None:
    """The first place in the file that explains `error` (raised reading it), or None."""
    check_utf8(path)
    message = str(error)
    size = _OBJECT_SIZE.search(message)
    if size:
        over = _READ_SO_FAR.search(message)
        return too_large(
            path,
            lambda: ((r.where, len(r.text.encode())) for r in _records(path, newline_delimited)),
            int(size.group(1)),
            int(over.group(1)) if over else 0,
        )
    if isinstance(error, RecursionError) or "maximum recursion depth" in message:
        return first_too_deep(path, newline_delimited) or too_deep(path)
    return first_malformed(path, newline_delimited)


def first_too_deep(path: Path, newline_delimited: bool) -> BadInput | None:
    """The error for the first record nested deeper than MAX_DEPTH, naming its field."""
    for record in _records(path, newline_delimited):
        if record.text.count("[") + record.text.count("{") > MAX_DEPTH:
            deep, field = deep_key(record.text, MAX_DEPTH)
            if deep:
                return too_deep(path, record.where, field and shown(field))
    return None


def deep_key(text: str, limit: int) -> tuple[bool, str | None]:
    """Whether the JSON `text` nests deeper than `limit`, and under which top-level key."""
    depth, key, previous = 0, None, ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True, key
        elif token in ("]", "}"):
            depth -= 1
        elif token == ":" and depth == 1 and previous.startswith('"'):
            key = _string(previous)
        previous = token
    return False, None


def _string(token: str) -> str:
    """The text of a JSON string token (as written, if its escapes are bad)."""
    try:
        return json.loads(token)
    except ValueError:
        return token[1:-1]


def _records(path: Path, newline_delimited: bool) -> Iterator[_Record]:
    """The records of the file: its non-blank lines, or the items of a top-level JSON array,
    or the one object a JSON file holds."""
    if not newline_delimited:
        text = path.read_text("utf-8-sig")
        if text.lstrip().startswith("["):
            items = (text[start:end] for start, end in _array_items(text))
            for number, item in enumerate(items, start=1):
                yield _Record(f"record {number}", item, is_line=False)
            return
        if _is_one_value(text):
            yield _Record("record 1", text, is_line=False)
            return
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            line = raw.decode("utf-8").rstrip("\r\n")
            if number == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield _Record(f"line {number}", line, is_line=True)


def _is_one_value(text: str) -> bool:
    """True when `text` is one JSON value (not JSON Lines)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _array_items(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) offsets of each item of the JSON array `text`, found without parsing."""
    depth, start = 0, 0
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth == 1:
                start = match.end()
        elif token in ("]", "}"):
            depth -= 1
            if depth == 0:
                if text[start : match.start()].strip():
                    yield start, match.start()
                return
        elif token == "," and depth == 1:
            yield start, match.start()
            start = match.end()


def first_malformed(path: Path, newline_delimited: bool) -> BadInput | None:
    """The first syntax error, or record that is not an object, repeats a key or holds a lone
    surrogate."""
    if not newline_delimited:
        text = path.read_text("utf-8-sig")
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            if not (error.msg == "Extra data" and text.lstrip().startswith("{")):
                return BadInput(path, _syntax(error), where=f"line {error.lineno}")
        except RecursionError:
            return first_too_deep(path, newline_delimited) or too_deep(path)
    blank = True
    for record in _records(path, newline_delimited):
        blank = False
        problem = _record_problem(record)
        if problem:
            message, field = problem
            return BadInput(path, message, where=record.where, field=field)
    return BadInput(path, "file is empty") if blank else None


def _record_problem(record: _Record) -> tuple[str, str | None] | None:
    """What is wrong with one record, and the field at fault, if anything is."""
    try:
        value = json.loads(record.text, object_pairs_hook=_Object)
    except json.JSONDecodeError as error:
        return _syntax(error), None
    except RecursionError:
        field = deep_key(record.text, MAX_DEPTH)[1]
        return TOO_DEEP, field and shown(field)
    if not isinstance(value, _Object):
        return f"expected a JSON object, got {_kind(value)}", None
    seen: set[str] = set()
    for key, _ in value:
        if key in seen:
            return "key written twice in one record", shown(key)
        seen.add(key)
    lone = _lone_surrogate(record.text)
    if lone is not None:
        escape = record.text[lone : lone + 6]
        column = f" (column {lone + 1})" if record.is_line else ""
        return (
            f"malformed JSON: {escape} is half of a surrogate pair, not a character{column}",
            None,
        )
    return None


def _syntax(error: json.JSONDecodeError) -> str:
    """Python's JSON syntax error in our words, with its column."""
    message = re.sub(r" (starting )?at$", "", error.msg)
    return f"malformed JSON: {message} (column {error.colno})"


def _kind(value: Any) -> str:
    """A JSON value's kind, as a user would name it."""
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", list: "a list", int: "a number", float: "a number"}
    return names[type(value)]


def _lone_surrogate(text: str) -> int | None:
    """The offset of the first `\\uXXXX` escape that is half of a surrogate pair on its own."""
    if "\\u" not in text:
        return None
    high: re.Match | None = None
    for match in _ESCAPE.finditer(text):
        code = int(match.group(1), 16) if match.group(1) else None
        is_low = code is not None and 0xDC00 <= code <= 0xDFFF
        if high is not None:
            if is_low and match.start() == high.end():
                high = None
                continue
            return high.start()
        if code is not None and 0xD800 <= code <= 0xDBFF:
            high = match
        elif is_low:
            return match.start()
    return None if high is None else high.start()
