"""Every store command returns a typed result that renders itself, as JSON and as text."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass

import pytest

import app.cli  # noqa: F401  (every command module registers its commands)
from app.commands.base import ACTIONS
from curation.results import Listing, Reported, Result


def result_types(fn: typing.Callable) -> list[type]:
    """The classes a command's return annotation names (each member of a union)."""
    hint = typing.get_type_hints(fn)["return"]
    members = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return [typing.get_origin(member) or member for member in members]


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_store_command_returns_a_result(name: str) -> None:
    for kind in result_types(ACTIONS[name]):
        assert callable(getattr(kind, "to_dict", None)), f"{name}: {kind} has no to_dict"
        assert callable(getattr(kind, "text", None)), f"{name}: {kind} has no text"


@dataclass
class Row:
    name: str

    def to_dict(self) -> dict:
        return {"name": self.name}

    def line(self) -> str:
        return f"row {self.name}"


def test_a_listing_is_its_items_by_key_and_a_line_each_or_what_says_there_are_none() -> None:
    rows = Listing("rows", [Row("a"), Row("b")], "no rows yet")
    assert isinstance(rows, Result)
    assert rows.to_dict() == {"rows": [{"name": "a"}, {"name": "b"}]}
    assert rows.text() == "row a\nrow b"
    empty = Listing("rows", [], "no rows yet", heading=["2 rows wanted"])
    assert (empty.to_dict(), empty.text()) == ({"rows": []}, "2 rows wanted\nno rows yet")


def test_a_reported_result_is_its_json_with_its_types_text() -> None:
    reported = Reported({"added": 3}, lambda data: f"added {data['added']}")
    assert isinstance(reported, Result)
    assert (reported.to_dict(), reported.text()) == ({"added": 3}, "added 3")
