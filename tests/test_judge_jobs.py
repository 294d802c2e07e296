"""Judging as a job, and both kinds of jobs through a real `prefstudio serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from curation import Store, import_paths
from curation.jobs import files
from curation.jobs.runner import wait_for_job, watch_jobs
from judges.judge_jobs import start_judging
from tests.conftest import REPO, table_counts
from tests.server_helpers import USERS, Server, add_users


def judgments(store: Store) -> int:
    return store.con.execute("SELECT count(*) FROM judgments").fetchone()[0]


@pytest.fixture
def sample_store(store: Store) -> Store:
    import_paths(store, [REPO / "data"])
    return store


def test_a_judging_job_judges_in_a_worker_and_a_second_judges_nothing(sample_store):
    pairs = table_counts(sample_store)["pairs"]
    job = start_judging(sample_store, "longer", pairs="all")
    assert job.status == "running" and job.pid != os.getpid()
    job = wait_for_job(sample_store, job.id, poll_seconds=0.2)
    assert job.status == "succeeded", job.error
    assert job.result["judge"] == "longer" and job.result["judged"] == pairs
    assert sum(job.result["choices"].values()) == pairs == judgments(sample_store)
    assert len(files.chunk_numbers(job.folder)) == job.chunks
    watch_jobs(sample_store)  # watching again takes nothing in twice
    assert judgments(sample_store) == pairs
    again = wait_for_job(sample_store, start_judging(sample_store, "length", pairs="all").id)
    assert (again.result["cached"], again.result["judged"]) == (pairs, 0)


def test_a_bad_judge_or_selection_is_refused_before_any_job(sample_store):
    from judges.base import JudgeError

    with pytest.raises(JudgeError, match="unknown judge"):
        start_judging(sample_store, "oracle")
    with pytest.raises(Exception, match="unknown pair selection"):
        start_judging(sample_store, "longer", pairs="labelled")
    assert sample_store.con.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def prefstudio(*args: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_jobs_through_a_running_server(tmp_path, tiny_lm_dir):
    db = tmp_path / "store.duckdb"
    with Store(db) as store:
        import_paths(store, [REPO / "data"])
        add_users(store)
        pairs = table_counts(store)["pairs"]
    server = Server(db)
    try:
        judged = prefstudio("judge", "--judge", "longer", "--pairs", "all", db=db)
        assert judged.returncode == 0, judged.stderr
        assert json.loads(judged.stdout)["judged"] == pairs
        made = prefstudio(
            "generate", "--model", str(tiny_lm_dir), "--limit", "2", "--n", "1",
            "--temperature", "0", "--max-new-tokens", "4", db=db,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        report = json.loads(made.stdout)
        assert report["prompts_done"] == 2 and report["responses_added"] == 2
        admin = ("root", USERS["root"][1])
        listed = httpx.get(f"{server.url}/api/v1/jobs", auth=admin).json()["jobs"]
        assert [(j["kind"], j["status"]) for j in listed] == [
            ("generate", "succeeded"),
            ("judge", "succeeded"),
        ]
        one = httpx.get(f"{server.url}/api/v1/jobs/{listed[0]['id']}", auth=admin).json()
        assert one["progress"]["done"] == 2 and one["result"] == report
        annotator = ("ann", USERS["ann"][1])
        body = {"kind": "judge", "params": {"judge": "longer"}}
        assert httpx.post(f"{server.url}/api/v1/jobs", json=body, auth=annotator).status_code == 403
        bad = httpx.post(f"{server.url}/api/v1/jobs", json={"kind": "sing"}, auth=admin)
        assert bad.status_code == 422
        bad = httpx.post(
            f"{server.url}/api/v1/jobs", json={"kind": "judge", "params": {"limit": 0}}, auth=admin
        )
        assert bad.status_code == 400 and "judge" in bad.json()["detail"]
        done = httpx.post(f"{server.url}/api/v1/jobs/{listed[0]['id']}/cancel", auth=admin)
        assert done.status_code == 400 and "nothing to cancel" in done.json()["detail"]
    finally:
        server.stop()
    with Store(db) as store:
        assert judgments(store) == pairs
