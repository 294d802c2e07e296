"""Commands that train on a snapshot and follow runs: train, runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.commands.base import store_command
from app.commands.jobs import job_command
from curation.store.run_records import get_run, list_runs
from curation.store.store import Store
from training.export import ExportedModel, export_run_model
from training.methods import METHODS
from training.one_click import one_click_line
from training.presets import PRESETS
from training.run_spec import read_settings_file
from training.run_views import RunListing, RunLog, TrainedRun
from training.runs import RunError, log_tail, run_view


def train_params(
    snapshot: str | None,
    method: str | None,
    model: str | None,
    config_file: Path | None,
    preset: str,
    max_steps: int | None,
    one_click: bool,
    resume_id: int | None,
) -> dict[str, Any]:
    """A training job's parameters from the options (the --config file is read here)."""
    try:
        settings = read_settings_file(config_file) if config_file else {}
    except ValueError as error:
        raise RunError(f"bad config file: {error}") from None
    return {
        "snapshot": snapshot,
        "method": method,
        "model": model,
        "preset": preset,
        "settings": settings,
        "max_steps": max_steps,
        "one_click": one_click,
        "resume": resume_id,
    }


def run_started(view: dict) -> str:
    """What `train` says on stderr once its run's job started: the snapshot one-click chose,
    if it did, and the exact command."""
    run_id = view["params"]["run_id"]
    line = f"run {run_id}: {' '.join(view['command'] or [])}"
    chosen = view["result"].get("one_click")
    return line if chosen is None else f"{one_click_line(run_id, view['status'], chosen)}\n{line}"


def run_report(view: dict) -> dict[str, Any]:
    """A train job's run once it ended, as `train` prints it; a one-line error if it failed or
    was cancelled."""
    run_id, result = view["params"]["run_id"], view["result"]
    if view["status"] == "failed":
        raise RunError(f"run {run_id} failed: {view['error']} (log: {view['out_dir']}/log.txt)")
    if view["status"] == "cancelled":
        raise RunError(f"run {run_id} cancelled; `prefstudio train --resume {run_id}` resumes it")
    return {
        "id": run_id,
        "job_id": view["id"],
        "status": view["status"],
        **{key: view["params"].get(key) for key in ("method", "snapshot", "model")},
        "out_dir": view["out_dir"],
        "command": view["command"],
        "metrics": result.get("metrics") or {},
        "eval": {**result.get("eval", {}), "imported_pairs": result["imported_pairs"]},
    }


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
@job_command("train", TrainedRun.text, report=run_report, announce=run_started)
def train(resume_id: int | None, **options: Any) -> dict[str, Any]:
    """Train on a snapshot with TRL (LoRA by default) and wait for the run to finish.

    The run is a job, a subprocess with its own folder (config.yaml, log.txt, metrics.jsonl,
    model, result.json); Ctrl-C cancels it. Exits 1 when the run fails. `options` are the other
    command options, as train_params takes them.
    """
    return train_params(resume_id=resume_id, **options)


@click.command()
@click.option("--log", "log_id", type=int, default=None, help="Print the log tail of this run.")
@store_command(watches_jobs=True)
def runs(store: Store, log_id: int | None) -> RunListing | RunLog:
    """List training runs, newest first."""
    records = list_runs(store)
    if log_id is not None:
        chosen = [r for r in records if r.id == log_id]
        if not chosen:
            raise RunError(f"no run with id {log_id}")
        return RunLog(log_id, log_tail(chosen[0]))
    return RunListing([run_view(r) for r in records])


@click.command(name="export-run")
@click.argument("run_id", type=int)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="New folder to write.")
@click.option(
    "--merged", is_flag=True, help="Fold the LoRA adapter into the base weights (a full model)."
)
@store_command
def export_run(store: Store, run_id: int, out: Path, merged: bool) -> ExportedModel:
    """Write a succeeded run's model (adapter, or merged model) ready for from_pretrained."""
    folder = export_run_model(get_run(store, run_id).to_dict(), out, merged=merged)
    return ExportedModel(run_id, str(folder), merged)


COMMANDS = [train, runs, export_run]
