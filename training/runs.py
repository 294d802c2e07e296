"""Training runs as subprocesses: plan, queue, launch, watch, cancel, resume, record results.

A run is a row in the store and a folder `files_dir/runs/<id>/` holding `config.yaml`, the exact
command (`command.json`), and what the worker writes (log, metrics, checkpoints, model, eval).
The worker never opens the store. The process holding the store (server or CLI) queues runs,
launches one at a time, and records who the worker is (`worker.json`: pid and start time).
One watcher, `watch_runs`, finishes runs whose worker ended (metrics, eval, imported sample
answers) and launches the next queued one; reads (`get_run`, `list_runs`) never write.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from curation.errors import PrefstudioError
from curation.jobs import processes
from curation.store.run_records import (
    RunRecord,
    get_run,
    insert_run,
    list_runs,
    update_run,
)
from curation.store.store import Store
from training import run_spec as files
from training.methods import get_method, settings_from_dict
from training.metrics_log import read_json, read_metrics
from training.run_spec import RunSpec, write_spec

DEFAULT_MODEL = "smollm2-135m"
_OOM = re.compile(r"out of memory|OutOfMemoryError|can't allocate memory|MemoryError", re.I)
_TRACEBACK_END = re.compile(r"^(\w+\.)*\w*(Error|Exception|Interrupt)\b.*", re.M)
MAX_RUNNING = 1  # runs training at once: one machine's CPU or GPUs are shared by none
_finishing = threading.Lock()  # one thread at a time records or launches runs


class RunError(PrefstudioError):
    """A run cannot be planned, started, cancelled or resumed as asked."""


def runs_dir(store: Store) -> Path:
    """The folder holding one sub-folder per run."""
    return store.files_dir / "runs"


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


def worker_command(run_dir: Path, gpus: int) -> list[str]:
    """The exact command that trains a run: the worker module, through accelerate on 2+ GPUs."""
    if gpus > 1:
        launcher = ["-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={gpus}"]
        return [sys.executable, *launcher, "--module", "training.worker", str(run_dir)]
    return [sys.executable, "-m", "training.worker", str(run_dir)]


def create_run(store: Store, spec: RunSpec) -> RunRecord:
    """Record a queued run and write its folder: config.yaml and the command that will run."""
    record = insert_run(
        store,
        snapshot=spec.snapshot,
        method=spec.method,
        model=spec.model,
        config=spec.to_dict(),
        runs_dir=runs_dir(store),
    )
    spec.run_id = record.id
    run_dir = Path(record.out_dir)
    write_spec(run_dir, spec)
    command = worker_command(run_dir, cuda_device_count())
    (run_dir / files.COMMAND_FILE).write_text(json.dumps(command), encoding="utf-8")
    return update_run(store, record.id, config=spec.to_dict(), command=command)


def _launch_run(store: Store, run_id: int) -> RunRecord:
    """Start a queued (or resumed) run's command as a subprocess, its output going to log.txt."""
    record = get_run(store, run_id)
    run_dir = Path(record.out_dir)
    for stale in (files.ERROR_FILE, files.EVAL_FILE, files.CANCEL_FILE):
        (run_dir / stale).unlink(missing_ok=True)
    pid = processes.launch(record.command, run_dir)
    return update_run(
        store, run_id, status="running", pid=pid, error=None, started="now", ended=None
    )


def start_run(store: Store, spec: RunSpec) -> RunRecord:
    """Queue a run and launch it at once when no other run is training; return it."""
    record = create_run(store, spec)
    launch_queued(store)
    return get_run(store, record.id)


def launch_queued(store: Store) -> list[RunRecord]:
    """Launch queued runs, oldest first, while fewer than MAX_RUNNING are running."""
    with _finishing:
        running = len(list_runs(store, status=("running",)))
        queued = sorted(list_runs(store, status=("queued",)), key=lambda r: r.id)
        return [_launch_run(store, r.id) for r in queued[: max(0, MAX_RUNNING - running)]]


def _worker_process(record: RunRecord) -> Any:
    """The live worker process of a run (known by its pid and start time), or None once it
    has ended."""
    return processes.live_worker(Path(record.out_dir) if record.out_dir else None, record.pid)


def failure_cause(run_dir: Path) -> str:
    """Why a run failed, in one line: out of memory, a bad config, or the error it ended with."""
    error = processes.worker_error(run_dir)
    text = f"{error['type']}: {error['message']}" if error else ""
    if _OOM.search(text) or (not error and _OOM.search(processes.log_text(run_dir)[-5000:])):
        return "out of memory: lower per_device_train_batch_size or max_length, or use 4bit"
    if error and error["type"] in ("ValueError", "TypeError", "KeyError", "ModelError"):
        return f"bad config: {text}"
    return processes.failure_cause(run_dir)


def watch_runs(store: Store) -> list[RunRecord]:
    """The watcher: finish every running run whose worker ended, then launch queued runs.

    Only the process holding the store calls it (the server's watcher thread, or the CLI while
    no server runs); the runs it finished are returned.
    """
    with _finishing:
        ended = [r for r in list_runs(store, status=("running",)) if _worker_process(r) is None]
        finished = [_finish_run(store, r) for r in ended]
    launch_queued(store)
    return finished


def _finish_run(store: Store, record: RunRecord) -> RunRecord:
    """Record an ended run: cancelled, succeeded (metrics, eval, imported answers) or failed."""
    run_dir = Path(record.out_dir)
    results = read_json(run_dir / files.EVAL_FILE)
    metrics = summarize_metrics(read_metrics(run_dir / files.METRICS_FILE))
    ended = {"metrics": metrics, "pid": None, "ended": "now"}
    if (run_dir / files.CANCEL_FILE).exists():
        return update_run(store, record.id, status="cancelled", **ended)
    if results is None:
        return update_run(store, record.id, status="failed", error=failure_cause(run_dir), **ended)
    imported = import_generations(store, record)
    results = {**results, "imported_pairs": imported}
    ended["metrics"] = {**metrics, "phase_seconds": results.get("phase_seconds", {})}
    return update_run(store, record.id, status="succeeded", eval=results, **ended)


def summarize_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The last value of each logged metric, and how many steps were logged."""
    summary: dict[str, Any] = {}
    for row in rows:
        summary.update({k: v for k, v in row.items() if v is not None and k != "time"})
    summary["logged_steps"] = sum(1 for row in rows if "loss" in row)
    return summary


def import_generations(store: Store, record: RunRecord) -> int:
    """Store the run's sample answers as candidate pairs (base vs trained, origin `run:<id>`)."""
    from curation.arena.run_pairs import add_run_pairs

    path = Path(record.out_dir) / files.GENERATIONS_FILE
    if not path.is_file():
        return 0
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return add_run_pairs(store, record.id, record.model or DEFAULT_MODEL, rows)


def cancel_run(store: Store, run_id: int, *, grace_seconds: float = 5.0) -> RunRecord:
    """Cancel a queued run, or end a running run's whole process tree (terminate, then kill
    after the grace period); either way its status becomes `cancelled`."""
    record = get_run(store, run_id)
    if not record.active:
        raise RunError(f"run {run_id} is {record.status}, not running; nothing to cancel")
    Path(record.out_dir, files.CANCEL_FILE).touch()  # the watcher now records it as cancelled
    process = _worker_process(record)
    if process is not None:
        processes.end_tree(process, grace_seconds)
    with _finishing:
        record = get_run(store, run_id)
        if record.active:
            record = _finish_run(store, record)
    launch_queued(store)
    return record


def resume_run(store: Store, run_id: int) -> RunRecord:
    """Queue a failed or cancelled run again; once launched, the worker picks up from its last
    checkpoint."""
    record = get_run(store, run_id)
    if record.status not in ("failed", "cancelled"):
        raise RunError(f"run {run_id} is {record.status}; only failed or cancelled runs resume")
    update_run(store, run_id, status="queued", error=None, ended=None)
    launch_queued(store)
    return get_run(store, run_id)


def wait_for_run(
    store: Store,
    run_id: int,
    *,
    poll_seconds: float = 1.0,
    on_poll: Callable[[RunRecord], None] | None = None,
) -> RunRecord:
    """Watch runs until this one ends; `on_poll` sees its record each time (for progress).

    For a process that holds the store while no server runs (the CLI, tests).
    """
    from curation.jobs.runner import wait_until_ended

    return wait_until_ended(
        store, (watch_runs,), lambda: get_run(store, run_id), poll_seconds, on_poll
    )


def run_progress(record: RunRecord) -> dict[str, Any]:
    """What the worker last reported: phase, step and max_steps (empty before it starts)."""
    return read_json(Path(record.out_dir) / files.PROGRESS_FILE) or {}


def run_view(record: RunRecord) -> dict[str, Any]:
    """A run's fields as plain values and its latest progress, as the API and the CLI show it."""
    return {**record.to_dict(), "progress": run_progress(record)}


def log_tail(record: RunRecord, lines: int = 40) -> str:
    """The last lines of a run's log.txt."""
    return processes.log_tail(Path(record.out_dir), lines)
