"""Generation as a job: a worker subprocess writes chunks, the watcher stores each one once."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import psutil
import pytest

from curation.io.importer import import_paths
from curation.jobs import files
from curation.jobs.records import get_job
from curation.jobs.runner import cancel_job, resume_job, take_in_chunks, wait_for_job, watch_jobs
from curation.store.store import Store
from tests.conftest import table_counts
from tests.models import build_tiny_causal_lm
from training.generate import SamplingSettings
from training.generation_jobs import start_generation

GREEDY = SamplingSettings(temperature=0, max_new_tokens=6)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "lm")


@pytest.fixture
def prompts(store: Store, write_jsonl) -> int:
    rows = [{"prompt": f"Prompt number {i}" + " x" * i} for i in range(6)]
    import_paths(store, [write_jsonl("p.jsonl", rows)])
    return len(rows)


def wait_until(condition, timeout: float = 120.0, poll: float = 0.2) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, "timed out"
        time.sleep(poll)


def freeze_after_first_chunk(job, prompts: int) -> None:
    """Stop the worker (SIGSTOP) once it has written a chunk, with prompts left to answer."""
    wait_until(lambda: len(files.chunk_numbers(job.folder)) >= 1, poll=0.005)
    os.kill(job.pid, signal.SIGSTOP)
    assert len(files.chunk_numbers(job.folder)) < prompts, "the worker finished first"


def stored_responses(store: Store) -> int:
    return table_counts(store)["responses"]


def test_a_generation_job_runs_in_a_worker_and_stores_every_batch(store, prompts, tiny_lm):
    job = start_generation(store, [str(tiny_lm)], settings=GREEDY, batch_size=2)
    assert job.status == "running" and job.pid != os.getpid()
    assert stored_responses(store) == 0  # nothing is stored before the watcher takes it in
    job = wait_for_job(store, job.id, poll_seconds=0.2)
    assert job.status == "succeeded", job.error
    assert files.chunk_numbers(job.folder) == [1, 2, 3] and job.chunks == 3
    report = job.result
    assert report["responses_added"] == stored_responses(store) == prompts
    assert report["prompts_done"] == report["prompts"] == prompts
    assert report["per_model"] == {str(tiny_lm): prompts} and not report["cancelled"]
    assert report["seconds"] > 0
    # a second job for the same prompts has nothing left to answer
    again = wait_for_job(store, start_generation(store, [str(tiny_lm)], settings=GREEDY).id)
    assert again.status == "succeeded" and again.result["prompts"] == 0


def test_chunks_are_stored_once_each_across_watchers_and_restarts(db_path, write_jsonl, tiny_lm):
    with Store(db_path) as store:
        rows = [{"prompt": f"Question {i}?"} for i in range(4)]
        import_paths(store, [write_jsonl("p.jsonl", rows)])
        job = start_generation(store, [str(tiny_lm)], settings=GREEDY, batch_size=1)
        wait_until(lambda: len(files.chunk_numbers(job.folder)) >= 2)
        worker = psutil.Process(job.pid)
        worker.suspend()  # no new chunk while the two takes are compared
        job = take_in_chunks(store, get_job(store, job.id))
        taken = job.chunks
        assert taken >= 2 and stored_responses(store) == taken
        assert take_in_chunks(store, job).chunks == taken  # the same chunks again: nothing new
        worker.resume()
    # the process holding the store is gone; a new one goes on from the recorded chunk
    with Store(db_path) as store:
        job = wait_for_job(store, job.id, poll_seconds=0.2)
        watch_jobs(store)
        assert job.status == "succeeded" and job.chunks == 4
        assert stored_responses(store) == 4 and job.result["responses_added"] == 4


def test_a_killed_worker_fails_with_its_cause_and_resume_skips_what_was_done(
    store, prompts, tiny_lm
):
    slow = SamplingSettings(temperature=0, max_new_tokens=48)
    job = start_generation(store, [str(tiny_lm)], settings=slow, batch_size=1)
    freeze_after_first_chunk(job, prompts)
    os.kill(job.pid, signal.SIGKILL)
    job = wait_for_job(store, job.id, poll_seconds=0.2)
    assert job.status == "failed" and "killed" in job.error
    kept = stored_responses(store)
    assert kept == job.chunks >= 1
    job = wait_for_job(store, resume_job(store, job.id).id, poll_seconds=0.2)
    assert job.status == "succeeded", job.error
    assert stored_responses(store) == prompts == job.result["responses_added"]
    answered = [row["prompt_id"] for row in files.written_rows(job.folder)]
    assert len(answered) == len(set(answered)) == prompts  # no prompt was answered twice


def test_cancel_ends_the_worker_keeps_its_chunks_and_says_cancelled(store, prompts, tiny_lm):
    slow = SamplingSettings(temperature=0, max_new_tokens=48)
    job = start_generation(store, [str(tiny_lm)], settings=slow, batch_size=1)
    freeze_after_first_chunk(job, prompts)
    worker = job.pid
    job = cancel_job(store, job.id, grace_seconds=0.5)
    assert job.status == "cancelled" and job.result["cancelled"] and job.error is None
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    assert stored_responses(store) == job.result["responses_added"] >= 1
