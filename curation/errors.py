"""Typed errors of the data core; each message is one line a user can act on."""

from __future__ import annotations

from pathlib import Path


class PrefstudioError(Exception):
    """Base class for every error caused by the user's input or environment, not by a bug.

    `data`, when set, is the result worth printing with the error (`--json`, the API's reply).
    """

    data: dict | None = None


class NotFound(PrefstudioError):
    """What a request names (a run, a snapshot, an account) does not exist."""


class StoreError(PrefstudioError):
    """The store cannot be opened or is not a prefstudio store."""


class StoreLocked(StoreError):
    """Another process holds the store file open for writing."""


class BadInput(PrefstudioError):
    """A file to import is unreadable or has a bad record.

    The message names the file, where in it (line, row or record) and the field.
    """

    def __init__(
        self, path: str | Path, message: str, *, where: str | None = None, field: str | None = None
    ) -> None:
        self.path = str(path)
        self.where = where
        self.field = field
        parts = [self.path]
        if where:
            parts.append(where)
        if field:
            parts.append(f'field "{field}"')
        super().__init__(f"{', '.join(parts)}: {message}")


class UnknownFormat(BadInput):
    """The records of a file match none of the supported formats."""


class ExportError(PrefstudioError):
    """An export cannot be written as asked."""


class ModelError(PrefstudioError):
    """A model cannot be found, loaded or run as asked (missing files, no CUDA for 4-bit...)."""
