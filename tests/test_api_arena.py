"""The arena API: admin only, checked bodies, pairs queued and the leaderboard over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation import Store
from curation.labelling.accounts import add_user
from tests.arena_helpers import arena_store, vote

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server app over an arena store (good beats bad three times), with two accounts."""
    folder = tmp_path_factory.mktemp("api-arena")
    store = Store(folder / "store.duckdb")
    for pair_id in arena_store(store, folder, unpaired=2)[:3]:
        vote(store, pair_id, "alice", "good")
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client
    store.close()


@pytest.mark.parametrize(
    ("method", "path"), [("get", "/api/v1/leaderboard"), ("post", "/api/v1/pairs")]
)
def test_arena_routes_need_an_admin(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, auth=ANN).status_code == 403


def test_leaderboard_over_http(client):
    response = client.get("/api/v1/leaderboard", params={"bootstrap": 50}, auth=ADMIN)
    assert response.status_code == 200
    models = response.json()["models"]
    assert [m["model"] for m in models] == ["good", "bad"] and models[0]["games"] == 3
    assert response.json()["provisional_games"] == 20
    assert all(m["provisional"] and m["interval"][1] - m["interval"][0] > 100 for m in models)
    assert (
        client.get("/api/v1/leaderboard", params={"confidence": 2}, auth=ADMIN).status_code == 422
    )


def test_the_provisional_threshold_is_a_parameter(client):
    params = {"bootstrap": 20, "provisional_games": 3}
    board = client.get("/api/v1/leaderboard", params=params, auth=ADMIN).json()
    assert board["provisional_games"] == 3 and not any(m["provisional"] for m in board["models"])
    for bad in (-1, "many"):
        params = {"provisional_games": bad}
        assert client.get("/api/v1/leaderboard", params=params, auth=ADMIN).status_code == 422


@pytest.mark.parametrize(
    "body",
    [
        {"models": ["a"]},
        {"strategy": "sideways", "models": ["a"]},
        {"strategy": "within", "models": []},
    ],
)
def test_bad_pair_bodies_are_422(client, body):
    assert client.post("/api/v1/pairs", json=body, auth=ADMIN).status_code == 422


def test_pairs_are_formed_and_refusals_are_400(client):
    body = {"strategy": "across", "models": ["good", "bad"]}
    response = client.post("/api/v1/pairs", json=body, auth=ADMIN)
    assert response.status_code == 200 and response.json()["added"] == 2
    one_model = client.post("/api/v1/pairs", json={**body, "models": ["good"]}, auth=ADMIN)
    assert one_model.status_code == 400
    assert "at least two different models" in one_model.json()["detail"]
