"""Commands that train on a snapshot and follow runs: train, runs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.commands.base import store_command
from curation.jobs.runner import watch_jobs
from curation.store.run_records import get_run, list_runs
from curation.store.store import Store
from training.methods import METHODS
from training.one_click import one_click_dpo
from training.presets import PRESETS, preset_settings
from training.run_spec import read_settings_file
from training.runs import (
    DEFAULT_MODEL,
    RunError,
    cancel_run,
    log_tail,
    plan_run,
    resume_run,
    run_view,
    start_run,
    wait_for_run,
)

RunWait = Callable[[Callable[[dict], None]], dict]
"""Polls a run until it ends, showing each view to the callback; returns the last view."""


def new_run_request(
    snapshot: str | None,
    method: str | None,
    model: str | None,
    config_file: Path | None,
    preset: str,
    max_steps: int | None,
    one_click: bool = False,
) -> dict:
    """What to start a run with, from the options: plan_run's arguments (the runs API's body),
    or with `one_click` one_click_dpo's (the one-click route's body)."""
    try:
        overrides = read_settings_file(config_file) if config_file else {}
    except ValueError as error:
        raise RunError(f"bad config file: {error}") from None
    if one_click:
        if snapshot or method not in (None, "dpo"):
            raise RunError(
                "--one-click picks the snapshot and trains DPO: drop --snapshot/--method"
            )
        return {"model": model, "preset": preset, "settings": overrides, "max_steps": max_steps}
    if not snapshot or not method:
        raise RunError("name --snapshot and --method (or use --one-click, or --resume a run)")
    settings = {**preset_settings(model or DEFAULT_MODEL, preset), **overrides}
    return {
        "snapshot": snapshot,
        "method": method,
        "model": model,
        "settings": settings,
        "max_steps": max_steps,
    }


def follow_run(run: dict, wait: RunWait, cancel: Callable[[], dict]) -> dict:
    """Wait for a run (a run view) with a progress bar over its steps; Ctrl-C cancels it."""
    from app.commands.jobs import follow_with_bar

    def reading(current: dict) -> tuple[int, int | None, str]:
        progress = current["progress"]
        return progress.get("step", 0), progress.get("max_steps"), progress.get("phase", "starting")

    click.echo(f"run {run['id']}: {' '.join(run['command'])}", err=True)
    title = f"run {run['id']} ({run['method']})"
    kept = f"`prefstudio train --resume {run['id']}` resumes it"
    return follow_with_bar(title, "step", reading, wait, cancel, kept)


def finished_run(run: dict) -> tuple[dict, str]:
    """What `train` prints for a run that ended; a one-line error if it failed or was cancelled."""
    if run["status"] == "failed":
        raise RunError(f"run {run['id']} failed: {run['error']} (log: {run['out_dir']}/log.txt)")
    if run["status"] == "cancelled":
        raise RunError(
            f"run {run['id']} cancelled; `prefstudio train --resume {run['id']}` resumes it"
        )
    results = run["eval"] or {}
    text = (
        f"run {run['id']} {run['status']}: held-out accuracy "
        f"{results.get('heldout_accuracy_before')} -> {results.get('heldout_accuracy_after')}; "
        f"output in {run['out_dir']}"
    )
    summary_keys = ("id", "status", "method", "snapshot", "model", "error", "out_dir", "command")
    summary = {key: run[key] for key in summary_keys}
    return {**summary, "metrics": run["metrics"] or {}, "eval": results}, text


def run_table(runs: list[dict]) -> tuple[dict, str]:
    """What `runs` prints: every run (run views: fields and progress), newest first, a line each."""
    lines = [
        f"{r['id']:>4}  {r['status']:<9}  {r['method']:<3}  {r['snapshot']}  {r['model']}  "
        f"acc {(r['eval'] or {}).get('heldout_accuracy_before')} -> "
        f"{(r['eval'] or {}).get('heldout_accuracy_after')}"
        + (f"  error: {r['error']}" if r["error"] else "")
        for r in runs
    ]
    return {"runs": runs}, "\n".join(lines) or "no runs yet"


@click.command()
@click.option("--snapshot", default=None, help="Snapshot to train on (`prefstudio snapshot list`).")
@click.option(
    "--method",
    type=click.Choice(list(METHODS)),
    default=None,
    help="sft, rm (reward model), dpo or kto.",
)
@click.option(
    "--model",
    default=None,
    help="Base model: hub id, local folder, or smollm2-135m (the default).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML or JSON file of the method's settings (learning_rate, lora_rank, beta, ...).",
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default="standard",
    show_default=True,
    help="Settings suited to the model's size; --config and --max-steps override them.",
)
@click.option(
    "--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many steps."
)
@click.option(
    "--one-click",
    is_flag=True,
    help="DPO on a fresh snapshot (made when labels, flags or exclusions changed since the newest).",
)
@click.option(
    "--resume",
    "resume_id",
    type=int,
    default=None,
    help="Resume a failed or cancelled run (by id) from its last checkpoint instead.",
)
@store_command
def train(store: Store, resume_id: int | None, **options: Any) -> tuple[dict, str]:
    """Train on a snapshot with TRL (LoRA by default) and wait for the run to finish.

    The run is a job, a subprocess with its own folder (config.yaml, log.txt, metrics.jsonl,
    model, result.json); Ctrl-C cancels it. Exits 1 when the run fails. `options` are the other
    command options, as new_run_request takes them.
    """
    if resume_id is not None:
        record = resume_run(store, resume_id)
    elif options["one_click"]:
        started = one_click_dpo(store, **new_run_request(**options))
        click.echo(started.describe(), err=True)
        record = started.run
    else:
        record = start_run(store, plan_run(store, **new_run_request(**options)))

    def wait(on_poll: Callable[[dict], None]) -> dict:
        return run_view(wait_for_run(store, record.id, on_poll=lambda r: on_poll(run_view(r))))

    run = follow_run(run_view(record), wait, lambda: run_view(cancel_run(store, record.id)))
    return finished_run(run)


@click.command()
@click.option("--log", "log_id", type=int, default=None, help="Print the log tail of this run.")
@store_command
def runs(store: Store, log_id: int | None) -> tuple[dict, str]:
    """List training runs, newest first (without a server, this process holds the store and
    watches: runs that ended meanwhile are recorded and queued ones launched)."""
    watch_jobs(store)
    records = list_runs(store)
    if log_id is not None:
        chosen = [r for r in records if r.id == log_id]
        if not chosen:
            raise RunError(f"no run with id {log_id}")
        return {"id": log_id, "log": log_tail(chosen[0])}, log_tail(chosen[0])
    return run_table([run_view(r) for r in records])


@click.command(name="export-run")
@click.argument("run_id", type=int)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder to write.")
@click.option(
    "--merged", is_flag=True, help="Fold the LoRA adapter into the base weights (a full model)."
)
@store_command
def export_run(store: Store, run_id: int, out: Path, merged: bool) -> tuple[dict, str]:
    """Write a succeeded run's model (adapter, or merged model) ready for from_pretrained."""
    return exported_run(get_run(store, run_id).to_dict(), out, merged)


def exported_run(run: dict, out: Path, merged: bool) -> tuple[dict, str]:
    """Export `run`'s model (see export-run) and say where it went."""
    from training.export import export_run_model

    folder = export_run_model(run, out, merged=merged)
    kind = "merged model" if merged else "model"
    data = {"id": run["id"], "out": str(folder), "merged": merged}
    return data, f"wrote run {run['id']}'s {kind} to {folder}"


COMMANDS = [train, runs, export_run]
