"""`prefstudio guidelines`: show or set the labelling guidelines annotators see."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from app.commands.base import store_command
from curation import Store
from curation.errors import BadInput
from curation.labelling.guidelines import Guidelines, get_guidelines, set_guidelines


def read_guidelines_file(path: Path) -> str:
    """The text of a guidelines file (`-`: standard input); BadInput if it cannot be read or is
    not UTF-8."""
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise BadInput(path, f"not UTF-8 text (byte {error.start + 1})") from None
    except OSError as error:
        raise BadInput(path, f"cannot read it: {error.strerror or error}") from None


@click.group()
def guidelines() -> None:
    """Show or set the labelling guidelines (Markdown, atop the Label tab)."""


@guidelines.command(name="show")
@store_command
def guidelines_show(store: Store) -> Guidelines:
    """Print the guidelines."""
    return Guidelines(get_guidelines(store))


@guidelines.command(name="set")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@store_command
def guidelines_set(store: Store, file: Path) -> Guidelines:
    """Replace the guidelines with the text of FILE (`-`: standard input; empty removes them)."""
    return Guidelines(set_guidelines(store, read_guidelines_file(file)), saved=True)


COMMANDS = [guidelines]
