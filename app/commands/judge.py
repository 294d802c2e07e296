"""Commands that run judges over pairs and report how far to trust them.

`prefstudio judge --judge KIND ...` runs a judge (the `run` subcommand is the default);
`judge report`, `judge prioritize` and `judge suggestions` read and use the verdicts.
"""

from __future__ import annotations

from typing import Any

import click

from app.commands.base import store_command
from curation import Store
from curation.judgments import get_suggestions, set_suggestions
from judges.registry import JUDGE_KINDS, KIND_ALIASES
from training.models import DTYPES


class DefaultRunGroup(click.Group):
    """A group whose first argument, when it names no subcommand, starts the `run` subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["run", *args]
        elif not args:
            args = ["run"]
        return super().parse_args(ctx, args)


@click.group(cls=DefaultRunGroup)
def judge() -> None:
    """Pre-score pairs with judges (LLM, reward model, rules, API) and report on them.

    `prefstudio judge --judge llm` is short for `prefstudio judge run --judge llm`.
    """


@judge.command(name="run")
@click.option(
    "--judge",
    "kind",
    type=click.Choice([*JUDGE_KINDS, *KIND_ALIASES]),
    required=True,
    help="Kind of judge; length is the same as longer.",
)
@click.option(
    "--model", default=None, help="Model: hub id, folder or alias (llm default: smollm2-135m)."
)
@click.option(
    "--pairs",
    default="unlabeled",
    show_default=True,
    help="Which pairs: unlabeled, labeled, all, or snapshot:NAME.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Judge at most N pairs.")
@click.option("--template", default=None, help="Prompt template, like pairwise.v1 (llm, api).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Prompts per forward pass."
)
@click.option(
    "--max-length",
    type=click.IntRange(min=1),
    default=None,
    help="Longest prompt in tokens; longer ones fail.",
)
@click.option(
    "--dtype",
    type=click.Choice(DTYPES),
    default=None,
    help="Model weights' type (llm); auto: bfloat16 on hardware with native bfloat16, else float32.",
)
@click.option(
    "--quantization",
    type=click.Choice(["4bit", "8bit"]),
    default=None,
    help="bitsandbytes quantization (CUDA only).",
)
@click.option(
    "--trust-remote-code", is_flag=True, default=None, help="Run code shipped with the model."
)
@click.option(
    "--tie-margin",
    type=click.FloatRange(0, 0.5, max_open=True),
    default=None,
    help="Call a pair a tie when p is this close to 0.5.",
)
@click.option(
    "--base-url",
    default=None,
    help="OpenAI-compatible endpoint, like http://localhost:8000/v1 (api).",
)
@click.option(
    "--api-key-env",
    default=None,
    help="Environment variable holding the API key (api; default OPENAI_API_KEY).",
)
@click.option(
    "--requests-per-second",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second at most (api).",
)
@store_command
def run(
    store: Store, kind: str, model: str | None, pairs: str, limit: int | None, **options: Any
) -> tuple[dict, str]:
    """Judge pairs, skipping those this judge has already judged; each chunk is saved as it ends."""
    from tqdm import tqdm

    from judges.registry import build_judge
    from judges.runs import run_judge

    judge_obj = build_judge(kind, model, **options)
    bar: list[tqdm] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc=f"judge {judge_obj.label}", unit="pair"))
        bar[0].n = done
        bar[0].refresh()

    try:
        summary = run_judge(store, judge_obj, pairs=pairs, limit=limit, progress=progress)
    finally:
        if bar:
            bar[0].close()
    choices = ", ".join(f"{n} {choice}" for choice, n in sorted(summary.choices.items())) or "none"
    text = (
        f"{summary.judge} (key {summary.judge_key}): {summary.selected} pairs selected, "
        f"{summary.cached} already judged, {summary.judged} judged now ({choices})"
    )
    return summary.to_dict(), text


@judge.command()
@click.option(
    "--no-baselines", is_flag=True, help="Do not run the rule baselines on the judged pairs first."
)
@store_command
def report(store: Store, no_baselines: bool) -> tuple[dict, str]:
    """Per judge: agreement with human labels, Cohen's kappa, position and length bias."""
    from judges.report import judge_report

    return report_result(judge_report(store, baselines=not no_baselines))


def report_result(result: dict) -> tuple[dict, str]:
    """What `judge report` prints for a report (as judge_report gives it): an aligned table."""
    from judges.report import REPORT_COLUMNS, report_table

    rows = report_table(result)
    if not rows:
        return result, "no judgments yet; run `prefstudio judge --judge ...` first"
    header = ["judge", *REPORT_COLUMNS]
    cells = [header, *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells]
    return result, "\n".join(lines)


@judge.command()
@click.option("--include-rules", is_flag=True, help="Let the rule baselines count too.")
@store_command
def prioritize(store: Store, include_rules: bool) -> tuple[dict, str]:
    """Put first in the labelling queue the pairs judges are least sure of or disagree on."""
    from judges.priorities import prioritize_uncertain_pairs

    return prioritized_result(
        {"prioritized": prioritize_uncertain_pairs(store, include_rules=include_rules)}
    )


def prioritized_result(result: dict) -> tuple[dict, str]:
    """What `judge prioritize` prints."""
    return result, f"gave {result['prioritized']} unlabelled pairs a queue priority"


@judge.command()
@click.option(
    "--on", "judge_key", default=None, help="Show this judge key's verdicts to annotators."
)
@click.option("--off", is_flag=True, help="Stop showing verdicts to annotators.")
@store_command
def suggestions(store: Store, judge_key: str | None, off: bool) -> tuple[dict, str]:
    """Show or set whether annotators see a judge's verdicts as suggestions (off by default)."""
    check_suggestion_options(judge_key, off)
    if judge_key or off:
        return suggestions_result(set_suggestions(store, not off, judge_key))
    return suggestions_result(get_suggestions(store))


def check_suggestion_options(judge_key: str | None, off: bool) -> None:
    """`--on KEY` and `--off` exclude each other."""
    if judge_key and off:
        raise click.UsageError("use either --on KEY or --off")


def suggestions_result(setting: dict) -> tuple[dict, str]:
    """What `judge suggestions` prints for the setting."""
    if setting["enabled"]:
        return setting, f"suggestions on, from judge {setting['judge_key']}"
    return setting, "suggestions off"


COMMANDS = [judge]
