"""Hostile clients: credentials are checked before a body is read, bodies are capped per route,
and whatever a client sends, the answer is an expected status with one line and a refused
request changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import string
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.guard import PUBLIC_API_PATHS
from app.context import AppContext
from app.server import create_app
from app.transfer import safe_upload_name
from curation import Store, import_paths
from curation.errors import BadInput
from curation.jobs.runner import wait_for_job
from curation.labelling.accounts import add_user
from tests.conftest import REPO, imported_through_api

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")
UPLOAD_LIMIT = 256 * 1024
MIB = 1024 * 1024
PROTECTED = [
    "/api/v1/me",
    "/api/v1/stats",
    "/api/v1/next",
    "/api/v1/labels",
    "/api/v1/undo",
    "/api/v1/import",
    "/api/v1/export",
    "/api/v1/guidelines",
    "/api/v1/users",
    "/api/v1/users/ann",
    "/api/v1/runs",
    "/api/v1/runs/1/cancel",
    "/api/v1/snapshots",
    "/api/v1/curate",
    "/api/v1/no-such-route",
    "/api/v1",
]


@pytest.fixture(scope="module")
def client(tmp_path_factory) -> Iterator[TestClient]:
    """A server app over the sample data, its upload limit lowered to UPLOAD_LIMIT."""
    store = Store(tmp_path_factory.mktemp("hostile") / "store.duckdb")
    import_paths(store, [REPO / "data" / "preferences.jsonl"])
    add_user(store, *ANN[:1], "annotator", ANN[1])
    add_user(store, *ADMIN[:1], "admin", ADMIN[1])
    app = create_app(AppContext(store, settings={"max_upload_bytes": UPLOAD_LIMIT}))
    with TestClient(app) as test_client:
        for login in (ANN, ADMIN):  # remembered as right, so wrong guesses never slow them
            assert test_client.get("/api/v1/me", auth=login).status_code == 200
        yield test_client
    store.close()


@pytest.fixture(scope="module")
def hostile(client) -> TestClient:
    """The same app seen from another address, so the guesses sent from it never slow the
    accounts' own logins."""
    return TestClient(client.app, client=("198.51.100.66", 4444))


def stats(client: TestClient) -> dict:
    return client.get("/api/v1/stats", auth=ADMIN).json()


def one_line(response) -> str:
    """The refusal's detail, checked to be one non-empty line."""
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail and "\n" not in detail, detail
    return detail


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("/api/v1/labels", b"{not json", "application/json"),
        ("/api/v1/labels", b'{"pair_id": 1}', "application/json"),
        ("/api/v1/import", b"--x\r\nnot multipart", "multipart/form-data; boundary=x"),
        ("/api/v1/guidelines", b"\xff\xfe" * 10, "application/json"),
        ("/api/v1/labels", b"x" * (3 * MIB), "application/json"),
        ("/api/v1/import", b"x" * (3 * MIB), "multipart/form-data; boundary=x"),
    ],
    ids=["bad-json", "wrong-type", "bad-multipart", "not-utf8", "huge-json", "huge-upload"],
)
def test_malformed_or_huge_bodies_without_credentials_are_401(
    client, hostile, path, body, content_type
):
    before = stats(client)
    for auth in (None, ("ann", "not-the-password")):
        headers = {"content-type": content_type}
        response = hostile.post(path, content=body, headers=headers, auth=auth)
        assert response.status_code == 401
        assert one_line(response).startswith("valid credentials needed")
        assert response.headers["www-authenticate"].startswith("Basic")
    assert stats(client) == before


def test_oversized_bodies_with_credentials_are_413(client):
    before = stats(client)
    label = {"pair_id": "p", "choice": "a", "rationale": "r" * (2 * MIB)}
    response = client.post("/api/v1/labels", json=label, auth=ANN)
    assert response.status_code == 413
    assert one_line(response) == "request body too large: at most 1 MiB on this route"
    record = json.dumps({"prompt": "p" * 1000, "chosen": "yes", "rejected": "no"})
    big = ((record + "\n") * (UPLOAD_LIMIT // len(record) + 1)).encode()
    response = client.post("/api/v1/import", files={"file": ("big.jsonl", big)}, auth=ADMIN)
    assert response.status_code == 413
    assert one_line(response) == "request body too large: at most 262144 bytes on this route"
    assert stats(client) == before


def test_an_import_under_the_upload_limit_is_not_held_to_the_json_limit(client):
    record = json.dumps({"prompt": "Under the cap?", "chosen": "Yes.", "rejected": "x" * 100_000})
    files = {"file": ("under.jsonl", (record + "\n").encode())}
    assert imported_through_api(client, files, ADMIN)["result"]["added"]["pairs"] == 1


async def _call(app, path: str, headers: dict[str, str], chunks: Iterator[bytes]) -> tuple:
    """Send one POST to the ASGI app, its body in `chunks` read only as the app asks; the
    status, the detail, and how many body bytes the app read."""
    read = 0
    pending = next(chunks, None)

    async def receive() -> dict:
        nonlocal read, pending
        if pending is None:
            return {"type": "http.disconnect"}
        chunk, pending = pending, next(chunks, None)
        read += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": pending is not None}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("192.0.2.1", 1234),
        "server": ("testserver", 80),
    }
    await app(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body)["detail"], read


def megabytes(count: int) -> Iterator[bytes]:
    chunk = b"x" * MIB
    return (chunk for _ in range(count))


@pytest.mark.parametrize("path", ["/api/v1/labels", "/api/v1/import", "/api/v1/users"])
def test_a_100_mb_body_without_credentials_is_refused_unread(client, path):
    headers = {"content-type": "application/json", "content-length": str(100 * MIB)}
    status, detail, read = asyncio.run(_call(client.app, path, headers, megabytes(100)))
    assert (status, read) == (401, 0) and detail.startswith("valid credentials needed")
    headers["authorization"] = basic("ann", "a-wrong-guess")
    assert asyncio.run(_call(client.app, path, headers, megabytes(100)))[::2] == (401, 0)


def test_a_declared_oversized_body_with_credentials_is_refused_unread(client):
    headers = {
        "content-type": "application/json",
        "content-length": str(100 * MIB),
        "authorization": basic(*ANN),
    }
    status, detail, read = asyncio.run(_call(client.app, "/api/v1/labels", headers, megabytes(100)))
    assert (status, read) == (413, 0) and detail.startswith("request body too large")


def test_an_undeclared_body_stops_being_read_at_the_cap(client):
    headers = {"content-type": "application/json", "authorization": basic(*ANN)}
    status, detail, read = asyncio.run(_call(client.app, "/api/v1/labels", headers, megabytes(100)))
    assert status == 413 and "at most 1 MiB" in detail
    assert read <= 2 * MIB  # the cap, and the chunk that passed it


# What a hostile client may send. Each JSON body has a key no route takes, so no request
# with valid credentials does any work beyond answering.
AUTHORIZATIONS = st.one_of(
    st.none(),
    st.sampled_from([basic(*ANN), basic(*ADMIN)]),
    st.builds(basic, st.sampled_from(["ann", "root", "nobody"]), st.text(max_size=20)),
    st.text(alphabet=string.printable.strip(), max_size=60).map(lambda t: "Basic " + t),
    st.text(alphabet=string.ascii_letters + string.digits, max_size=40).map("Bearer {}".format),
    st.text(alphabet=string.printable.strip() + " ", max_size=40),
)
JSON_BODIES = st.dictionaries(
    st.text(max_size=8).map("x-{}".format),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
        max_leaves=8,
    ),
    min_size=1,
    max_size=3,
).map(lambda body: json.dumps(body).encode())
BODIES = st.one_of(
    st.just(b""),
    st.binary(max_size=2000),
    JSON_BODIES,
    st.just(b"{" * (2 * MIB)),  # over every cap
)
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "text/plain",
    ]
)
PATHS = st.one_of(
    st.sampled_from(PROTECTED),
    st.text(alphabet=string.ascii_letters + string.digits + "-_/.", max_size=30).map(
        "/api/v1/{}".format
    ),
)
VALID = {basic(*ANN), basic(*ADMIN)}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    path=PATHS,
    body=BODIES,
    content_type=CONTENT_TYPES,
    authorization=AUTHORIZATIONS,
)
def test_any_request_gets_an_expected_status_and_a_refusal_changes_nothing(
    client, hostile, method, path, body, content_type, authorization
):
    headers = {"content-type": content_type} if content_type else {}
    if authorization is not None:
        headers["authorization"] = authorization
    before = stats(client)
    sender = client if authorization in VALID else hostile
    response = sender.request(method, path, content=body, headers=headers)
    if path in PUBLIC_API_PATHS:
        assert response.status_code in (200, 405, 413)
    elif authorization not in VALID:
        assert response.status_code in (401, 429)
    else:
        assert response.status_code in (200, 400, 403, 404, 405, 413, 422)
    if response.status_code >= 400:
        one_line(response)
        assert stats(client) == before


NASTY_NAMES = [
    "..",
    ".",
    "../../../../../x.jsonl",
    "a/../../b.jsonl",
    "..\\..\\x.jsonl",
    "/etc/x.jsonl",
]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.one_of(st.sampled_from([*NASTY_NAMES, "x\ny.jsonl", "\x00"]), st.text(max_size=300)))
def test_an_uploaded_files_name_never_leaves_its_folder(tmp_path, name):
    try:
        safe = safe_upload_name(name)
    except BadInput as error:
        assert "\n" not in str(error)
        return
    assert safe.isprintable() and "/" not in safe and "\\" not in safe
    assert (tmp_path / safe).resolve().parent == tmp_path.resolve()


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_uploads_under_hostile_names_stay_in_their_job_folder_and_are_removed(client, name):
    store = client.app.state.context.store
    around = store.path.parent
    before = set(around.rglob("*"))
    record = json.dumps({"prompt": f"Named {name!r}?", "chosen": "Yes.", "rejected": "No."})
    files = {"file": (name, (record + "\n").encode())}
    response = client.post("/api/v1/import", files=files, auth=ADMIN)
    assert response.status_code in (200, 400)
    folder = None
    if response.status_code == 400:
        assert one_line(response).startswith(name)
    else:
        job = wait_for_job(store, response.json()["id"], poll_seconds=0.1)
        assert job.status == "succeeded", job.error
        folder = job.folder
    made = set(around.rglob("*")) - before - {store.path.with_name(store.path.name + ".wal")}
    kept = set() if folder is None else {store.files_dir, folder.parent, folder, *folder.rglob("*")}
    assert made <= kept, made
    assert not any(path.name == "uploads" for path in made)  # removed once staged
    assert not Path("/etc/x.jsonl").exists()
