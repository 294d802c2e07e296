"""What an action returns: a typed result that renders itself, as JSON and as text.

Every store command returns a `Result`; the CLI prints its `text()` (or, with `--json`, its
`to_dict()`), and a server running the command for the CLI sends both. A result's text is
written once, beside its type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable


@runtime_checkable
class Result(Protocol):
    """A command's result: its JSON form and its text for a person."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object `--json` prints."""
        ...

    def text(self) -> str:
        """The lines printed without `--json`."""
        ...


class Fields:
    """A dataclass result whose JSON form is its fields."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


class Listed(Protocol):
    """One item of a Listing: its JSON form and its line in the list."""

    def to_dict(self) -> dict[str, Any]: ...

    def line(self) -> str: ...


Item = TypeVar("Item", bound=Listed)


@dataclass
class Listing(Generic[Item]):
    """Items of one kind: JSON `{key: [item, ...]}`, text one line per item (or `empty`)."""

    key: str
    items: Sequence[Item]
    empty: str
    heading: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {self.key: [item.to_dict() for item in self.items]}

    def text(self) -> str:
        if not self.items:
            return "\n".join([*self.heading, self.empty])
        return "\n".join([*self.heading, *(item.line() for item in self.items)])


@dataclass(frozen=True)
class Reported:
    """A result kept in its JSON form, as a job stores its report, with its type's text."""

    data: dict[str, Any]
    render: Callable[[dict[str, Any]], str]

    def to_dict(self) -> dict[str, Any]:
        return self.data

    def text(self) -> str:
        return self.render(self.data)
