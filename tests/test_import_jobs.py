"""Imports through a server are jobs: the worker reads and stages the uploads, the server's
watcher loads the staged records in one transaction; a bad file or a cancel stores nothing."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from conftest import REPO, imported_through_api, table_counts
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from test_import_properties import format_files

from app.context import AppContext
from app.server import create_app
from app.transfer import start_import
from curation import Store, import_paths
from curation.io.import_worker import STAGED_FILE, UPLOADS_DIR
from curation.io.importer import load_staged_parquet, stage_to_parquet
from curation.jobs import files, runner
from curation.jobs.records import ACTIVE_STATUSES
from tests.server_helpers import USERS, Server, add_users, make_store

ADMIN = ("root", USERS["root"][1])
TABLES = {
    "prompts": "id, messages, is_chat, source",
    "responses": "id, prompt_id, text, source, is_reference, model",
    "pairs": "id, prompt_id, response_a, response_b, origin",
    "labels": "pair_id, annotator, choice",
    "ratings": "response_id, annotator, thumb",
}


def rows(store: Store) -> dict[str, list]:
    """Every row an import writes, without ids made by the store or times."""
    return {
        table: store.con.execute(f"SELECT {columns} FROM {table} ORDER BY ALL").fetchall()
        for table, columns in TABLES.items()
    }


def test_staged_records_load_into_the_store_as_a_local_import_stores_them(tmp_path):
    paths = sorted((REPO / "data").glob("*.jsonl"))
    with Store(tmp_path / "local.duckdb") as local, Store(tmp_path / "staged.duckdb") as staged:
        here = import_paths(local, paths)
        read = stage_to_parquet(paths, tmp_path / STAGED_FILE)
        loaded = load_staged_parquet(staged, tmp_path / STAGED_FILE, read)
        assert loaded.to_dict() == here.to_dict()
        assert rows(staged) == rows(local)


def test_a_cancelled_import_job_stores_nothing(store, write_jsonl, held_workers):
    """The worker is held (stopped before it reads a byte) while the job is cancelled."""
    upload = write_jsonl("prefs.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with upload.open("rb") as handle:
        job = start_import(store, [("prefs.jsonl", handle)])
    worker = held_workers(job.pid)
    job = runner.cancel_job(store, job.id, grace_seconds=0.5)
    assert (job.status, job.chunks, job.error) == ("cancelled", 0, None)
    assert not worker.is_running()
    runner.watch_jobs(store)
    assert table_counts(store) == dict.fromkeys(TABLES, 0)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    """A real `prefstudio serve` over the sample preferences."""
    db_path = tmp_path_factory.mktemp("import-jobs") / "store.duckdb"
    make_store(db_path, [REPO / "data" / "preferences.jsonl"])
    served = Server(db_path)
    yield served
    served.stop()


def api(server: Server) -> httpx.Client:
    return httpx.Client(base_url=f"{server.url}/api/v1", auth=ADMIN, timeout=120)


def followed(client: httpx.Client, job: dict) -> dict:
    """The job, as GET /jobs/<id> shows it, once the server's watcher has ended it."""
    while job["status"] in ACTIVE_STATUSES:
        time.sleep(0.2)
        job = client.get(f"/jobs/{job['id']}").json()
    return job


def test_a_large_upload_is_a_job_whose_worker_parsed_it(server):
    records = [
        {"prompt": f"Question {n}?", "chosen": f"Answer {n}.", "rejected": f"Not {n}."}
        for n in range(20_000)
    ]
    body = "".join(json.dumps(record) + "\n" for record in records).encode()
    with api(server) as client:
        before = client.get("/stats").json()
        started = client.post("/import", files={"file": ("big.jsonl", body)}).json()
        assert (started["kind"], started["params"]["gold"]) == ("import", False)
        job = followed(client, started)
        after = client.get("/stats").json()
    assert job["status"] == "succeeded", job["error"]
    assert job["result"]["files"] == [
        {"path": "big.jsonl", "format": "preference", "records": 20_000, "source": "big"}
    ]
    assert job["result"]["added"]["pairs"] == 20_000 == after["pairs"] - before["pairs"]
    folder = Path(job["out_dir"])
    worker = files.read_json(folder / files.WORKER_FILE)
    assert worker["pid"] not in (None, server.process.pid)  # read in a process of its own
    assert pq.read_metadata(folder / STAGED_FILE).num_rows == 20_000
    (chunk,) = files.written_rows(folder)
    assert chunk["staged"] == str((folder / STAGED_FILE).resolve())
    assert not (folder / UPLOADS_DIR).exists()  # the staged records are all that was kept


def test_a_bad_upload_fails_its_job_in_one_line_and_stores_nothing(server):
    good = json.dumps({"prompt": "p", "chosen": "a", "rejected": "b"})
    body = f"{good}\n{good}\n" + json.dumps({"prompt": "p", "chosen": "a", "rejected": 7}) + "\n"
    with api(server) as client:
        before = client.get("/stats").json()
        started = client.post("/import", files={"file": ("dir/bad.jsonl", body.encode())}).json()
        job = followed(client, started)
        assert client.get("/stats").json() == before
    assert (job["status"], job["chunks"]) == ("failed", 0)
    assert job["error"] == (
        'dir/bad.jsonl, line 3, field "rejected": '
        "expected a string or a list of one assistant message, got a number"
    )


def test_a_gold_upload_marks_its_labelled_pairs(server):
    body = json.dumps({"prompt": "Gold?", "chosen": "Known.", "rejected": "Wrong."}) + "\n"
    with api(server) as client:
        started = client.post("/import", params={"gold": True}, files={"file": ("g.jsonl", body)})
        job = followed(client, started.json())
        listed = client.get("/gold").json()
    assert job["status"] == "succeeded" and job["result"]["gold"] == 1
    assert [g["marked_by"] for g in listed["gold"]] == ["import:g"]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """The server's app over a store with the sample preferences; the test watches its jobs."""
    store = Store(tmp_path_factory.mktemp("import-property") / "store.duckdb")
    import_paths(store, [REPO / "data" / "preferences.jsonl"])
    add_users(store)
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client
    store.close()


@settings(
    max_examples=8,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(file=format_files())
def test_any_mutated_upload_is_imported_or_its_job_fails_in_one_line(client, file):
    suffix, data = file
    store = client.app.state.context.store
    before = table_counts(store)
    job = imported_through_api(client, {"file": (f"upload{suffix}", io.BytesIO(data))}, ADMIN)
    if job["status"] == "failed":
        assert f"upload{suffix}" in job["error"] and "\n" not in job["error"]
        assert table_counts(store) == before
    else:
        assert (
            job["status"] == "succeeded" and job["result"]["files"][0]["path"] == f"upload{suffix}"
        )
