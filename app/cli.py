"""The `prefstudio` command line: each command parses flags and makes one call into the core."""

from __future__ import annotations

import click

from app.commands import (
    curate,
    data,
    generate,
    gold,
    guidelines,
    judge,
    leaderboard,
    serve,
    train,
    users,
)
from app.commands.base import PrefstudioGroup

COMMAND_MODULES = [
    data,
    serve,
    users,
    guidelines,
    gold,
    generate,
    leaderboard,
    train,
    curate,
    judge,
]


@click.group(cls=PrefstudioGroup)
@click.version_option(package_name="prefstudio")
def main() -> None:
    """prefstudio: label, curate, judge and train on preference data, in one DuckDB store."""


for module in COMMAND_MODULES:
    for command in module.COMMANDS:
        main.add_command(command)


if __name__ == "__main__":
    main()
