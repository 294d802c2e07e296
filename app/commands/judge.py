"""Commands that run judges over pairs and report how far to trust them.

`prefstudio judge --judge KIND ...` runs a judge (the `run` subcommand is the default);
`judge learn` learns one from a snapshot's labels; `judge report`, `judge prioritize` and
`judge suggestions` read and use the verdicts.
"""

from __future__ import annotations

from typing import Any

import click

from app.commands.base import store_command
from app.commands.jobs import job_command
from curation import Store
from curation.judging.judgments import SuggestionSetting, get_suggestions
from judges.heldout import HeldoutReport
from judges.learn import LEARN_METHODS, LearnedJudge
from judges.priorities import BEST, Prioritized
from judges.registry import JUDGE_KINDS, KIND_ALIASES
from judges.report import JudgeReport
from judges.runs import RunSummary
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
    """Pre-score pairs with judges (LLM, reward model, rules, API, learned) and report on them.

    `prefstudio judge --judge llm` is short for `prefstudio judge run --judge llm`.
    """


@judge.command(name="run")
@click.option(
    "--judge",
    "kind",
    required=True,
    help=f"Kind of judge ({', '.join([*JUDGE_KINDS, *KIND_ALIASES])}; length is longer), "
    "or the key of a judge of this store, such as a learned one.",
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
@job_command("judge", RunSummary.text)
def run(kind: str, model: str | None, pairs: str, limit: int | None, **options: Any) -> dict:
    """Judge pairs, skipping those this judge has already judged; each chunk is saved as it ends.

    The judge runs in a worker process (a job); Ctrl-C cancels it, keeping the verdicts saved.
    """
    return {"judge": kind, "model": model, "pairs": pairs, "limit": limit, "options": options}


def _learned_snapshot(report: dict) -> dict:
    """The options of `judge heldout` after `judge learn`: the snapshot it learned from."""
    return {"snapshot": report["snapshot"]}


@judge.command()
@click.option(
    "--method",
    type=click.Choice(LEARN_METHODS),
    default="light",
    show_default=True,
    help="light: logistic regression on a base model's features (seconds on a CPU); "
    "reward: train a reward model (the rm run method).",
)
@click.option(
    "--snapshot",
    default=None,
    help="Snapshot to learn from (default: the newest, or a new one when labels changed since).",
)
@click.option(
    "--model", default=None, help="Base model: hub id, folder or alias (default: smollm2-135m)."
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Stop training after this many steps (reward).",
)
@store_command
@job_command("learn", LearnedJudge.text, then=("heldout", _learned_snapshot))
def learn(method: str, snapshot: str | None, model: str | None, max_steps: int | None) -> dict:
    """Learn a judge from a snapshot's training labels (a job; the reward method waits for its
    training run) and measure it, the rule baselines and every judge already run on its test
    pairs; the new judge runs as `judge --judge KEY`. Ctrl-C cancels the job and its run."""
    return {"method": method, "snapshot": snapshot, "model": model, "max_steps": max_steps}


@judge.command()
@click.option(
    "--snapshot",
    default=None,
    help="Snapshot whose test pairs to measure on (default: the newest).",
)
@store_command
def heldout(store: Store, snapshot: str | None) -> HeldoutReport:
    """How well every judge with verdicts on a snapshot's test pairs agrees with people there,
    and how well calibrated it is (fitted on the snapshot's training pairs)."""
    from judges.heldout import heldout_report

    return heldout_report(store, snapshot)


@judge.command()
@click.option(
    "--no-baselines", is_flag=True, help="Do not run the rule baselines on the judged pairs first."
)
@store_command
def report(store: Store, no_baselines: bool) -> JudgeReport:
    """Per judge: agreement with human labels, Cohen's kappa, position and length bias."""
    from judges.report import judge_report

    return judge_report(store, baselines=not no_baselines)


@judge.command()
@click.option("--include-rules", is_flag=True, help="Let the rule baselines count too.")
@store_command
def prioritize(store: Store, include_rules: bool) -> Prioritized:
    """Put first in the labelling queue the pairs judges are least sure of or disagree on,
    by the best judge on held-out pairs when one has judged unlabelled pairs."""
    from judges.priorities import prioritize

    return prioritize(store, include_rules=include_rules)


@judge.command()
@click.option(
    "--on",
    "judge_key",
    default=None,
    help=f"Show this judge key's verdicts to annotators ({BEST}: the best on held-out pairs).",
)
@click.option("--off", is_flag=True, help="Stop showing verdicts to annotators.")
@store_command
def suggestions(store: Store, judge_key: str | None, off: bool) -> SuggestionSetting:
    """Show or set whether annotators see a judge's verdicts as suggestions (off by default)."""
    from judges.priorities import suggest

    check_suggestion_options(judge_key, off)
    if judge_key or off:
        return SuggestionSetting(**suggest(store, not off, judge_key))
    return SuggestionSetting(**get_suggestions(store))


def check_suggestion_options(judge_key: str | None, off: bool) -> None:
    """`--on KEY` and `--off` exclude each other."""
    if judge_key and off:
        raise click.UsageError("use either --on KEY or --off")


COMMANDS = [judge]
