"""Label Studio as the peer of the labelling bench: installed in its own virtual environment,
started as `label-studio start` over its default SQLite store, driven through its HTTP API.

`LabelStudio` sets up a fresh data folder (migrations, an admin and one account per annotator,
each with a known legacy API token), starts the server on a free port, creates a project with
a pairwise labelling config and imports tasks. `studio_annotator` is one annotator: a vote
submits an annotation on the current task, then fetches the next task of the project.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.server_helpers import free_port

PASSWORD = "bench-password"
ADMIN_TOKEN = "bench-admin-token"
IMPORT_BATCH = 10_000
LABEL_CONFIG = (
    '<View><Header value="$prompt"/><Pairwise name="pw" toName="a,b"/>'
    '<Text name="a" value="$a"/><Text name="b" value="$b"/></View>'
)
# Migrations, then the accounts, the way `label-studio start --username --user-token` makes one.
SETUP_SCRIPT = """
import argparse, sys
from label_studio import server
server._setup_env()
server._apply_database_migrations()
for name, token in zip(sys.argv[2::2], sys.argv[3::2]):
    server._create_user(argparse.Namespace(username=name, password=sys.argv[1], user_token=token,
                                           quiet_mode=True, enable_legacy_api_token=True), {})
"""
# The best case the defaults allow: no debug mode, warnings only in the log.
SERVER_ENV = {"DEBUG": "false", "LOG_LEVEL": "WARNING"}


def annotator_token(n: int) -> str:
    return f"bench-annotator-token-{n:04d}"


def ensure_venv(venv: Path) -> Path:
    """The `label-studio` command of `venv`, creating the venv and installing it when missing."""
    command = venv / "bin" / "label-studio"
    if not command.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "pip"), "install", "--quiet", "label-studio"]
        subprocess.run(pip, check=True)
    return command


def installed_version(venv: Path) -> str:
    """The installed label-studio version, read from the venv's package metadata."""
    found = sorted(venv.glob("lib/python*/site-packages/label_studio-*.dist-info"))
    return found[-1].name.removesuffix(".dist-info").split("-")[1] if found else "unknown"


class LabelStudio:
    """A Label Studio server over a fresh data folder under `folder`; stop() ends it."""

    def __init__(self, venv: Path, folder: Path, annotators: int) -> None:
        command = ensure_venv(venv)
        self.version = installed_version(venv)
        data = folder / "label-studio-data"
        self.env = {**os.environ, **SERVER_ENV, "LABEL_STUDIO_BASE_DATA_DIR": str(data)}
        t0 = time.perf_counter()
        accounts = ["admin@bench.local", ADMIN_TOKEN]
        for n in range(annotators):
            accounts += [f"bench{n}@bench.local", annotator_token(n)]
        python = str(venv / "bin" / "python")
        subprocess.run(
            [python, "-c", SETUP_SCRIPT, PASSWORD, *accounts],
            env=self.env,
            check=True,
            capture_output=True,
        )
        self.setup_s = time.perf_counter() - t0
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = (folder / "label-studio.log").open("w")
        port = self.url.rsplit(":", 1)[1]
        self.process = subprocess.Popen(
            [str(command), "start", "--no-browser", "--port", port, "--data-dir", str(data)],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_until_up()

    def _wait_until_up(self, limit_s: float = 300) -> None:
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"label-studio exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"label-studio did not answer within {limit_s:.0f} s")

    def create_project(self, tasks: Sequence[dict]) -> int:
        """A pairwise project holding `tasks` (each {prompt, a, b}), imported in batches."""
        with httpx.Client(base_url=self.url, headers=_auth(ADMIN_TOKEN), timeout=600) as admin:
            reply = admin.post(
                "/api/projects", json={"title": "bench", "label_config": LABEL_CONFIG}
            )
            project = reply.raise_for_status().json()["id"]
            for start in range(0, len(tasks), IMPORT_BATCH):
                batch = list(tasks[start : start + IMPORT_BATCH])
                admin.post(f"/api/projects/{project}/import", json=batch).raise_for_status()
        return project

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


@contextmanager
def studio_annotator(url: str, project: int, n: int) -> Iterator[Callable[[], None]]:
    """Annotator n of a project: yields one vote (annotate the task shown, fetch the next)."""
    with httpx.Client(base_url=url, headers=_auth(annotator_token(n)), timeout=120) as client:

        def next_task() -> dict:
            return client.get(f"/api/projects/{project}/next").raise_for_status().json()

        task = next_task()

        def vote() -> None:
            nonlocal task
            side = random.choice(("left", "right"))
            value = {"selected": side}
            result = [{"from_name": "pw", "to_name": "a", "type": "pairwise", "value": value}]
            reply = client.post(
                f"/api/tasks/{task['id']}/annotations/", json={"result": result, "lead_time": 1.0}
            )
            reply.raise_for_status()
            task = next_task()

        yield vote
