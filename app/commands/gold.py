"""`prefstudio gold`: mark pairs as gold, list and unmark them, set their rate, score annotators."""

from __future__ import annotations

import click

from app.commands.base import store_command
from curation import Store
from curation.labelling.gold import (
    GoldListing,
    GoldPair,
    UnmarkedGold,
    add_gold,
    gold_listing,
    remove_gold,
    set_gold_every,
)
from curation.labelling.gold_mix import GoldRate, get_gold_every
from curation.labelling.gold_scores import GoldScore, gold_score_listing
from curation.results import Listing

CLI_MARKER = "cli"  # who marked a pair gold from the command line


@click.group()
def gold() -> None:
    """Gold pairs: pairs with a known answer, mixed into every annotator's queue to score them."""


@gold.command(name="add")
@click.argument("pair_id")
@click.option("--answer", required=True, help="The expected answer: a, b, tie or both_bad.")
@store_command
def gold_add(store: Store, pair_id: str, answer: str) -> GoldPair:
    """Mark PAIR_ID as gold with its expected answer (a and b as stored, not as shown)."""
    return add_gold(store, pair_id, answer, CLI_MARKER)


@gold.command(name="list")
@store_command
def gold_list(store: Store) -> GoldListing:
    """List gold pairs with their answers, and the rate they are served at."""
    return gold_listing(store)


@gold.command(name="remove")
@click.argument("pair_id")
@store_command
def gold_remove(store: Store, pair_id: str) -> UnmarkedGold:
    """Unmark PAIR_ID as gold (its labels stay)."""
    return remove_gold(store, pair_id)


@gold.command(name="rate")
@click.argument("every", type=int, required=False)
@store_command
def gold_rate(store: Store, every: int | None) -> GoldRate:
    """Show, or set to EVERY, one in how many served pairs is gold (0: none)."""
    return GoldRate(get_gold_every(store)) if every is None else set_gold_every(store, every)


@gold.command(name="accuracy")
@store_command
def gold_accuracy(store: Store) -> Listing[GoldScore]:
    """Each annotator's gold answers: how many, how many correct, and the accuracy."""
    return gold_score_listing(store)


COMMANDS = [gold]
