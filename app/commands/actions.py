"""The store commands a server runs for the CLI on its machine (`remote_action`'s other end).

A command arrives as its function's name and keyword arguments in JSON; paths come as absolute
strings and are made paths again from the function's type hints.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

from app.commands.base import ACTIONS, rendered
from curation.errors import NotFound, PrefstudioError


def command_action(name: str) -> Any:
    """The function of store command `name`; NotFound for an unknown one."""
    import app.cli  # noqa: F401  (every command module registers its commands)
    from app.commands.jobs import JOB_COMMANDS
    from app.commands.remote import LOCAL_ONLY, REMOTE_COMMANDS

    if name in LOCAL_ONLY or name in REMOTE_COMMANDS or name in JOB_COMMANDS or name not in ACTIONS:
        raise NotFound(f"no command {name} runs in the server")
    return ACTIONS[name]


def typed_kwargs(fn: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with path arguments made Paths again; PrefstudioError for unknown names."""
    hints = typing.get_type_hints(fn)
    unknown = set(kwargs) - set(hints) - {"options"}
    if unknown:
        raise PrefstudioError(f"{fn.__name__} takes no option {sorted(unknown)[0]}")
    return {
        key: Path(value) if isinstance(value, str) and _is_path(hints.get(key)) else value
        for key, value in kwargs.items()
    }


def _is_path(hint: Any) -> bool:
    """Whether a type hint is Path or Path | None."""
    return hint is Path or Path in typing.get_args(hint)


def run_command(store: Any, name: str, kwargs: dict[str, Any]) -> tuple[dict, str]:
    """Run store command `name` on `store` as the CLI would without a server."""
    fn = command_action(name)
    return rendered(fn(store, **typed_kwargs(fn, kwargs)))
