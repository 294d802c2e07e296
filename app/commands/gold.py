"""`prefstudio gold`: mark pairs as gold, list and unmark them, set their rate, score annotators."""

from __future__ import annotations

import click

from app.commands.base import store_command
from curation import Store
from curation.labelling.gold import add_gold, list_gold, remove_gold, set_gold_every
from curation.labelling.gold_mix import get_gold_every
from curation.labelling.gold_scores import gold_scores

CLI_MARKER = "cli"  # who marked a pair gold from the command line


def gold_listed(data: dict) -> tuple[dict, str]:
    """What `gold list` prints for {gold: [GoldPair dicts], every}."""
    lines = [rate_text(data["every"])]
    lines += [
        f"{g['pair_id']}  {g['answer']:<8}  {g['marked_by']:<20}  {g['created']}"
        for g in data["gold"]
    ]
    return data, "\n".join(lines if data["gold"] else [*lines, "no gold pairs yet"])


def marked(pair: dict) -> tuple[dict, str]:
    """What `gold add` prints for a GoldPair dict."""
    return pair, f"{pair['pair_id']}: gold, answer {pair['answer']}"


def unmarked(pair: dict) -> tuple[dict, str]:
    """What `gold remove` prints for the GoldPair dict removed."""
    return pair, f"{pair['pair_id']}: no longer gold"


def rated(every: int) -> tuple[dict, str]:
    """What `gold rate` prints."""
    return {"every": every}, rate_text(every)


def rate_text(every: int) -> str:
    """The gold rate in words."""
    return f"one pair in every {every} served is gold" if every else "gold pairs are not served"


def scored(scores: list[dict]) -> tuple[dict, str]:
    """What `gold accuracy` prints for GoldScore dicts."""
    lines = [
        f"{s['annotator']:<20} {s['correct']} of {s['answered']} correct ({s['accuracy']:.2f})"
        for s in scores
    ]
    return {"annotators": scores}, "\n".join(lines) or "no gold answers yet"


@click.group()
def gold() -> None:
    """Gold pairs: pairs with a known answer, mixed into every annotator's queue to score them."""


@gold.command(name="add")
@click.argument("pair_id")
@click.option("--answer", required=True, help="The expected answer: a, b, tie or both_bad.")
@store_command
def gold_add(store: Store, pair_id: str, answer: str) -> tuple[dict, str]:
    """Mark PAIR_ID as gold with its expected answer (a and b as stored, not as shown)."""
    return marked(add_gold(store, pair_id, answer, CLI_MARKER).to_dict())


@gold.command(name="list")
@store_command
def gold_list(store: Store) -> tuple[dict, str]:
    """List gold pairs with their answers, and the rate they are served at."""
    return gold_listed(
        {"gold": [g.to_dict() for g in list_gold(store)], "every": get_gold_every(store)}
    )


@gold.command(name="remove")
@click.argument("pair_id")
@store_command
def gold_remove(store: Store, pair_id: str) -> tuple[dict, str]:
    """Unmark PAIR_ID as gold (its labels stay)."""
    return unmarked(remove_gold(store, pair_id).to_dict())


@gold.command(name="rate")
@click.argument("every", type=int, required=False)
@store_command
def gold_rate(store: Store, every: int | None) -> tuple[dict, str]:
    """Show, or set to EVERY, one in how many served pairs is gold (0: none)."""
    return rated(get_gold_every(store) if every is None else set_gold_every(store, every))


@gold.command(name="accuracy")
@store_command
def gold_accuracy(store: Store) -> tuple[dict, str]:
    """Each annotator's gold answers: how many, how many correct, and the accuracy."""
    return scored([s.to_dict() for s in gold_scores(store)])


COMMANDS = [gold]
