"""Commands that make candidates to label: generate responses from models, and pair them.

`generate` runs the models here, or, with `--base-url`, asks an OpenAI-compatible server.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from app.commands.base import store_command
from app.server_info import ServerInfo
from curation.arena.pairing import STRATEGIES, pair_responses
from curation.errors import PrefstudioError
from curation.store.store import Store


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


@contextmanager
def _stop_on_interrupt() -> Iterator[threading.Event]:
    """An event set by the first Ctrl-C (a second one interrupts at once)."""
    stop = threading.Event()

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        click.echo("stopping after the current batch; Ctrl-C again to abort", err=True)
        stop.set()

    previous = signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


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
@_setting("--batch-size", click.IntRange(min=1), 8, "Prompts per forward batch.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed for sampling.")
@click.option(
    "--base-url",
    default=None,
    help="Ask this OpenAI-compatible server instead, like http://localhost:8000/v1; --model names its model.",
)
@_server_option(
    "--api-key-env", str, "environment variable holding the API key (default OPENAI_API_KEY)."
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
def generate(
    store: Store,
    models: tuple[str, ...],
    prompts: str,
    n: int,
    limit: int | None,
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
    seed: int,
    base_url: str | None,
    **remote: object,
) -> tuple[dict, str]:
    """Generate candidate responses from one or more models and store them batch by batch.

    The models run in a worker process (a job); each finished batch is stored as it comes, and
    Ctrl-C cancels the job, keeping every batch stored so far. A later run skips prompts that
    already have a response from the model. With --base-url each sample is a request to that
    server instead; samples already stored (same prompt, model and sample index) are skipped.
    """
    from training.generate import GenerationError

    given = {name: value for name, value in remote.items() if value is not None}
    if given and not base_url:
        flags = ", ".join(f"--{name.replace('_', '-')}" for name in given)
        raise GenerationError(f"{flags} only apply with --base-url")
    sampling = dict(n=n, temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    if base_url:
        return _generate_on_server(store, models, prompts, limit, seed, base_url, sampling, given)
    from app.commands.jobs import run_job_here

    params = generation_params(models, prompts, batch_size, limit=limit, seed=seed, **sampling)
    return generation_result(run_job_here(store, "generate", params))


def remote_generate(server: ServerInfo, base_url: str | None, **options: Any) -> tuple[dict, str]:
    """`generate` through a running server: the job runs there, and this follows it.
    `options` are the command's other options."""
    from app.commands.jobs import run_job_remote

    if base_url:
        raise PrefstudioError(
            f"through the running server at {server.url}, generate runs models as a job there; "
            "--base-url runs here only: stop the server first"
        )
    return generation_result(run_job_remote(server, "generate", generation_params(**options)))


def generation_params(
    models: tuple[str, ...], prompts: str, batch_size: int, **settings: Any
) -> dict[str, Any]:
    """A generation job's parameters, as `POST /api/v1/jobs` takes them, from the command's
    options (those of --base-url left out; a prompt file's path made absolute)."""
    from pathlib import Path

    from curation.arena.candidates import PROMPT_CHOICES

    if prompts not in PROMPT_CHOICES and Path(prompts).exists():
        prompts = str(Path(prompts).resolve())
    job = ("n", "limit", "temperature", "top_p", "max_new_tokens", "seed")
    chosen = {name: settings[name] for name in job}
    return dict(models=list(models), prompts=prompts, batch_size=batch_size, **chosen)


def _generate_on_server(
    store: Store,
    models: tuple[str, ...],
    prompts: str,
    limit: int | None,
    seed: int,
    base_url: str,
    sampling: dict,
    given: dict,
) -> tuple[dict, str]:
    """Generate by asking an OpenAI-compatible server, here (the work is waiting on it)."""
    from tqdm import tqdm

    from training.generate import SamplingSettings
    from training.generate_remote import ServerOptions, generate_on_server

    settings = SamplingSettings(seed=seed, **sampling)
    with _stop_on_interrupt() as stop, tqdm(desc="generate", unit="sample", disable=None) as bar:

        def show(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = generate_on_server(
            store, list(models), ServerOptions(base_url, **given), prompts=prompts, limit=limit,
            settings=settings, progress=show, should_stop=stop.is_set,
        )  # fmt: skip
    lines = [f"{model}: {added} samples received" for model, added in report.per_model.items()]
    lines.append(
        f"{report.endpoint}: {report.already_stored} samples already stored, "
        f"{report.retries} requests retried"
    )
    return report.to_dict(), "\n".join([*lines, _totals(report.to_dict())])


def _totals(report: dict) -> str:
    """The last line of a generation report: prompts done, new tokens, time."""
    return (
        f"{report['prompts_done']} of {report['prompts']} prompts, {report['new_tokens']} new "
        f"tokens in {report['seconds']:.1f} s" + (" (stopped early)" if report["cancelled"] else "")
    )


def generation_result(report: dict) -> tuple[dict, str]:
    """What `generate` prints for a generation job's report."""
    lines = [f"{model}: {added} new responses" for model, added in report["per_model"].items()]
    return report, "\n".join([*lines, _totals(report)])


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
) -> tuple[dict, str]:
    """Pair candidate responses for labelling and put the new pairs in the queue."""
    report = pair_responses(store, strategy, list(models), per_prompt=per_prompt, priority=priority)
    return pairing_result(report.to_dict())


def pairing_result(report: dict) -> tuple[dict, str]:
    """What `pair` prints for a pairing report (as PairingReport.to_dict gives it)."""
    return report, (
        f"{report['added']} new {report['strategy']} pairs queued; "
        f"{report['identical_skipped']} identical candidates left out"
    )


COMMANDS = [generate, pair]
