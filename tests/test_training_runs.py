"""Training runs as subprocesses: launch, results in the store, cancel, failure, re-attach, resume."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psutil
import pytest

from curation import Store
from curation.run_records import get_run
from tests.models import build_tiny_causal_lm
from tests.training_helpers import tiny_spec, write_split_exports
from training.metrics_log import read_metrics
from training.runs import (
    RunError,
    cancel_run,
    create_run,
    failure_cause,
    launch_run,
    plan_run,
    refresh_active_runs,
    resume_run,
    run_progress,
    start_run,
    wait_for_run,
    worker_command,
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


def test_run_trains_in_a_subprocess_running_the_previewed_command(store, files, tiny_lm):
    record = create_run(store, tiny_spec("dpo", tiny_lm, files))
    run_dir = Path(record.out_dir)
    preview = json.loads((run_dir / "command.json").read_text())
    assert record.status == "queued" and record.command == preview
    assert preview == [sys.executable, "-m", "training.worker", str(run_dir)]

    record = launch_run(store, record.id)
    assert record.status == "running"
    assert psutil.Process(record.pid).cmdline() == preview

    record = wait_for_run(store, record.id, poll_seconds=0.3)
    assert record.status == "succeeded", record.error
    assert record.pid is None and record.ended is not None
    assert record.eval["train_steps"] == 2
    assert 0 <= record.eval["heldout_accuracy_after"] <= 1
    assert record.metrics["logged_steps"] == 2 and "rewards/accuracies" in record.metrics
    assert (run_dir / "model" / "adapter_config.json").is_file()
    assert "training" in (run_dir / "log.txt").read_text()


def test_cancel_ends_the_whole_process_tree(store, files, tiny_lm):
    record = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=100000))
    worker = psutil.Process(record.pid)
    wait_until(lambda: run_progress(get_run(store, record.id)).get("step", 0) >= 1)

    record = cancel_run(store, record.id)

    assert record.status == "cancelled" and record.pid is None
    assert not worker.is_running()
    assert get_run(store, record.id).status == "cancelled"
    with pytest.raises(RunError, match="not running"):
        cancel_run(store, record.id)


def test_cancelled_run_resumes_from_its_last_checkpoint(store, files, tiny_lm):
    # Long enough that the cancel lands mid-run even when the tiny model trains fast.
    record = start_run(store, tiny_spec("sft", tiny_lm, files, max_steps=200, save_steps=2))
    checkpoints = Path(record.out_dir, "checkpoints")
    wait_until(lambda: any(checkpoints.glob("checkpoint-*/trainer_state.json")))
    cancel_run(store, record.id)
    metrics_file = Path(record.out_dir) / "metrics.jsonl"
    first = [row["step"] for row in read_metrics(metrics_file) if "loss" in row]

    record = wait_for_run(store, resume_run(store, record.id).id, poll_seconds=0.3)

    assert record.status == "succeeded", record.error
    steps = [row["step"] for row in read_metrics(metrics_file) if "loss" in row]
    resumed = steps[len(first) :]
    assert resumed and resumed[0] > 1 and resumed[-1] == 200, steps
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
        assert [r.id for r in refresh_active_runs(second)] == [record.id]
        record = wait_for_run(second, record.id, poll_seconds=0.3)
        assert record.status == "succeeded", record.error
        assert "kl" in record.metrics


def test_failure_cause_names_out_of_memory_and_tracebacks(tmp_path):
    (tmp_path / "error.json").write_text(
        json.dumps({"type": "OutOfMemoryError", "message": "CUDA out of memory. Tried to ..."})
    )
    assert failure_cause(tmp_path).startswith("out of memory")
    (tmp_path / "error.json").unlink()
    (tmp_path / "log.txt").write_text(
        "Traceback (most recent call last):\n  File x\nRuntimeError: boom happened\n"
    )
    assert failure_cause(tmp_path) == "RuntimeError: boom happened"
    (tmp_path / "log.txt").write_text("Killed\n")
    assert "killed" in failure_cause(tmp_path)


def test_more_than_one_gpu_goes_through_accelerate_launch(tmp_path):
    command = worker_command(tmp_path, gpus=4)
    assert command[1:3] == ["-m", "accelerate.commands.launch"]
    assert "--num_processes=4" in command
    assert command[-3:] == ["--module", "training.worker", str(tmp_path)]


def test_bad_settings_and_quantization_without_cuda_are_refused_before_anything_runs(store):
    with pytest.raises(RunError, match="bad dpo config: beta must be positive"):
        plan_run(store, snapshot="s", method="dpo", settings={"beta": -1})
    with pytest.raises(RunError, match=r"4bit .*needs a CUDA GPU"):
        plan_run(store, snapshot="s", method="dpo", settings={"quantization": "4bit"})
    assert store.con.execute("SELECT count(*) FROM runs").fetchall() == [(0,)]
