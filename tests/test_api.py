"""The HTTP API: credentials (401), roles (403), bodies (400/422), and the labelling round trip."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation import Store, import_paths
from curation.labelling.accounts import add_user
from tests.conftest import REPO, imported_through_api

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server app over a store holding the sample data, with an annotator and an admin."""
    store = Store(tmp_path_factory.mktemp("api") / "store.duckdb")
    import_paths(store, [REPO / "data"])
    add_user(store, *ANN[:1], "annotator", ANN[1])
    add_user(store, *ADMIN[:1], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        for login in (ANN, ADMIN):  # remembered as right, so wrong guesses never slow them
            assert test_client.get("/api/v1/me", auth=login).status_code == 200
        test_client.store = store
        yield test_client
    store.close()


def test_health_needs_no_credentials(client):
    assert client.get("/api/v1/health").json() == {"ok": True}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/stats"),
        ("get", "/api/v1/next"),
        ("post", "/api/v1/labels"),
        ("post", "/api/v1/undo"),
        ("post", "/api/v1/import"),
        ("get", "/api/v1/export?format=dpo"),
    ],
)
def test_routes_refuse_missing_or_wrong_credentials(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    response = getattr(client, method)(path, auth=("ann", "wrong-password"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_annotator_cannot_import_or_export(client):
    files = {"file": ("x.jsonl", b'{"prompt": "p", "chosen": "a", "rejected": "b"}\n')}
    assert client.post("/api/v1/import", auth=ANN, files=files).status_code == 403
    assert client.get("/api/v1/export?format=dpo", auth=ANN).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"pair_id": "x"},
        {"pair_id": "x", "choice": "left"},
        {"pair_id": "x", "choice": "a", "strength": "huge"},
        {"pair_id": "x", "choice": "a", "annotator": "root"},
        {"pair_id": "x", "choice": "a", "rationale": "r" * 6000},
    ],
)
def test_bad_label_bodies_are_422(client, body):
    assert client.post("/api/v1/labels", auth=ANN, json=body).status_code == 422


def test_vote_on_a_pair_not_served_is_400(client):
    response = client.post("/api/v1/labels", auth=ANN, json={"pair_id": "0" * 32, "choice": "a"})
    assert response.status_code == 400
    assert "not the pair being shown" in response.json()["detail"]


def test_next_vote_undo_round_trip(client):
    served = client.get("/api/v1/next", auth=ANN).json()
    assert set(served) == {"pair_id", "prompt", "a", "b", "done"}
    assert client.get("/api/v1/next", auth=ANN).json()["pair_id"] == served["pair_id"]
    reply = client.post(
        "/api/v1/labels",
        auth=ANN,
        json={"pair_id": served["pair_id"], "choice": "a", "strength": "clear", "rationale": "ok"},
    ).json()
    assert reply["next"]["pair_id"] not in (None, served["pair_id"])
    row = client.store.con.execute(
        "SELECT annotator, choice, shown_order, rationale FROM labels WHERE id = ?",
        [reply["label_id"]],
    ).fetchone()
    # the stored choice is relative to response_a; "a" as shown is response_a only in order ab
    assert row[0] == "ann" and row[3] == "ok"
    assert row[1] == ("a" if row[2] == "ab" else "b")
    undone = client.post("/api/v1/undo", auth=ANN).json()
    assert undone["undone"] and undone["next"]["pair_id"] == served["pair_id"]
    assert undone["next"]["a"] == served["a"]  # shown with the sides as before


def test_stats_for_any_user(client):
    stats = client.get("/api/v1/stats", auth=ANN).json()
    assert stats["pairs"] > 0 and "labels" in stats


def test_admin_imports_and_exports(client):
    record = {"prompt": "API import?", "chosen": "Yes.", "rejected": "No."}
    files = {"file": ("../../escape.jsonl", io.BytesIO(json.dumps(record).encode() + b"\n"))}
    job = imported_through_api(client, files, ADMIN)
    assert job["status"] == "succeeded", job["error"]
    report = job["result"]
    assert report["added"]["pairs"] == 1
    # named as sent, stored as escape.jsonl inside its own folder (its source says so)
    assert report["files"][0]["path"] == "../../escape.jsonl"
    assert report["files"][0]["source"] == "escape"
    response = client.get("/api/v1/export?format=dpo", auth=ADMIN)
    assert response.status_code == 200
    rows = [json.loads(line) for line in response.text.splitlines()]
    assert int(response.headers["x-rows"]) == len(rows) > 0
    assert any("API import?" in json.dumps(row["prompt"]) for row in rows)
    labels = client.get("/api/v1/export?format=labels", auth=ADMIN)
    rows = [json.loads(line) for line in labels.text.splitlines()]
    assert {"annotator", "choice", "response_a", "response_b"} <= set(rows[0])
    assert client.get("/api/v1/export?format=labels", auth=ANN).status_code == 403


def test_a_bad_import_fails_its_job_in_one_line_and_bad_formats_are_422(client):
    before = client.get("/api/v1/stats", auth=ADMIN).json()
    job = imported_through_api(client, {"file": ("bad.jsonl", b"{not json\n")}, ADMIN)
    assert job["status"] == "failed" and job["error"].startswith("bad.jsonl, line 1")
    assert "\n" not in job["error"] and job["chunks"] == 0
    assert client.get("/api/v1/stats", auth=ADMIN).json() == before
    files = {"file": ("x.jsonl", b"{}\n")}
    response = client.post("/api/v1/import?format=csv", auth=ADMIN, files=files)
    assert response.status_code == 422 and "format" in response.json()["detail"]
    assert client.get("/api/v1/export?format=csv", auth=ADMIN).status_code == 422
