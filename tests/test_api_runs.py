"""The runs API: admin only, checked bodies, and a run followed to its end over HTTP."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.context import AppContext
from app.server import create_app
from curation import Store
from curation.labelling.accounts import add_user
from tests.test_api_hostile import one_line
from tests.training_helpers import tiny_spec, write_split_exports
from training.runs import cancel_run, start_run

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> TestClient:
    """A server app over a fresh store with an annotator and an admin."""
    store = Store(tmp_path_factory.mktemp("api") / "store.duckdb")
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        test_client.store = store
        yield test_client
    store.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/runs"),
        ("post", "/api/v1/runs"),
        ("post", "/api/v1/runs/one-click"),
        ("get", "/api/v1/runs/1/log"),
    ],
)
def test_runs_need_an_admin(client, method, path):
    assert getattr(client, method)(path).status_code == 401
    assert getattr(client, method)(path, auth=ANN).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"method": "dpo"},
        {"snapshot": "s", "method": "ppo"},
        {"snapshot": "s", "method": "dpo", "max_steps": 0},
        {"snapshot": "s", "method": "dpo", "unknown": 1},
    ],
)
def test_bad_run_bodies_are_422(client, body):
    assert client.post("/api/v1/runs", json=body, auth=ADMIN).status_code == 422


def test_one_click_checks_its_body_and_settings_before_making_anything(client):
    bad_preset = client.post("/api/v1/runs/one-click", json={"preset": "forever"}, auth=ADMIN)
    assert bad_preset.status_code == 422
    body = {"settings": {"beta": -1}}
    response = client.post("/api/v1/runs/one-click", json=body, auth=ADMIN)
    assert response.status_code == 400 and "beta must be positive" in response.json()["detail"]
    assert client.get("/api/v1/snapshots", auth=ADMIN).json()["snapshots"] == []


def test_bad_settings_are_400_with_the_cause(client):
    body = {"snapshot": "s", "method": "kto", "settings": {"beta": 0}}
    response = client.post("/api/v1/runs", json=body, auth=ADMIN)
    assert response.status_code == 400
    assert "beta must be positive" in response.json()["detail"]


def test_a_queued_run_is_listed_shown_and_cancelled_over_http(client, tmp_path, held_workers):
    files = write_split_exports(tmp_path)
    training = start_run(client.store, tiny_spec("dpo", tmp_path / "lm", files))
    held_workers(training.pid)  # it holds the one training slot
    record = start_run(client.store, tiny_spec("dpo", tmp_path / "lm", files))
    assert client.post(f"/api/v1/runs/{record.id}/resume", auth=ADMIN).status_code == 400

    listed = client.get("/api/v1/runs", auth=ADMIN).json()["runs"]
    assert [(r["id"], r["status"]) for r in listed] == [
        (record.id, "queued"),
        (training.id, "running"),
    ]
    shown = client.get(f"/api/v1/runs/{record.id}", auth=ADMIN).json()
    assert shown["command"][-1] == record.out_dir and shown["progress"] == {}
    log = client.get(f"/api/v1/runs/{record.id}/log", auth=ADMIN).json()
    assert log == {"id": record.id, "log": ""}  # nothing logged before the run starts

    cancelled = client.post(f"/api/v1/runs/{record.id}/cancel", auth=ADMIN).json()
    assert cancelled["status"] == "cancelled"
    assert client.post(f"/api/v1/runs/{record.id}/cancel", auth=ADMIN).status_code == 400
    missing = client.get(f"/api/v1/runs/{record.id + 100}", auth=ADMIN)
    assert missing.status_code == 404 and "no run with id" in missing.json()["detail"]
    assert cancel_run(client.store, training.id).status == "cancelled"


# Parameters of a train job that cannot start on this store: it has no snapshot and no labels,
# and no run has an id of 1000 or more.
TRAIN_PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "snapshot": st.one_of(st.none(), st.text(max_size=12)),
        "method": st.one_of(st.none(), st.sampled_from(["sft", "rm", "dpo", "kto", "ppo", ""])),
        "model": st.sampled_from([None, "./no-such-folder", "smollm2-135m", 7]),
        "preset": st.sampled_from(["standard", "smoke", "forever"]),
        "settings": st.dictionaries(
            st.sampled_from(["beta", "learning_rate", "lora_rank", "bogus"]),
            st.one_of(
                st.integers(-2, 2),
                st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=4),
            ),
            max_size=2,
        ),
        "max_steps": st.one_of(st.none(), st.integers(-2, 3)),
        "one_click": st.booleans(),
        "resume": st.one_of(st.none(), st.integers(-2, 0), st.integers(min_value=1000)),
        "unknown": st.integers(),
    },
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(params=TRAIN_PARAMS)
def test_a_train_job_that_cannot_start_is_refused_in_one_line_and_changes_nothing(client, params):
    def counts() -> tuple:
        return client.store.con.execute(
            "SELECT (SELECT count(*) FROM jobs), (SELECT count(*) FROM snapshots)"
        ).fetchone()

    before = counts()
    response = client.post("/api/v1/jobs", json={"kind": "train", "params": params}, auth=ADMIN)
    assert response.status_code in (400, 404, 422), response.text
    one_line(response)
    assert counts() == before


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"method": "dpo"}, "--snapshot"),
        ({"one_click": True, "method": "sft"}, "one-click picks the snapshot"),
        ({"resume": 1, "snapshot": "s1"}, "a resumed run keeps its snapshot"),
        ({"resume": 1000}, "no run with id 1000"),
    ],
)
def test_train_job_requests_that_contradict_themselves_say_why(client, params, says):
    response = client.post("/api/v1/jobs", json={"kind": "train", "params": params}, auth=ADMIN)
    assert response.status_code in (400, 404) and says in one_line(response)
