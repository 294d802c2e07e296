"""Running CLI commands through a server's HTTP API while that server holds the store."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from app.commands.jobs import JOB_COMMANDS, follow_remote_job
from app.server_info import ServerInfo, read_server_file
from curation.errors import PrefstudioError, StoreLocked
from curation.io.importer import ImportReport
from curation.io.sources import expand_paths
from curation.store.run_records import ACTIVE_STATUSES


def _client(server: ServerInfo) -> httpx.Client:
    """An HTTP client acting as the local admin, with the token the server wrote beside the store."""
    return httpx.Client(
        base_url=f"{server.url}/api/v1",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=600,
    )


def _checked(response: httpx.Response, prefix: str = "the server refused: ") -> httpx.Response:
    """The response, or a one-line error with the server's explanation after `prefix` (and the
    result it came with, as the error's data)."""
    if response.status_code >= 400:
        try:
            reply = response.json()
        except ValueError:
            reply = {"detail": response.text[:200]}
        error = PrefstudioError(f"{prefix}{reply.get('detail')}")
        error.data = reply.get("data")
        raise error
    return response


def remote_import(
    server: ServerInfo, paths: tuple[Path, ...], fmt: str, source: str | None, gold: bool = False
) -> tuple[dict, str]:
    """`import` through the server: every file is uploaded into one import job there, whose
    worker reads them and whose result the server stores in one transaction, as locally (a
    folder sends the files below it); this follows the job (Ctrl-C cancels it). The report
    and errors name the files as given here."""
    files = expand_paths(list(paths))
    folders = [path for path in files if path.is_dir()]
    if folders:
        raise PrefstudioError(
            f"through a running server, import sends files, not datasets folders ({folders[0]}); "
            "stop the server to import it"
        )
    params = {"format": fmt, **({"source": source} if source else {}), "gold": gold}
    with contextlib.ExitStack() as opened, _client(server) as client:
        parts = [("file", (str(path), opened.enter_context(path.open("rb")))) for path in files]
        job = _checked(client.post("/import", params=params, files=parts)).json()
        opened.close()
        report = _import_report(follow_remote_job(client, job))
    return {**report, "server": server.url}, ImportReport.text(report)


def _import_report(view: dict) -> dict:
    """An ended import job's report; a failed one is its error line, as without a server."""
    if view["status"] == "failed":
        raise PrefstudioError(view["error"])
    if view["status"] == "cancelled" and not view["chunks"]:
        raise PrefstudioError(f"import job {view['id']} cancelled; nothing was stored")
    return view["result"]


def poll_until_ended(
    client: httpx.Client, path: str, on_poll: Callable[[dict], None], *, seconds: float
) -> dict:
    """GET the run or job at `path` every `seconds` until it is no longer queued or running;
    `on_poll` sees it each time. Its last view."""
    while True:
        current = _checked(client.get(path)).json()
        on_poll(current)
        if current["status"] not in ACTIVE_STATUSES:
            return current
        time.sleep(seconds)


REMOTE_COMMANDS: dict[str, Callable[..., tuple[dict, str]]] = {
    "import_command": remote_import,
}
"""Commands that work differently through a server: `import` sends its files from here. A
command that is one job (`JOB_COMMANDS`) starts that job there and follows it; every other one
runs as an action there."""

STARTUP_SECONDS = 120.0  # how long a command waits for a server that holds the store to listen
LOCAL_ONLY = {"init", "serve"}
"""Commands that never run through the server: they create it."""


def run_through_server(
    db_path: Path, command: str, kwargs: dict, locked: StoreLocked
) -> tuple[dict, str]:
    """Run `command` through the server holding `db_path`, or explain in one line why not."""
    server = read_server_file(db_path)
    if server is None:
        raise locked
    if command in LOCAL_ONLY:
        raise StoreLocked(
            f"store {db_path} is held by the prefstudio server at {server.url} (PID {server.pid}); "
            "this command cannot run through it: use the web app there, or stop the server first"
        )
    remote = REMOTE_COMMANDS.get(command)
    job = JOB_COMMANDS.get(command)
    try:
        wait_until_answering(server)
        if remote is not None:
            return remote(server, **kwargs)
        if job is not None:
            reported = job.remote(server, **kwargs)
            return reported.to_dict(), reported.text()
        return remote_action(server, command, kwargs)
    except httpx.HTTPError as error:
        raise PrefstudioError(f"cannot reach the server at {server.url}: {error}") from None


def wait_until_answering(server: ServerInfo, *, seconds: float = STARTUP_SECONDS) -> None:
    """Return once the server answers: one that has just started holds the store a moment
    before it listens. A one-line error once its process has ended, or after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(f"{server.url}/api/v1/health", timeout=5).raise_for_status()
            return
        except httpx.TransportError:
            if not psutil.pid_exists(server.pid):
                raise PrefstudioError(
                    f"the server at {server.url} (PID {server.pid}) ended before it answered"
                ) from None
            if time.monotonic() > deadline:
                raise PrefstudioError(
                    f"the server at {server.url} (PID {server.pid}) has not answered for "
                    f"{seconds:.0f} s; is it still starting?"
                ) from None
            time.sleep(0.2)


def remote_action(server: ServerInfo, command: str, kwargs: dict) -> tuple[dict, str]:
    """Run a command's own function in the server (POST /api/v1/actions/<command>): the same
    code as without a server, on the server's store. Paths travel made absolute."""
    portable = {
        key: str(value.resolve()) if isinstance(value, Path) else value
        for key, value in kwargs.items()
    }
    with _client(server) as client:
        # the command's own error, as it would be without a server
        reply = _checked(client.post(f"/actions/{command}", json={"kwargs": portable}), "").json()
    return reply["data"], reply["text"]
