"""Training runs in the store: one row per run with its status, pid, command, metrics and eval.

The run itself (a subprocess and its folder) is managed by `training.runs`; this module only
reads and writes the `runs` table, each write one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from curation.errors import NotFound
from curation.store.store import Store, fetch_value

RUN_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
_COLUMNS = (
    "id, snapshot, method, model, config, status, pid, out_dir, command, metrics, eval, error, "
    "created, started, ended"
)
_JSON_COLUMNS = ("config", "command", "metrics", "eval")


class RunNotFound(NotFound):
    """No run has the id asked for."""


@dataclass
class RunRecord:
    """One training run as the store keeps it."""

    id: int
    snapshot: str
    method: str
    model: str | None
    config: dict[str, Any]
    status: str
    pid: int | None
    out_dir: str | None
    command: list[str] | None
    metrics: dict[str, Any] | None
    eval: dict[str, Any] | None
    error: str | None
    created: datetime
    started: datetime | None
    ended: datetime | None

    @property
    def active(self) -> bool:
        """Whether the run is queued or running."""
        return self.status in ACTIVE_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO strings), as the CLI and API print them."""
        values = dict(vars(self))
        for key in ("created", "started", "ended"):
            values[key] = values[key].isoformat() if values[key] else None
        return values


def _record(row: tuple) -> RunRecord:
    values = dict(zip(_COLUMNS.split(", "), row, strict=True))
    for key in _JSON_COLUMNS:
        values[key] = json.loads(values[key]) if values[key] is not None else None
    return RunRecord(**values)


def insert_run(
    store: Store, *, snapshot: str, method: str, model: str, config: dict, runs_dir: Path
) -> RunRecord:
    """Add a queued run whose folder is `runs_dir/<id>`; return it."""
    with store.transaction() as con:
        run_id = int(fetch_value(con, "SELECT nextval('run_ids')"))
        con.execute(
            """INSERT INTO runs (id, snapshot, method, model, config, status, out_dir)
            VALUES (?, ?, ?, ?, ?, 'queued', ?)""",
            [run_id, snapshot, method, model, json.dumps(config), str(runs_dir / str(run_id))],
        )
    return get_run(store, run_id)


def update_run(store: Store, run_id: int, **values: Any) -> RunRecord:
    """Set columns of one run (JSON columns take plain values); `ended`/`started` take `now`."""
    unknown = set(values) - set(_COLUMNS.split(", ")) - {"id"}
    if unknown or "id" in values:
        raise ValueError(f"cannot update run column(s): {', '.join(sorted(unknown or {'id'}))}")
    if values.get("status") not in (None, *RUN_STATUSES):
        raise ValueError(f"unknown run status {values['status']!r}")
    assignments, params = [], []
    for column, value in values.items():
        if value == "now" and column in ("started", "ended"):
            assignments.append(f"{column} = current_timestamp")
            continue
        assignments.append(f"{column} = ?")
        params.append(json.dumps(value) if column in _JSON_COLUMNS and value is not None else value)
    with store.transaction() as con:
        con.execute(f"UPDATE runs SET {', '.join(assignments)} WHERE id = ?", [*params, run_id])
    return get_run(store, run_id)


def get_run(store: Store, run_id: int) -> RunRecord:
    """The run with this id; RunNotFound otherwise."""
    rows = store.con.execute(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", [run_id]).fetchall()
    if not rows:
        raise RunNotFound(f"no run with id {run_id}; `prefstudio runs` lists them")
    return _record(rows[0])


def list_runs(store: Store, *, status: tuple[str, ...] | None = None) -> list[RunRecord]:
    """Every run, newest first (optionally only those with one of `status`)."""
    sql = f"SELECT {_COLUMNS} FROM runs"
    params: list = []
    if status:
        sql += " WHERE status IN (SELECT unnest(?))"
        params.append(list(status))
    rows = store.con.execute(sql + " ORDER BY id DESC", params).fetchall()
    return [_record(row) for row in rows]
