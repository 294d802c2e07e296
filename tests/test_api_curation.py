"""The curation API: admin only, checked bodies, and a curate → snapshot → show round trip."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation import Store, import_paths
from curation.labelling.accounts import add_user
from tests.conftest import REPO, job_ended

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")
ROUTES = [
    ("post", "/api/v1/curate"),
    ("post", "/api/v1/snapshots"),
    ("get", "/api/v1/snapshots"),
    ("get", "/api/v1/snapshots/any"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server app over a store holding the sample's labelled pairs, with both roles."""
    store = Store(tmp_path_factory.mktemp("api") / "store.duckdb")
    import_paths(store, [REPO / "data" / "preferences.jsonl"])
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client
    store.close()


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_curation_routes_need_an_admin(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, auth=ANN).status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/curate", {"near_dup_threshold": 1.5}),
        ("/api/v1/curate", {"max_tokens": 0}),
        ("/api/v1/curate", {"unknown": 1}),
        ("/api/v1/snapshots", {}),
        ("/api/v1/snapshots", {"name": "s", "extra": True}),
    ],
)
def test_bad_bodies_are_422(client, path, body):
    assert client.post(path, json=body, auth=ADMIN).status_code == 422


def test_a_bad_policy_or_name_is_400_and_a_missing_snapshot_404(client):
    bad_policy = {"name": "s1", "policy": {"min_votes": 0}}
    response = client.post("/api/v1/snapshots", json=bad_policy, auth=ADMIN)
    assert response.status_code == 400 and "min_votes" in response.json()["detail"]
    response = client.post("/api/v1/snapshots", json={"name": "../up"}, auth=ADMIN)
    assert response.status_code == 400 and "not valid" in response.json()["detail"]
    missing = client.get("/api/v1/snapshots/none-such", auth=ADMIN)
    assert (
        missing.status_code == 404 and "no snapshot named 'none-such'" in missing.json()["detail"]
    )


def test_curate_job_then_snapshot_list_and_show(client):
    response = client.post("/api/v1/curate", json={"near_dup_threshold": 0.9}, auth=ADMIN)
    job = job_ended(client, response, ADMIN, "curate")
    assert job["status"] == "succeeded" and job["params"]["near_dup_threshold"] == 0.9
    assert (
        set(job["result"]) >= {"flags", "clusters"} and job["result"]["near_dup_threshold"] == 0.9
    )
    body = {"name": "v1", "policy": {"test_fraction": 0.2}}
    created = client.post("/api/v1/snapshots", json=body, auth=ADMIN).json()
    assert created["name"] == "v1" and created["policy"]["test_fraction"] == 0.2
    assert created["counts"]["train"]["dpo"] > 0
    listed = client.get("/api/v1/snapshots", auth=ADMIN).json()["snapshots"]
    assert [s["name"] for s in listed] == ["v1"]
    shown = client.get("/api/v1/snapshots/v1", auth=ADMIN).json()
    assert shown["sha256"] == created["sha256"] and shown["files"]
