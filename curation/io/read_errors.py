"""What the per-format explanations of a refused file share: DuckDB's message, UTF-8, limits.

DuckDB's readers name a byte offset, one of their own options, or no place at all. Once an
import has failed, the file is read again in Python (never on the way of a good import) to
name the first line, row or record that explains the refusal, in the user's words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from curation.errors import BadInput

MAX_DEPTH = 128
"""How deeply a record may nest lists and objects: DuckDB's JSON functions read no deeper."""
TOO_DEEP = f"nested too deeply (more than {MAX_DEPTH} levels of lists and objects)"

_MIB = 1 << 20


def shown(name: str) -> str:
    """A name taken from the data, safe to print on one line: control characters and lone
    surrogates escaped."""
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
        for c in name
    )


def first_line(error: BaseException) -> str:
    """The first line of an error message, without DuckDB's class prefix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return re.sub(r"^[A-Za-z ]+ Error: ", "", text)


def check_utf8(path: Path) -> None:
    """Raise BadInput naming the line of the first byte sequence that is not UTF-8."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise BadInput(
                    path,
                    f"not UTF-8 text (byte 0x{raw[error.start]:02x} at column {error.start + 1})",
                    where=f"line {number}",
                ) from None


def too_large(
    path: Path,
    sizes: Callable[[], Iterable[tuple[str, int]]],
    limit: int,
    over: int = 0,
    unit: str = "record",
) -> BadInput:
    """The error for a record over `limit` bytes: the first place `sizes()` gives (as where and
    size) over `over` (how much DuckDB had read when it gave up), else the first over `limit`."""
    allowed = f"one {unit} may hold at most {_size(limit)}"
    for bound in (max(over, limit), limit):
        for where, size in sizes():
            if size > bound:
                return BadInput(
                    path,
                    f"{unit} too large to read ({_size(size)}; {allowed})",
                    where=where,
                )
    return BadInput(path, f"a {unit} is too large to read ({allowed})")


def _size(count: int) -> str:
    """A byte count in MiB, or in MB for a round number of those (DuckDB's CSV limit)."""
    if count % 1_000_000 == 0:
        return f"{count // 1_000_000} MB"
    return f"{count / _MIB:.1f} MiB" if count % _MIB else f"{count // _MIB} MiB"


def too_deep(path: Path, where: str | None = None, field: str | None = None) -> BadInput:
    """The error for a record nesting lists or objects deeper than MAX_DEPTH."""
    return BadInput(path, TOO_DEEP, where=where, field=field)
