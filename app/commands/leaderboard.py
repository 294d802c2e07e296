"""The `leaderboard` command: models ranked by Bradley-Terry ratings from labels."""

from __future__ import annotations

import click

from app.commands.base import store_command
from curation.arena.leaderboard import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_PROVISIONAL_GAMES,
    Leaderboard,
    store_leaderboard,
)
from curation.store.store import Store


@click.command()
@click.option("--judges", is_flag=True, help="Count the judges' verdicts as games too.")
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=DEFAULT_BOOTSTRAP,
    show_default=True,
    help="Bootstrap resamples for the confidence intervals.",
)
@click.option(
    "--confidence",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence level of the intervals.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed of the bootstrap."
)
@click.option(
    "--provisional-games",
    type=click.IntRange(min=0),
    default=DEFAULT_PROVISIONAL_GAMES,
    show_default=True,
    help="Mark ratings from fewer games than this as provisional.",
)
@store_command
def leaderboard(
    store: Store,
    judges: bool,
    bootstrap: int,
    confidence: float,
    seed: int,
    provisional_games: int,
) -> Leaderboard:
    """Rank models by Bradley-Terry ratings from labels, with raw and length-controlled win rates."""
    return store_leaderboard(
        store,
        judges=judges,
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
        provisional_games=provisional_games,
    )


COMMANDS = [leaderboard]
