"""Curation is a job: the worker groups the store's texts out of the server process, and the
pass that takes its chunk in finds what an in-process pass finds; a cancel changes nothing."""

from __future__ import annotations

import pytest

from app.commands.curate import curated
from curation import import_paths
from curation.errors import PrefstudioError
from curation.jobs import files, runner
from curation.jobs.records import list_jobs
from curation.quality.curate import CurateError, curate
from curation.quality.curate_job import TEXT_FILES, start_curation
from curation.quality.flags import FlagError
from tests.conftest import REPO


@pytest.fixture
def sample(store):
    """A store holding every file of the bundled sample."""
    import_paths(store, sorted((REPO / "data").glob("*.jsonl")))
    return store


def flag_rows(store) -> list[tuple]:
    return store.con.execute("SELECT subject_id, kind, detail FROM flags ORDER BY ALL").fetchall()


def cluster_rows(store) -> list[tuple]:
    return store.con.execute("SELECT * FROM dup_clusters ORDER BY ALL").fetchall()


def test_a_curation_job_finds_what_an_in_process_pass_finds(sample, tmp_path):
    job = runner.wait_for_job(sample, start_curation(sample, near_dup_threshold=0.7).id)
    assert job.status == "succeeded" and job.chunks == 1
    assert not any((job.folder / name).exists() for name in TEXT_FILES.values())
    by_job = (flag_rows(sample), cluster_rows(sample))
    report = curate(sample, near_dup_threshold=0.7).to_dict()
    assert (flag_rows(sample), cluster_rows(sample)) == by_job
    assert job.result == {**report, "cancelled": False} and report["flags"]["role_marker"] > 0


def test_a_cancelled_curation_changes_nothing(sample, held_workers):
    curate(sample)
    before = (flag_rows(sample), cluster_rows(sample))
    sample.con.execute("DELETE FROM flags")  # what a pass would raise again
    job = start_curation(sample)
    worker = held_workers(job.pid)
    job = runner.cancel_job(sample, job.id, grace_seconds=0.5)
    assert (job.status, job.chunks) == ("cancelled", 0) and not worker.is_running()
    runner.watch_jobs(sample)
    assert flag_rows(sample) == [] and cluster_rows(sample) == before[1]
    with pytest.raises(PrefstudioError, match="cancelled before its pass: nothing changed"):
        curated(job.result)


@pytest.mark.parametrize(
    ("settings", "error"),
    [
        ({"near_dup_threshold": 0}, CurateError),
        ({"max_tokens": 0}, FlagError),
        ({"truncation_tokens": -1}, FlagError),
    ],
)
def test_bad_settings_start_no_job(sample, settings, error):
    with pytest.raises(error):
        start_curation(sample, **settings)
    assert list_jobs(sample) == []


def test_a_missing_tokenizer_is_refused_before_a_job_starts(sample, tmp_path):
    from app.job_requests import start_job
    from curation.errors import ModelError

    with pytest.raises(ModelError, match="does not exist"):
        start_job(sample, "curate", {"tokenizer": str(tmp_path / "no-such-model")})
    assert list_jobs(sample) == []


def test_a_chunk_the_store_refuses_fails_its_job_and_stores_nothing(sample, held_workers):
    curate(sample)
    before = (flag_rows(sample), cluster_rows(sample))
    job = start_curation(sample)
    worker = held_workers(job.pid)
    bogus = job.folder / "not-parquet.parquet"
    bogus.write_text("not parquet", encoding="utf-8")
    files.write_chunk(job.folder, 1, [{"groups": {"prompt": str(bogus)}, "tokens": None}])
    [failed] = runner.watch_jobs(sample)
    assert (failed.id, failed.status, failed.chunks, failed.pid) == (job.id, "failed", 0, None)
    assert failed.error.startswith("result chunk 1 could not be stored: ")
    assert not worker.is_running() and (flag_rows(sample), cluster_rows(sample)) == before
    assert runner.watch_jobs(sample) == []  # not taken in again
