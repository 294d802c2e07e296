"""Training runs as jobs: queue, launch, results in the store, cancel, failure, re-attach,
resume, how a worker is known, and stores whose runs predate jobs."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psutil
import pytest

from curation import Store
from curation.jobs import processes
from curation.jobs.files import read_metrics
from curation.jobs.records import get_job, list_jobs
from curation.jobs.runner import watch_jobs, worker_command
from curation.store.migrations import MIGRATIONS
from curation.store.run_records import get_run
from tests.models import build_tiny_causal_lm
from tests.training_helpers import tiny_spec, write_split_exports
from training.runs import (
    RunError,
    cancel_run,
    plan_run,
    planned_command,
    resume_run,
    run_command,
    run_progress,
    start_run,
    wait_for_run,
)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    return write_split_exports(tmp_path_factory.mktemp("snapshot"))


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "lm")


def wait_until(condition, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(0.3)


def test_run_is_a_train_job_running_the_previewed_command(store, files, tiny_lm):
    folder, preview = planned_command(store)
    record = start_run(store, tiny_spec("dpo", tiny_lm, files))
    run_dir = Path(record.out_dir)
    assert run_dir == folder.with_name(str(record.job_id))
    assert run_command(record) == [part.replace("<id>", run_dir.name) for part in preview]
    assert run_command(record) == [sys.executable, "-m", "training.worker", str(run_dir)]
    job = get_job(store, record.job_id)
    assert (job.kind, job.params["run_id"], job.status) == ("train", record.id, "running")
    worker = json.loads((run_dir / "worker.json").read_text())
    assert worker == {"pid": record.pid, "started": psutil.Process(record.pid).create_time()}

    record = wait_for_run(store, record.id, poll_seconds=0.3)
    assert record.status == "succeeded", record.error
    assert record.pid is None and record.ended is not None
    assert record.eval["train_steps"] == 2
    assert 0 <= record.eval["heldout_accuracy_after"] <= 1
    assert record.metrics["logged_steps"] == 2 and "rewards/accuracies" in record.metrics
    assert (run_dir / "model" / "adapter_config.json").is_file()
    assert "training" in (run_dir / "log.txt").read_text()
    phases = record.eval["phase_seconds"]
    assert set(phases) >= {"loading", "scoring base model", "training", "scoring trained model"}


def test_cancel_ends_the_whole_process_tree(store, files, tiny_lm):
    record = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=100000))
    worker = psutil.Process(record.pid)
    wait_until(lambda: run_progress(get_run(store, record.id)).get("done", 0) >= 1)

    record = cancel_run(store, record.id)

    assert record.status == "cancelled" and record.pid is None
    assert not worker.is_running()
    assert get_run(store, record.id).status == "cancelled"
    with pytest.raises(RunError, match="not running"):
        cancel_run(store, record.id)


def test_cancelled_run_resumes_from_its_last_checkpoint(store, files, tiny_lm):
    record = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=40, save_steps=2))
    checkpoints = Path(record.out_dir, "checkpoints")
    wait_until(lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")))
    psutil.Process(record.pid).suspend()  # held mid-run, so the cancel lands before the end
    metrics_file = Path(record.out_dir) / "metrics.jsonl"
    first = [row["step"] for row in read_metrics(metrics_file) if "loss" in row]
    assert first[-1] < 40, first
    assert cancel_run(store, record.id, grace_seconds=1).status == "cancelled"

    record = wait_for_run(store, resume_run(store, record.id).id, poll_seconds=0.3)

    assert record.status == "succeeded", record.error
    steps = [row["step"] for row in read_metrics(metrics_file) if "loss" in row]
    resumed = steps[len(first) :]
    assert resumed and resumed[0] > 1 and resumed[-1] == 40, steps
    assert steps.count(1) == 1  # not trained again from the start
    with pytest.raises(RunError, match="only failed or cancelled"):
        resume_run(store, record.id)


def test_failed_run_records_its_cause_and_the_store_keeps_working(store, files, tmp_path):
    record = start_run(store, tiny_spec("dpo", tmp_path / "missing-model", files))
    record = wait_for_run(store, record.id, poll_seconds=0.3)
    assert record.status == "failed"
    assert record.error.startswith("bad config: ModelError") and "missing-model" in record.error
    assert store.con.execute("SELECT count(*) FROM runs").fetchall() == [(1,)]


def test_a_new_server_reattaches_to_a_running_run(db_path, files, tiny_lm):
    with Store(db_path) as first:
        record = start_run(first, tiny_spec("kto", tiny_lm, files, max_steps=3))
    # the process that started it is gone; a new one finds the run by its pid
    with Store(db_path) as second:
        # the new store's watcher finds the worker by its pid and start time, and finishes it
        record = wait_for_run(second, record.id, poll_seconds=0.3)
        assert record.status == "succeeded", record.error
        assert "kl" in record.metrics


def test_failure_cause_names_out_of_memory_and_tracebacks(tmp_path):
    (tmp_path / "error.json").write_text(
        json.dumps({"type": "OutOfMemoryError", "message": "CUDA out of memory. Tried to ..."})
    )
    assert processes.failure_cause(tmp_path).startswith("out of memory: lower the batch size")
    (tmp_path / "error.json").unlink()
    (tmp_path / "log.txt").write_text(
        "Traceback (most recent call last):\n  File x\nRuntimeError: boom happened\n"
    )
    assert processes.failure_cause(tmp_path) == "RuntimeError: boom happened"
    (tmp_path / "log.txt").write_text("Killed\n")
    assert "killed" in processes.failure_cause(tmp_path)


def test_more_than_one_gpu_goes_through_accelerate_launch(tmp_path):
    assert worker_command("train", tmp_path, {"gpus": 1})[1:3] == ["-m", "training.worker"]
    command = worker_command("train", tmp_path, {"gpus": 4})
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert "--num_processes=4" in command
    assert command[-3:] == ["--module", "training.worker", str(tmp_path)]


def test_bad_settings_and_quantization_without_cuda_are_refused_before_anything_runs(store):
    with pytest.raises(RunError, match="bad dpo config: beta must be positive"):
        plan_run(store, snapshot="s", method="dpo", settings={"beta": -1})
    with pytest.raises(RunError, match=r"4bit .*needs a CUDA GPU"):
        plan_run(store, snapshot="s", method="dpo", settings={"quantization": "4bit"})
    assert store.con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]


@pytest.fixture
def live_process():
    """A process that lives until the test ends (it stands in for a worker)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    yield process
    process.stdin.close()
    process.wait()


def test_a_worker_is_known_by_its_pid_and_start_time_not_its_command_line(tmp_path, live_process):
    started = psutil.Process(live_process.pid).create_time()
    pid = live_process.pid

    (tmp_path / "worker.json").write_text(json.dumps({"pid": pid, "started": started}))
    assert processes.live_worker(tmp_path, pid).pid == pid  # its command line names no run

    # the same pid with another start time is a reused pid: not the worker
    (tmp_path / "worker.json").write_text(json.dumps({"pid": pid, "started": 1.0}))
    assert processes.live_worker(tmp_path, pid) is None
    (tmp_path / "worker.json").unlink()
    assert processes.live_worker(tmp_path, pid) is None


def test_runs_queue_one_at_a_time_and_a_cancelled_one_says_so(store, files, tiny_lm):
    first = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=100000))
    second = start_run(store, tiny_spec("dpo", tiny_lm, files))
    third = start_run(store, tiny_spec("dpo", tiny_lm, files))
    assert (first.status, second.status, third.status) == ("running", "queued", "queued")
    assert watch_jobs(store) == []  # the first is alive: nothing to finish, nobody else starts
    assert get_run(store, second.id).status == "queued"

    third = cancel_run(store, third.id)  # a queued run is cancelled without ever starting
    assert third.status == "cancelled" and third.pid is None

    first = cancel_run(store, first.id)
    assert first.status == "cancelled" and first.error is None
    second = get_run(store, second.id)
    assert second.status == "running"  # the queue moved on
    second = wait_for_run(store, second.id, poll_seconds=0.3)
    assert second.status == "succeeded", second.error
    assert get_run(store, third.id).status == "cancelled"


def test_the_watcher_records_a_killed_worker_of_a_cancel_as_cancelled(store, files, tiny_lm):
    record = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=100000))
    Path(record.out_dir, "cancelled").touch()  # cancel has begun: the marker is written first
    psutil.Process(record.pid).kill()
    psutil.Process(record.pid).wait(timeout=60)
    [finished] = watch_jobs(store)
    assert (finished.id, finished.status, finished.error) == (record.job_id, "cancelled", None)
    assert get_run(store, record.id).status == "cancelled"


def test_runs_of_a_store_from_before_jobs_become_train_jobs_keeping_their_ids(db_path):
    """A store whose runs had their own table (schema 10) keeps every run, its id (models
    name it `run:<id>`), status, metrics and evaluation; each now has a `train` job."""
    con = duckdb.connect(str(db_path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR)")
    for step in MIGRATIONS[:10]:
        step.apply(con)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [step.version, step.name])
    for run_id, status, error in ((6, "succeeded", None), (7, "failed", "bad config: boom")):
        con.execute(
            "INSERT INTO runs (id, snapshot, method, model, config, status, out_dir, metrics, "
            "eval, error, command) VALUES (?, 's', 'dpo', 'm', '{}', ?, ?, ?, ?, ?, '[]')",
            [
                run_id,
                status,
                f"/old/runs/{run_id}",
                json.dumps({"logged_steps": 3}),
                json.dumps({"heldout_accuracy_after": 0.8, "imported_pairs": 2})
                if status == "succeeded"
                else None,
                error,
            ],
        )
    con.close()

    with Store(db_path) as store:
        done, failed = get_run(store, 6), get_run(store, 7)
        assert (done.status, done.out_dir, done.metrics) == (
            "succeeded",
            "/old/runs/6",
            {"logged_steps": 3},
        )
        assert done.eval == {"heldout_accuracy_after": 0.8, "imported_pairs": 2}
        assert (failed.status, failed.error, failed.eval) == ("failed", "bad config: boom", None)
        jobs = list_jobs(store, kind="train")
        assert sorted(job.params["run_id"] for job in jobs) == [6, 7]
        assert {done.job_id, failed.job_id} == {job.id for job in jobs}
