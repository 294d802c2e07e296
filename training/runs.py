"""Training runs: plan, start, cancel, resume and follow them.

A run is a job of kind `train` (`curation.jobs.runner` launches, watches and finishes it, one
at a time) with a row of its own in `runs` (what it trains; `run:<id>` names its model). Its
job folder holds `config.yaml`, the exact command, and what the worker writes: log, metrics,
checkpoints, model, and at its end the base and trained model's sample answers (a chunk, stored
as pairs to label) and the evaluation (`result.json`). Reads (`get_run`, `list_runs`) never
write.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from curation.errors import PrefstudioError
from curation.jobs import files as job_files
from curation.jobs import processes, runner
from curation.store.run_records import RunRecord, get_run, insert_run, next_run_id
from curation.store.store import Store
from training.methods import get_method, settings_from_dict
from training.run_spec import RunSpec, write_spec

DEFAULT_MODEL = "smollm2-135m"


class RunError(PrefstudioError):
    """A run cannot be planned, started, cancelled or resumed as asked."""


def snapshot_data(store: Store, snapshot: str, method: str) -> dict[str, str]:
    """The snapshot files a method reads: its training split, and the held-out pairs to score."""
    from curation.snapshots.freeze import snapshot_files

    found = snapshot_files(store, snapshot)
    fmt = get_method(method).snapshot_format
    train = found.get(fmt, {}).get("train")
    if train is None or not Path(train).is_file():
        raise RunError(f"snapshot {snapshot} has no {fmt} training split for {method}")
    data = {"train": str(train)}
    held_out = found.get("dpo", {}).get("test")
    if held_out is not None and Path(held_out).is_file():
        data["eval_pairs"] = str(held_out)
    return data


def plan_run(
    store: Store,
    *,
    snapshot: str,
    method: str,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    max_steps: int | None = None,
) -> RunSpec:
    """Check a run's method, settings, model and snapshot, and describe it; nothing is written.

    Bad settings, an unknown method or snapshot, or 4/8-bit without CUDA raise RunError; a
    model folder that does not exist raises ModelError.
    """
    checked, model = check_run(method, model, settings, max_steps)
    return RunSpec(
        method=method,
        model=model,
        snapshot=snapshot,
        data=snapshot_data(store, snapshot, method),
        settings=checked,
    )


def check_run(
    method: str, model: str | None, settings: dict[str, Any] | None, max_steps: int | None
) -> tuple[Any, str]:
    """The checked settings and the model name (the default if None) of a run, before any
    snapshot is looked at; RunError or ModelError as plan_run says."""
    from training.models import resolve_model

    values = dict(settings or {})
    if max_steps is not None:
        values["max_steps"] = max_steps
    try:
        checked = settings_from_dict(method, values)
    except ValueError as error:
        raise RunError(f"bad {method} config: {error}") from None
    if checked.quantization != "none" and not cuda_device_count():
        raise RunError(
            f"quantization {checked.quantization} (QLoRA) needs a CUDA GPU with bitsandbytes; "
            "none found: set quantization to none"
        )
    model = model or DEFAULT_MODEL
    resolve_model(model)  # a missing folder is refused now, not in the worker
    return checked, model


def cuda_device_count() -> int:
    """How many CUDA GPUs this machine has (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def start_run(store: Store, spec: RunSpec, report: dict[str, Any] | None = None) -> RunRecord:
    """Queue a run (its row and its `train` job, in one transaction, the folder holding its
    config.yaml) and launch it at once when no other run is training; return it. `report`:
    what the job's report starts with besides the count of sample pairs."""
    spec.run_id = next_run_id(store)
    jobs_dir = runner.jobs_dir(store)
    jobs_dir.mkdir(parents=True, exist_ok=True)
    inputs = Path(tempfile.mkdtemp(prefix=".run-", dir=jobs_dir))
    write_spec(inputs, spec)
    params = {
        "run_id": spec.run_id,
        "method": spec.method,
        "snapshot": spec.snapshot,
        "model": spec.model,
        "gpus": cuda_device_count(),
    }

    def add_run(con: duckdb.DuckDBPyConnection, job_id: int) -> None:
        fields = {"snapshot": spec.snapshot, "method": spec.method, "model": spec.model}
        insert_run(con, spec.run_id, **fields, config=spec.to_dict(), job_id=job_id)

    runner.create_job(
        store,
        "train",
        params,
        {},
        {"imported_pairs": 0, **(report or {})},
        inputs=inputs,
        link=add_run,
    )
    return get_run(store, spec.run_id)


def cancel_run(store: Store, run_id: int, *, grace_seconds: float = 5.0) -> RunRecord:
    """Cancel a queued run, or end a running run's whole process tree (terminate, then kill
    after the grace period); either way its status becomes `cancelled`."""
    record = get_run(store, run_id)
    if not record.active:
        raise RunError(f"run {run_id} is {record.status}, not running; nothing to cancel")
    runner.cancel_job(store, record.job_id, grace_seconds=grace_seconds)
    return get_run(store, run_id)


def resume_run(store: Store, run_id: int) -> RunRecord:
    """Queue a failed or cancelled run again; once launched, the worker picks up from its last
    checkpoint."""
    record = get_run(store, run_id)
    if record.status not in ("failed", "cancelled"):
        raise RunError(f"run {run_id} is {record.status}; only failed or cancelled runs resume")
    runner.resume_job(store, record.job_id)
    return get_run(store, run_id)


def wait_for_run(
    store: Store,
    run_id: int,
    *,
    poll_seconds: float = 1.0,
    on_poll: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Watch jobs until this run ends; `on_poll` sees its record each time (for progress).

    For a process that holds the store while no server runs (the CLI, tests).
    """
    job_id = get_run(store, run_id).job_id

    def polled(_: Any) -> None:
        if on_poll is not None:
            on_poll(get_run(store, run_id))

    runner.wait_for_job(store, job_id, poll_seconds=poll_seconds, on_poll=polled)
    return get_run(store, run_id)


def planned_command(store: Store) -> tuple[Path, list[str]]:
    """The folder and command a new run would get (`<id>`: its job's id, not yet known)."""
    folder = runner.jobs_dir(store) / "<id>"
    return folder, runner.worker_command("train", folder, {"gpus": cuda_device_count()})


def run_command(record: RunRecord) -> list[str] | None:
    """The exact command that runs (or ran) a run's worker (None for a run older than jobs)."""
    return job_files.read_command(Path(record.out_dir))


def run_progress(record: RunRecord) -> dict[str, Any]:
    """What the worker last reported, as any job does: done (the step while training) of
    total, and its phase (empty before it starts)."""
    return job_files.read_json(Path(record.out_dir) / job_files.PROGRESS_FILE) or {}


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run's fields, its command and its latest progress, as the API and the CLI show it."""
    return {**record.to_dict(), "command": run_command(record), "progress": run_progress(record)}


def log_tail(record: RunRecord, lines: int = 40) -> str:
    """The last lines of a run's log.txt."""
    return processes.log_tail(Path(record.out_dir), lines)
