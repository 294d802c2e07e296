"""Quoting for the SQL the core builds: literals and identifiers taken from user files."""

from __future__ import annotations


def quote_literal(value: object) -> str:
    """A SQL string literal.

    >>> quote_literal("it's")
    "'it''s'"
    """
    return "'" + str(value).replace("'", "''") + "'"


def quote_ident(name: str) -> str:
    """A quoted SQL identifier.

    >>> print(quote_ident("my col"))
    "my col"
    """
    return '"' + name.replace('"', '""') + '"'
