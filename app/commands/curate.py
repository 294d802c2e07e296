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


def _figure(value: float | None, digits: int = 2) -> str:
    """A figure for text output; n/a when undefined."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def agreement_lines(agreement: dict) -> list[str]:
    """`stats` text lines for the agreement figures of `AgreementReport.to_dict()`."""
    lines = [
        f"{'agreement':>15}: Fleiss kappa {_figure(agreement['fleiss_kappa'])} over "
        f"{agreement['pairs_with_two_votes']} pairs with 2+ votes; chosen is the longer response "
        f"in {_figure(agreement['chosen_longer_share'])} of {agreement['decided_pairs']} decided pairs"
    ]
    for c in agreement["cohen"]:
        first, second = c["annotators"]
        lines.append(
            f"{'':>15}  Cohen kappa {first} / {second}: {_figure(c['kappa'])} "
            f"(agree {_figure(c['agreement'])} on {c['pairs']} pairs)"
        )
    for name, f in agreement["per_annotator"].items():
        lines.append(
            f"{'':>15}  {name}: {f['votes']} votes, with majority {_figure(f['majority_agreement'])}, "
            f"left {_figure(f['left_share'])} (p {_figure(f['position_p_value'], 3)}), "
            f"longer {_figure(f['longer_share'])}"
        )
    return lines


COMMANDS = [curate_command]
