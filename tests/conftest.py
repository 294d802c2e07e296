"""Shared fixtures: a fresh store file, and writers for small input files."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pytest

from curation import Store

REPO = Path(__file__).resolve().parent.parent

# Small records in TRL's formats, shared by the import and export suites.
PREFERENCES = [
    {"prompt": "What is 2+2?", "chosen": "4", "rejected": "5"},
    {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "Lyon, obviously."},
]
CONVERSATION = {
    "prompt": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "Tell me a fact."},
    ],
    "chosen": [{"role": "assistant", "content": "Honey never spoils."}],
    "rejected": [{"role": "assistant", "content": "No."}],
}
THUMBS = [
    {"prompt": "Say hi", "completion": "Hi there!", "label": True},
    {"prompt": "Say hi", "completion": "Go away.", "label": False},
]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's store file lives (not created yet)."""
    return tmp_path / "store.duckdb"


@pytest.fixture
def store(db_path: Path) -> Iterable[Store]:
    """A new, migrated store on a real DuckDB file."""
    with Store(db_path) as opened:
        yield opened


@pytest.fixture
def write_jsonl(tmp_path: Path) -> Callable[..., Path]:
    """Write records as JSON Lines under tmp_path and return the path."""

    def write(name: str, records: list[dict]) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
        return path

    return write


def table_counts(store: Store) -> dict[str, int]:
    """Row counts of the tables an import writes."""
    tables = ("prompts", "responses", "pairs", "labels", "ratings")
    return {t: store.con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def imported_through_api(client: Any, files: Any, auth: tuple[str, str], **params: Any) -> dict:
    """POST /api/v1/import through a TestClient and follow its job to the end (`job_ended`)."""
    response = client.post("/api/v1/import", files=files, auth=auth, params=params)
    return job_ended(client, response, auth, "import")


def job_ended(client: Any, response: Any, auth: tuple[str, str], kind: str) -> dict:
    """The job a TestClient's `response` started, once it has ended: the test watches jobs
    here (it holds the store, as a server's watcher would); the job as GET /api/v1/jobs/<id>
    then shows it."""
    from curation.jobs.runner import wait_for_job

    assert response.status_code == 200, response.text
    job = response.json()
    assert (job["kind"], job["status"]) in {(kind, "queued"), (kind, "running")}
    wait_for_job(client.app.state.context.store, job["id"], poll_seconds=0.1)
    return client.get(f"/api/v1/jobs/{job['id']}", auth=auth).json()


def assert_one_error_line(stderr: str) -> str:
    """Check that a failed command printed exactly one `error: ` line and no traceback."""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and "Traceback" not in stderr
    return lines[0]


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama causal LM with a real tokenizer and chat template, built once."""
    from tests.models import build_tiny_causal_lm

    return build_tiny_causal_lm(tmp_path_factory.mktemp("tiny-lm"))


@pytest.fixture(scope="session")
def tiny_rm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Llama sequence classifier (a reward model), built once."""
    from tests.models import build_tiny_classifier

    return build_tiny_classifier(tmp_path_factory.mktemp("tiny-rm"))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven by Playwright, shared by a module's browser tests."""
    from tests.server_helpers import launch_chromium

    with launch_chromium() as launched:
        yield launched


@pytest.fixture
def held_workers(monkeypatch) -> Callable[[int], Any]:
    """Job workers launched from now on stop themselves before they start; the fixture's value
    waits until the worker of a pid is stopped and returns its process."""
    import psutil

    from curation.jobs import runner

    launch = runner.worker_command
    held = ["sh", "-c", 'kill -STOP $$; exec "$@"', "held"]
    monkeypatch.setattr(runner, "worker_command", lambda *args: [*held, *launch(*args)])

    def stopped(pid: int) -> Any:
        worker = psutil.Process(pid)
        while worker.status() != psutil.STATUS_STOPPED:
            time.sleep(0.05)
        return worker

    return stopped
