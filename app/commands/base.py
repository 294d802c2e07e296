"""Shared parts of the `prefstudio` commands: the error-printing group and the store options."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from curation import PrefstudioError, Store, StoreLocked, default_db_path
from curation.results import Result


class PrefstudioGroup(click.Group):
    """A click group that prints prefstudio errors as one line and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PrefstudioError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)


ACTIONS: dict[str, Callable[..., Result]] = {}
"""Each store command's own function by name: what a server runs for the CLI that asks it."""


def store_command(fn: Callable | None = None, *, watches_jobs: bool = False) -> Callable:
    """Add `--db` and `--json` to a command and open the store it names.

    The wrapped function receives the open store and returns a Result: its `to_dict()` is
    printed as one JSON object with `--json`, its `text()` otherwise. While a server holds the store, the
    command goes through it (`app.commands.remote`). With `watches_jobs`, a command that reads
    jobs is, without a server, their watcher first: it takes in what workers finished and
    launches queued jobs (through a server, the server's watcher has done that).
    """
    if fn is None:
        return functools.partial(store_command, watches_jobs=watches_jobs)
    if fn.__name__ in ACTIONS:
        raise ValueError(f"two store commands are named {fn.__name__}")
    ACTIONS[fn.__name__] = fn

    @click.option(
        "--db",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Store file (default: $PREFSTUDIO_DB, else ./prefstudio.duckdb).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
    @functools.wraps(fn)
    def wrapper(db: Path | None, as_json: bool, **kwargs: Any) -> None:
        path = db or default_db_path()
        try:
            data, text = _run(path, fn, kwargs, watches_jobs)
        except PrefstudioError as error:
            if as_json and error.data is not None:
                click.echo(json.dumps(error.data, default=str))
            raise
        click.echo(json.dumps(data, default=str) if as_json else text)

    return wrapper


def _run(path: Path, fn: Callable, kwargs: dict[str, Any], watches_jobs: bool) -> tuple[dict, str]:
    """Run a store command on the store at `path` (after watching its jobs, if asked), or
    through the server that holds it."""
    try:
        store = Store(path)
    except StoreLocked as locked:  # a running server may do it through its API
        from app.commands.remote import run_through_server

        return run_through_server(path, fn.__name__, kwargs, locked)
    with store:
        if watches_jobs:
            from curation.jobs.runner import watch_jobs

            watch_jobs(store)
        return rendered(fn(store, **kwargs))


def rendered(result: Result) -> tuple[dict, str]:
    """A command's result as (its JSON form, its text)."""
    return result.to_dict(), result.text()
