"""Commands that make candidates to label: generate responses from models, and pair them.

`generate` runs as a job whose worker runs the models, or, with `--base-url`, asks an
OpenAI-compatible server.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from app.commands.base import store_command
from app.commands.jobs import job_command
from curation.arena.pairing import STRATEGIES, PairingReport, pair_responses
from curation.store.store import Store
from training.generate import GenerateReport


class PerSecond(click.ParamType):
    """A rate in requests per second, written `5`, `0.5` or `5/s`."""

    name = "R/s"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        try:
            rate = float(str(value).strip().removesuffix("/s"))
        except ValueError:
            rate = 0.0
        if not 0 < rate < float("inf"):
            self.fail(f"expected requests per second like 5 or 0.5/s, got {value!r}", param, ctx)
        return rate


def _setting(flag: str, kind: click.ParamType, default: object, help: str) -> Callable:
    """A typed option with a shown default."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help)


def _server_option(flag: str, kind: click.ParamType | type, help: str) -> Callable:
    """An option for `--base-url` runs only: no value unless given, so that a stray one is caught."""
    return click.option(flag, type=kind, default=None, help=f"With --base-url: {help}")


SERVER_OPTIONS = ("api_key_env", "concurrency", "rate_limit", "max_retries", "timeout")
SAMPLING = ("n", "limit", "temperature", "top_p", "max_new_tokens", "seed")


def generation_params(
    models: tuple[str, ...], prompts: str, batch_size: int, base_url: str | None, **options: Any
) -> dict[str, Any]:
    """A generation job's parameters, as `POST /api/v1/jobs` takes them, from the command's
    options (a prompt file's path made absolute); server options only with a base URL."""
    from pathlib import Path

    from curation.arena.candidates import PROMPT_CHOICES
    from training.generate import GenerationError

    server = {name: options[name] for name in SERVER_OPTIONS if options[name] is not None}
    if server and not base_url:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in server)
        raise GenerationError(f"{flags} only apply with --base-url")
    if prompts not in PROMPT_CHOICES and Path(prompts).exists():
        prompts = str(Path(prompts).resolve())
    chosen = {name: options[name] for name in SAMPLING}
    params = dict(models=list(models), prompts=prompts, batch_size=batch_size, **chosen)
    return params | ({"base_url": base_url, "server": server} if base_url else {})


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Hub id, model folder, LoRA adapter folder (a run's output) or smollm2-135m; repeat for more.",
)
@click.option(
    "--prompts",
    default="unlabeled",
    show_default=True,
    help="unlabeled (prompts without a response from the model yet), all, or a file of prompts.",
)
@_setting("--n", click.IntRange(min=1), 2, "Samples per prompt.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="At most this many prompts per model."
)
@_setting(
    "--temperature",
    click.FloatRange(min=0),
    0.7,
    "Sampling temperature; 0 is greedy (then --n must be 1).",
)
@_setting("--top-p", click.FloatRange(0, 1, min_open=True), 0.95, "Nucleus sampling mass.")
@_setting("--max-new-tokens", click.IntRange(min=1), 256, "Longest answer, in tokens.")
@_setting(
    "--batch-size", click.IntRange(min=1), 8, "Prompts per batch (forward pass, stored chunk)."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for sampling.")
@click.option(
    "--base-url",
    default=None,
    help="Ask this OpenAI-compatible server instead, like http://localhost:8000/v1; --model names its model.",
)
@_server_option(
    "--api-key-env",
    str,
    "environment variable holding the API key, read where the job runs: here, or in the "
    "environment of the server that holds the store (default OPENAI_API_KEY).",
)
@_server_option("--concurrency", click.IntRange(min=1), "requests at once (default 8).")
@_server_option(
    "--rate-limit", PerSecond(), "requests per second at most, like 5 or 5/s (default: no limit)."
)
@_server_option(
    "--max-retries",
    click.IntRange(min=0),
    "retries of a request after 429, 5xx or a timeout (default 5).",
)
@_server_option(
    "--timeout",
    click.FloatRange(min=0, min_open=True),
    "seconds to wait for one answer (default 120).",
)
@store_command
@job_command("generate", GenerateReport.text)
def generate(**options: Any) -> dict[str, Any]:
    """Generate candidate responses from one or more models and store them batch by batch.

    The models run in a worker process (a job); each finished batch is stored as it comes, and
    Ctrl-C cancels the job, keeping every batch stored so far. A later run skips prompts that
    already have a response from the model. With --base-url the job's worker sends each sample
    as a request to that server instead; samples already stored (same prompt, model and sample
    index) are skipped.
    """
    return generation_params(**options)


@click.command()
@click.option(
    "--strategy",
    type=click.Choice(STRATEGIES),
    required=True,
    help="within: two samples of one model; across: model against model; reference: model against the reference answer.",
)
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Model name as stored with its responses; repeat for more.",
)
@_setting("--per-prompt", click.IntRange(min=1), 1, "New pairs per prompt and model combination.")
@click.option(
    "--priority",
    type=float,
    default=None,
    help="Queue priority of the new pairs (higher is served first; default by strategy).",
)
@store_command
def pair(
    store: Store, strategy: str, models: tuple[str, ...], per_prompt: int, priority: float | None
) -> PairingReport:
    """Pair candidate responses for labelling and put the new pairs in the queue."""
    return pair_responses(store, strategy, list(models), per_prompt=per_prompt, priority=priority)


COMMANDS = [generate, pair]
