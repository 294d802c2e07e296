"""Running jobs: create, launch, take results in, finish, cancel, resume and wait.

How results reach the store: a worker (`python -m <kind's worker> DIR`) never opens the store;
it writes numbered chunk files in its folder, each whole (temporary file, then rename). The
one path that takes them in is `watch_jobs`, in the process that holds the store (the server's
watcher thread, or the CLI while it waits): for each running job it stores every chunk after
the last one recorded, in order, each in ONE transaction that both stores the chunk (through
the kind's core store function) and records its number on the job row. A watcher that runs
twice, or a server restarted half-way, therefore neither stores a chunk twice nor skips one.
When the worker has ended, its last chunks are taken in and the job is finished: succeeded
(it wrote result.json), cancelled (a cancel wrote the marker first) or failed (with a cause).
A chunk the store refuses fails its job at once, naming the chunk and the error (nothing of
it stored, the worker ended); one that lost a write conflict is tried again at the next watch.

One job of each kind runs at a time (`MAX_RUNNING_PER_KIND`), so one training run trains
at a time; kinds do not wait for each other unless a kind's gate says so. Reads (`get_job`,
`list_jobs`, `job_view`) never write.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from curation.errors import PrefstudioError
from curation.jobs import files, processes
from curation.jobs.kinds import KINDS, JobBlocked, add_counts
from curation.jobs.pacing import name_launcher
from curation.jobs.records import (
    JobRecord,
    Link,
    get_job,
    insert_job,
    list_jobs,
    record_chunk,
    update_job,
)
from curation.store.store import Store

MAX_RUNNING_PER_KIND = 1
_finishing = threading.Lock()  # one thread at a time takes results in, finishes or launches


class JobError(PrefstudioError):
    """A job cannot be started, cancelled or resumed as asked."""


def jobs_dir(store: Store) -> Path:
    """The folder holding one sub-folder per job."""
    return store.files_dir / "jobs"


def worker_command(kind: str, folder: Path, params: dict[str, Any]) -> list[str]:
    """The command that runs a job of `kind` on its folder: its worker module, through
    accelerate when the job's parameters ask for 2 or more GPUs."""
    gpus = params.get("gpus", 1)
    if gpus > 1:
        launcher = ["accelerate.commands.launch", "--multi_gpu", f"--num_processes={gpus}"]
        return [sys.executable, "-m", *launcher, "--module", KINDS[kind].worker, str(folder)]
    return [sys.executable, "-m", KINDS[kind].worker, str(folder)]


def create_job(
    store: Store,
    kind: str,
    params: dict[str, Any],
    work: dict[str, Any],
    report: dict[str, Any],
    *,
    inputs: Path | None = None,
    link: Link | None = None,
) -> JobRecord:
    """Queue a job and launch it unless one of its kind is running; return it.

    `params` is what was asked (kept on the row), `work` everything else the worker needs
    (written with `params` to params.json), `report` the job's result before any chunk.
    `inputs`, a folder under `jobs_dir(store)` holding files for the worker, becomes the
    job's folder. `link`, if given, writes in the transaction that inserts the job (a
    training run's own row).
    """
    with _finishing:  # no watcher launches the job before its folder is ready
        record = insert_job(store, kind, params, report, jobs_dir(store), link)
        if inputs is None:
            record.folder.mkdir(parents=True, exist_ok=True)
        else:
            os.replace(inputs, record.folder)
        files.write_json_atomically(record.folder / files.PARAMS_FILE, {**params, **work})
        command = worker_command(kind, record.folder, params)
        (record.folder / files.COMMAND_FILE).write_text(json.dumps(command), encoding="utf-8")
    launch_queued(store)
    return get_job(store, record.id)


def launch_queued(store: Store) -> list[JobRecord]:
    """Launch queued jobs, oldest first, while no job of their kind is running; a job whose
    gate holds it waits (saying for what in its progress), one whose gate never will fails."""
    launched = []
    with _finishing:
        for kind in KINDS:
            free = MAX_RUNNING_PER_KIND - len(list_jobs(store, status=("running",), kind=kind))
            queued = sorted(list_jobs(store, status=("queued",), kind=kind), key=lambda j: j.id)
            for job in queued:
                if free > 0 and _may_launch(store, job):
                    launched.append(_launch(store, job))
                    free -= 1
    return launched


def _may_launch(store: Store, job: JobRecord) -> bool:
    """Whether the job's gate lets it launch; a job it never will is recorded as failed."""
    gate = KINDS[job.kind].gate
    try:
        waiting = None if gate is None else gate(store, job.params)
    except JobBlocked as blocked:
        update_job(store, job.id, status="failed", error=str(blocked), ended="now")
        return False
    if waiting is not None and job_progress(job).get("phase") != waiting:
        files.write_progress(job.folder, 0, 0, waiting)
    return waiting is None


def _launch(store: Store, job: JobRecord) -> JobRecord:
    """Start a queued job's worker, after clearing what a previous attempt ended with."""
    for stale in (files.ERROR_FILE, files.RESULT_FILE, files.CANCEL_FILE):
        (job.folder / stale).unlink(missing_ok=True)
    pid = processes.launch(worker_command(job.kind, job.folder, job.params), job.folder)
    return update_job(
        store, job.id, status="running", pid=pid, error=None, started="now", ended=None
    )


def take_in_chunks(store: Store, job: JobRecord) -> JobRecord:
    """Store every chunk the worker has written after the last one recorded, in order, each
    in one transaction with its record; return the job as it then is."""
    kind = KINDS[job.kind]
    for number in files.chunk_numbers(job.folder):
        if number <= job.chunks:
            continue
        if number != job.chunks + 1:
            break  # a gap: wait for the missing chunk rather than skip it
        rows = files.read_chunk(job.folder, number)
        try:
            with store.transaction() as con:
                counts = kind.store_chunk(store, job.params, rows)
                record_chunk(con, job.id, number, add_counts(job.result, counts))
        except duckdb.TransactionException:
            break  # a write of another transaction got there first: the next watch tries again
        except Exception as error:
            return _refuse_chunk(store, job, number, error)
        job = get_job(store, job.id)
    return job


def _refuse_chunk(store: Store, job: JobRecord, number: int, error: Exception) -> JobRecord:
    """Fail a job whose chunk `number` the store cannot take (nothing of it was stored): its
    worker is ended, and the cause names the chunk and the error."""
    process = processes.live_worker(job.folder, job.pid)
    if process is not None:
        processes.end_tree(process, grace_seconds=5.0)
    cause = f"result chunk {number} could not be stored: {type(error).__name__}: {error}"
    return update_job(store, job.id, status="failed", error=cause, pid=None, ended="now")


def watch_jobs(store: Store) -> list[JobRecord]:
    """The watcher: take in new chunks of running jobs, finish those whose worker ended, then
    launch queued jobs. Only the process holding the store calls it; returns the finished."""
    finished = []
    with _finishing:
        for job in list_jobs(store, status=("running",)):
            ended = processes.live_worker(job.folder, job.pid) is None
            if not ended:  # after a restart, the worker waits for this process now
                name_launcher(job.folder)
            job = take_in_chunks(store, job)
            if not job.active:  # a chunk the store refused failed it
                finished.append(job)
            elif ended:
                finished.append(_finish(store, job))
    launch_queued(store)
    return finished


def _finish(store: Store, job: JobRecord) -> JobRecord:
    """Record an ended job (its chunks taken in): cancelled, succeeded or failed, with the
    summary of the metrics it logged, if any."""
    folder = job.folder
    outcome = files.read_json(folder / files.RESULT_FILE)
    if (folder / files.CANCEL_FILE).exists():
        status, error = "cancelled", None
    elif outcome is not None:
        status, error = "succeeded", None
    else:
        status, error = "failed", processes.failure_cause(folder)
    result = {**job.result, **(outcome or {})}
    metrics = files.metrics_summary(folder)
    if metrics is not None:
        result["metrics"] = metrics
    if "seconds" in result and job.started is not None:
        result["seconds"] = round(
            (datetime.now(job.started.tzinfo) - job.started).total_seconds(), 3
        )
    if "cancelled" in result:
        result["cancelled"] = status == "cancelled"
    return update_job(
        store, job.id, status=status, error=error, result=result, pid=None, ended="now"
    )


def cancel_job(store: Store, job_id: int, *, grace_seconds: float = 5.0) -> JobRecord:
    """Cancel a queued job, or end a running job's whole process tree (what it finished is
    kept); either way its status becomes `cancelled`."""
    job = get_job(store, job_id)
    if not job.active:
        raise JobError(f"job {job_id} is {job.status}, not running; nothing to cancel")
    (job.folder / files.CANCEL_FILE).touch()  # from now on the job ends as cancelled
    process = processes.live_worker(job.folder, job.pid)
    if process is not None:
        processes.end_tree(process, grace_seconds)
    with _finishing:
        job = get_job(store, job_id)
        if job.active:
            job = take_in_chunks(store, job)
            job = _finish(store, job) if job.active else job
    launch_queued(store)
    return job


def resume_job(store: Store, job_id: int) -> JobRecord:
    """Queue a failed or cancelled job again; its worker skips the work its chunks hold."""
    job = get_job(store, job_id)
    if job.status not in ("failed", "cancelled"):
        raise JobError(f"job {job_id} is {job.status}; only failed or cancelled jobs resume")
    update_job(store, job_id, status="queued", error=None, ended=None)
    launch_queued(store)
    return get_job(store, job_id)


def wait_for_job(
    store: Store,
    job_id: int,
    *,
    poll_seconds: float = 0.5,
    on_poll: Callable[[JobRecord], None] | None = None,
) -> JobRecord:
    """Watch jobs until this one ends; `on_poll` sees it each time (for progress). For a
    process that holds the store while no server runs (the CLI, tests)."""
    while True:
        watch_jobs(store)
        job = get_job(store, job_id)
        if on_poll is not None:
            on_poll(job)
        if not job.active:
            return job
        time.sleep(poll_seconds)


def job_progress(job: JobRecord) -> dict[str, Any]:
    """What the worker last reported: done, total and phase (empty before it starts)."""
    return files.read_json(job.folder / files.PROGRESS_FILE) or {}


def job_view(job: JobRecord) -> dict[str, Any]:
    """A job's fields, its worker's command and its latest progress, as the API, the CLI and
    the UI show it."""
    return {
        **job.to_dict(),
        "command": files.read_command(job.folder),
        "progress": job_progress(job),
    }


def job_log(job: JobRecord, lines: int = 40) -> str:
    """The last lines of a job's log."""
    return processes.log_tail(job.folder, lines)
