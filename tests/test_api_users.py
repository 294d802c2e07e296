"""The accounts API: admin only, checked bodies, and changes that take effect at once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation.labelling.accounts import add_user

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


@pytest.fixture
def client(store) -> TestClient:
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/api/v1/users"), ("post", "/api/v1/users"), ("patch", "/api/v1/users/ann")],
)
def test_accounts_need_an_admin(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, auth=ANN).status_code == 403


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("post", {"name": "bob", "role": "boss", "password": "long-enough"}),
        ("post", {"name": "bob", "password": "long-enough", "extra": 1}),
        ("patch", {}),
        ("patch", {"role": "boss"}),
    ],
)
def test_bad_bodies_are_422(client, method, body):
    path = "/api/v1/users" if method == "post" else "/api/v1/users/ann"
    assert getattr(client, method)(path, json=body, auth=ADMIN).status_code == 422


def test_create_change_and_disable_take_effect_at_the_next_request(client):
    new = {"name": "bob", "password": "bob-password"}
    created = client.post("/api/v1/users", json=new, auth=ADMIN).json()
    assert (created["name"], created["role"], created["disabled"]) == ("bob", "annotator", False)
    short = client.post("/api/v1/users", json={"name": "cat", "password": "short"}, auth=ADMIN)
    assert short.status_code == 400 and "too short" in short.json()["detail"]
    assert client.get("/api/v1/me", auth=ANN).status_code == 200  # ann's login is remembered
    change = client.patch("/api/v1/users/ann", json={"disabled": True}, auth=ADMIN)
    assert change.json()["disabled"] is True
    assert client.get("/api/v1/me", auth=ANN).status_code == 401
    client.patch("/api/v1/users/ann", json={"disabled": False, "role": "admin"}, auth=ADMIN)
    assert client.get("/api/v1/users", auth=ANN).status_code == 200  # an admin now
    last = client.patch("/api/v1/users/root", json={"disabled": True}, auth=ADMIN)
    assert last.status_code == 200  # ann is an admin too, so root may go
    refused = client.patch("/api/v1/users/ann", json={"role": "annotator"}, auth=ANN)
    assert refused.status_code == 400 and "last admin" in refused.json()["detail"]
    missing = client.patch("/api/v1/users/nobody", json={"disabled": True}, auth=ANN)
    assert missing.status_code == 404 and "no user 'nobody'" in missing.json()["detail"]
    names = [u["name"] for u in client.get("/api/v1/users", auth=ANN).json()["users"]]
    assert names == ["ann", "bob", "root"]
