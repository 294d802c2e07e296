"""Running CLI commands through a server's HTTP API while that server holds the store."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx

from app.commands import curate, gold, guidelines, users
from app.commands.generate import pairing_result
from app.commands.judge import (
    check_suggestion_options,
    prioritized_result,
    report_result,
    suggestions_result,
)
from app.commands.leaderboard import leaderboard_text
from app.commands.train import (
    exported_run,
    finished_run,
    follow_run,
    new_run_request,
    run_table,
)
from app.server_info import ServerInfo, read_server_file
from curation.errors import PrefstudioError, StoreLocked
from curation.run_records import ACTIVE_STATUSES
from curation.snapshot_policy import SnapshotPolicy
from curation.sources import expand_paths


def _client(server: ServerInfo) -> httpx.Client:
    """An HTTP client acting as the local admin, with the token the server wrote beside the store."""
    return httpx.Client(
        base_url=f"{server.url}/api/v1",
        headers={"Authorization": f"Bearer {server.token}"},
        timeout=600,
    )


def _checked(response: httpx.Response) -> httpx.Response:
    """The response, or a one-line error with the server's explanation."""
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text[:200]
        raise PrefstudioError(f"the server refused: {detail}")
    return response


def remote_stats(server: ServerInfo) -> tuple[dict, str]:
    """`stats` through the server."""
    with _client(server) as client:
        counts = _checked(client.get("/stats")).json()
    lines = [f"{name:>15}: {value}" for name, value in counts.items() if name != "flags"]
    flags = counts.get("flags", {})
    lines.append(f"{'flags':>15}: " + (", ".join(f"{k} {v}" for k, v in flags.items()) or "none"))
    return counts, "\n".join(lines)


def remote_import(
    server: ServerInfo, paths: tuple[Path, ...], fmt: str, source: str | None, gold: bool = False
) -> tuple[dict, str]:
    """`import` through the server: every file goes in one request and one transaction, as
    locally (a folder sends the files below it); the report and errors name the files as
    given here."""
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
        report = _checked(client.post("/import", params=params, files=parts)).json()
    lines = [f"{f['path']}: {f['records']} records as {f['format']}" for f in report["files"]]
    lines.append("added: " + ", ".join(f"{n} {table}" for table, n in report["added"].items()))
    if gold:
        lines.append(f"marked {report['gold']} pairs as gold")
    return {**report, "server": server.url}, "\n".join(lines)


def remote_export(
    server: ServerInfo,
    fmt: str,
    out: Path,
    file_type: str,
    snapshot: str | None = None,
    **snapshot_options: object,
) -> tuple[dict, str]:
    """`export` through the server: the file is downloaded, then moved into place whole.

    Snapshot exports (with their options, such as the split) need the store itself.
    """
    if snapshot is not None:
        raise PrefstudioError(
            f"through a running server, export writes the live data; snapshot {snapshot} "
            f"is under {server.url}'s store folder, or stop the server first"
        )
    if file_type == "hf":
        raise PrefstudioError("through a running server, export writes jsonl or parquet, not hf")
    partial = out.with_name(f".{out.name}.part")
    with (
        _client(server) as client,
        client.stream("GET", "/export", params={"format": fmt, "as": file_type}) as response,
    ):
        if response.status_code >= 400:
            response.read()
        _checked(response)
        rows = int(response.headers.get("x-rows", 0))
        with partial.open("wb") as handle:
            for chunk in response.iter_bytes():
                handle.write(chunk)
    os.replace(partial, out)
    return {"format": fmt, "path": str(out), "rows": rows}, f"wrote {rows} {fmt} rows to {out}"


def remote_guidelines_show(server: ServerInfo) -> tuple[dict, str]:
    """`guidelines show` through the server."""
    with _client(server) as client:
        return guidelines.shown(_checked(client.get("/guidelines")).json()["guidelines"])


def remote_guidelines_set(server: ServerInfo, file: Path) -> tuple[dict, str]:
    """`guidelines set` through the server."""
    body = {"guidelines": guidelines.read_guidelines_file(file)}
    with _client(server) as client:
        return guidelines.saved(_checked(client.put("/guidelines", json=body)).json()["guidelines"])


def remote_curate(
    server: ServerInfo,
    near_dup_threshold: float,
    max_tokens: int,
    truncation_tokens: int,
    tokenizer: str | None,
) -> tuple[dict, str]:
    """`curate` through the server (the tokenizer, if any, is loaded there)."""
    body = {
        "near_dup_threshold": near_dup_threshold,
        "max_tokens": max_tokens,
        "truncation_tokens": truncation_tokens,
        "tokenizer": tokenizer,
    }
    with _client(server) as client:
        return curate.curated(_checked(client.post("/curate", json=body)).json())


def remote_snapshot_create(
    server: ServerInfo, name: str, policy_file: Path | None
) -> tuple[dict, str]:
    """`snapshot create` through the server; the policy file is read and checked here."""
    policy = SnapshotPolicy.from_file(policy_file) if policy_file else SnapshotPolicy()
    body = {"name": name, "policy": policy.to_dict()}
    with _client(server) as client:
        return curate.created(_checked(client.post("/snapshots", json=body)).json())


def remote_snapshot_list(server: ServerInfo) -> tuple[dict, str]:
    """`snapshot list` through the server."""
    with _client(server) as client:
        return curate.listed(_checked(client.get("/snapshots")).json()["snapshots"])


def remote_snapshot_show(server: ServerInfo, name: str) -> tuple[dict, str]:
    """`snapshot show` through the server."""
    with _client(server) as client:
        return curate.shown_snapshot(
            _checked(client.get(f"/snapshots/{quote(name, safe='')}")).json()
        )


def remote_snapshot_verify(server: ServerInfo, name: str) -> tuple[dict, str]:
    """`snapshot verify` through the server (it hashes the files of its store)."""
    with _client(server) as client:
        response = client.get(f"/snapshots/{quote(name, safe='')}/verify")
        return curate.verified_snapshot(_checked(response).json())


def remote_user_add(server: ServerInfo, name: str, role: str) -> tuple[dict, str]:
    """`user add` through the server (the password from stdin)."""
    body = {"name": name, "role": role, "password": users.password_from_stdin()}
    with _client(server) as client:
        return users.updated(_checked(client.post("/users", json=body)).json(), f"added as {role}")


def remote_user_list(server: ServerInfo) -> tuple[dict, str]:
    """`user list` through the server."""
    with _client(server) as client:
        return users.listed(_checked(client.get("/users")).json()["users"])


def _remote_user_change(server: ServerInfo, name: str, change: dict, what: str) -> tuple[dict, str]:
    """A `user` change through the server."""
    with _client(server) as client:
        response = client.patch(f"/users/{quote(name, safe='')}", json=change)
        return users.updated(_checked(response).json(), what)


def remote_user_passwd(server: ServerInfo, name: str) -> tuple[dict, str]:
    """`user passwd` through the server (the password from stdin)."""
    return _remote_user_change(
        server, name, {"password": users.password_from_stdin()}, "new password"
    )


def remote_train(server: ServerInfo, resume_id: int | None, **options: Any) -> tuple[dict, str]:
    """`train` through the server: the run starts there, and this follows it until it ends.

    `options` are the other command options, as new_run_request takes them.
    """
    with _client(server) as client:
        if resume_id is not None:
            run = _checked(client.post(f"/runs/{resume_id}/resume")).json()
        elif options.get("one_click"):
            run = _checked(client.post("/runs/one-click", json=new_run_request(**options))).json()
            click.echo(run["one_click"]["message"], err=True)
        else:
            run = _checked(client.post("/runs", json=new_run_request(**options))).json()
        path = f"/runs/{run['id']}"

        def wait(on_poll: Callable[[dict], None]) -> dict:
            while True:
                current = _checked(client.get(path)).json()
                on_poll(current)
                if current["status"] not in ACTIVE_STATUSES:
                    return current
                time.sleep(1.0)

        run = follow_run(run, wait, lambda: _checked(client.post(f"{path}/cancel")).json())
    return finished_run(run)


def remote_runs(server: ServerInfo, log_id: int | None) -> tuple[dict, str]:
    """`runs` through the server."""
    with _client(server) as client:
        if log_id is not None:
            log = _checked(client.get(f"/runs/{log_id}/log")).json()
            return log, log["log"]
        return run_table(_checked(client.get("/runs")).json()["runs"])


def remote_leaderboard(server: ServerInfo, **options: Any) -> tuple[dict, str]:
    """`leaderboard` through the server (`options`: judges, bootstrap, confidence, seed)."""
    with _client(server) as client:
        board = _checked(client.get("/leaderboard", params=options)).json()
    return board, leaderboard_text(board)


def remote_pair(
    server: ServerInfo, strategy: str, models: tuple[str, ...], **options: Any
) -> tuple[dict, str]:
    """`pair` through the server (`options`: per_prompt, priority)."""
    body = {"strategy": strategy, "models": list(models), **options}
    with _client(server) as client:
        return pairing_result(_checked(client.post("/pairs", json=body)).json())


def remote_export_run(server: ServerInfo, run_id: int, out: Path, merged: bool) -> tuple[dict, str]:
    """`export-run` with the run looked up through the server (its folder is on this machine)."""
    with _client(server) as client:
        run = _checked(client.get(f"/runs/{run_id}")).json()
    return exported_run(run, out, merged)


def remote_judge_report(server: ServerInfo, no_baselines: bool) -> tuple[dict, str]:
    """`judge report` through the server."""
    with _client(server) as client:
        result = _checked(client.post("/judges/report", json={"baselines": not no_baselines}))
    return report_result(result.json())


def remote_judge_prioritize(server: ServerInfo, include_rules: bool) -> tuple[dict, str]:
    """`judge prioritize` through the server."""
    body = {"include_rules": include_rules}
    with _client(server) as client:
        return prioritized_result(_checked(client.post("/judges/prioritize", json=body)).json())


def remote_judge_suggestions(
    server: ServerInfo, judge_key: str | None, off: bool
) -> tuple[dict, str]:
    """`judge suggestions` through the server."""
    check_suggestion_options(judge_key, off)
    with _client(server) as client:
        if judge_key or off:
            body = {"enabled": not off, "judge_key": judge_key}
            response = client.put("/judges/suggestions", json=body)
        else:
            response = client.get("/judges/suggestions")
    return suggestions_result(_checked(response).json())


def _gold_call(server: ServerInfo, method: str, path: str, **request: Any) -> Any:
    """One request to the server's gold routes; the reply's JSON."""
    with _client(server) as client:
        return _checked(client.request(method, f"/gold{path}", **request)).json()


def remote_gold_rate(server: ServerInfo, every: int | None) -> tuple[dict, str]:
    """`gold rate` through the server."""
    if every is None:
        return gold.rated(_gold_call(server, "GET", "")["every"])
    return gold.rated(_gold_call(server, "PUT", "/rate", json={"every": every})["every"])


REMOTE_COMMANDS: dict[str, Callable[..., tuple[dict, str]]] = {
    "stats": remote_stats,
    "import_command": remote_import,
    "export": remote_export,
    "guidelines_show": remote_guidelines_show,
    "guidelines_set": remote_guidelines_set,
    "curate_command": remote_curate,
    "snapshot_create": remote_snapshot_create,
    "snapshot_list": remote_snapshot_list,
    "snapshot_show": remote_snapshot_show,
    "snapshot_verify": remote_snapshot_verify,
    "leaderboard": remote_leaderboard,
    "report": remote_judge_report,
    "prioritize": remote_judge_prioritize,
    "suggestions": remote_judge_suggestions,
    "pair": remote_pair,
    "train": remote_train,
    "runs": remote_runs,
    "export_run": remote_export_run,
    "gold_add": lambda server, pair_id, answer: gold.marked(
        _gold_call(server, "POST", "", json={"pair_id": pair_id, "answer": answer})
    ),
    "gold_list": lambda server: gold.gold_listed(_gold_call(server, "GET", "")),
    "gold_remove": lambda server, pair_id: gold.unmarked(
        _gold_call(server, "DELETE", f"/{quote(pair_id, safe='')}")
    ),
    "gold_rate": remote_gold_rate,
    "gold_accuracy": lambda server: gold.scored(
        _gold_call(server, "GET", "/accuracy")["annotators"]
    ),
    "user_add": remote_user_add,
    "user_list": remote_user_list,
    "user_passwd": remote_user_passwd,
    "user_set_role": lambda server, name, role: _remote_user_change(
        server, name, {"role": role}, f"now {role}"
    ),
    "user_disable": lambda server, name: _remote_user_change(
        server, name, {"disabled": True}, "disabled"
    ),
    "user_enable": lambda server, name: _remote_user_change(
        server, name, {"disabled": False}, "enabled"
    ),
}


def run_through_server(
    db_path: Path, command: str, kwargs: dict, locked: StoreLocked
) -> tuple[dict, str]:
    """Run `command` through the server holding `db_path`, or explain in one line why not."""
    server = read_server_file(db_path)
    if server is None:
        raise locked
    remote = REMOTE_COMMANDS.get(command)
    if remote is None:
        raise StoreLocked(
            f"store {db_path} is held by the prefstudio server at {server.url} (PID {server.pid}); "
            "this command cannot run through it: use the web app there, or stop the server first"
        )
    try:
        return remote(server, **kwargs)
    except httpx.HTTPError as error:
        raise PrefstudioError(f"cannot reach the server at {server.url}: {error}") from None
