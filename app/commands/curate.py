"""Commands that curate the store: duplicate clusters and quality flags."""

from __future__ import annotations

import click

from app.commands.base import store_command
from curation import Store
from curation.curate import curate
from curation.flags import FlagRules
from curation.minhash import DEFAULT_THRESHOLD


@click.command(name="curate")
@click.option(
    "--near-dup-threshold",
    type=float,
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Word 5-gram Jaccard similarity at which two texts are near duplicates.",
)
@click.option(
    "--max-tokens",
    type=int,
    default=FlagRules.max_tokens,
    show_default=True,
    help="Flag pairs whose prompt plus longer response exceed this many tokens (~4 chars each).",
)
@click.option(
    "--truncation-tokens",
    type=int,
    default=FlagRules.truncation_tokens,
    show_default=True,
    help="Flag responses this long or longer that end mid-sentence as truncated.",
)
@store_command
def curate_command(
    store: Store, near_dup_threshold: float, max_tokens: int, truncation_tokens: int
) -> tuple[dict, str]:
    """Find exact and near duplicates and flag pairs with defects (dismissed flags stay dismissed)."""
    from tqdm import tqdm

    report = curate(
        store,
        near_dup_threshold=near_dup_threshold,
        rules=FlagRules(max_tokens=max_tokens, truncation_tokens=truncation_tokens),
        progress=lambda steps: tqdm(steps, desc="curate", unit="step"),
    )
    data = report.to_dict()
    lines = ["duplicate clusters (clusters / extra members):"]
    for subject, kinds in data["clusters"].items():
        cells = [f"{kind} {c['clusters']} / {c['duplicates']}" for kind, c in kinds.items()]
        lines.append(f"  {subject:>8}: " + ", ".join(cells))
    lines.append(
        "pairs flagged: " + (", ".join(f"{k} {v}" for k, v in data["flags"].items()) or "none")
    )
    return data, "\n".join(lines)


COMMANDS = [curate_command]
