"""The judges' API routes: admin only, checked bodies, report, priorities and suggestions."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation import Store, import_paths
from curation.labelling.accounts import add_user
from tests.conftest import REPO

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")
ROUTES = [
    ("post", "/api/v1/judges/report", {}),
    ("post", "/api/v1/judges/prioritize", {}),
    ("get", "/api/v1/judges/suggestions", None),
    ("put", "/api/v1/judges/suggestions", {"enabled": False}),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server app over the bundled sample, with an annotator and an admin."""
    store = Store(tmp_path_factory.mktemp("judge-routes") / "store.duckdb")
    import_paths(store, [REPO / "data"])
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client
    store.close()


def call(client: TestClient, method: str, path: str, body: dict | None, **auth):
    return client.request(method.upper(), path, json=body, **auth)


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_judge_routes_need_an_admin(client, method, path, body):
    assert call(client, method, path, body).status_code == 401
    assert call(client, method, path, body, auth=ANN).status_code == 403


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/judges/report", {"baselines": True, "extra": 1}),
        ("/api/v1/judges/prioritize", {"include_rules": "sometimes"}),
    ],
)
def test_bad_judge_bodies_are_422(client, path, body):
    assert client.post(path, json=body, auth=ADMIN).status_code == 422


def test_report_priorities_and_suggestions_over_http(client):
    with_baselines = client.post("/api/v1/judges/report", json={}, auth=ADMIN).json()
    assert with_baselines == {"judges": {}}  # the rules run only on pairs some judge has judged
    assert client.post("/api/v1/judges/prioritize", json={}, auth=ADMIN).json() == {
        "prioritized": 0,
        "judge": None,
    }
    off = {"enabled": False, "judge_key": None}
    assert client.get("/api/v1/judges/suggestions", auth=ADMIN).json() == off
    unknown = {"enabled": True, "judge_key": "nope"}
    refused = client.put("/api/v1/judges/suggestions", json=unknown, auth=ADMIN)
    assert refused.status_code == 400 and "no judge with key 'nope'" in refused.json()["detail"]
    assert client.put("/api/v1/judges/suggestions", json=off, auth=ADMIN).json() == off
