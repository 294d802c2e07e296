"""Training runs in the store: one row per run with what it trains, and the job that trains it.

A run is a job of kind `train` (`curation.jobs`): its status, worker, times, failure cause and
result live on the job's row; the `runs` row keeps the run's own id (models name it as
`run:<id>`), snapshot, method, base model and settings. A run is read joined with its job;
the job's result holds the summary of the logged metrics (`metrics`), the evaluation the
worker ended with (`eval`) and how many of its sample answers became pairs (`imported_pairs`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from curation.errors import NotFound
from curation.store.store import Store, fetch_value

ACTIVE_STATUSES = ("queued", "running")
_FIELDS = (
    "id, snapshot, method, model, config, job_id, status, pid, out_dir, result, error, "
    "created, started, ended"
)
_SELECT = (
    "SELECT r.id, r.snapshot, r.method, r.model, r.config, r.job_id, j.status, j.pid, "
    "j.out_dir, j.result, j.error, r.created, j.started, j.ended "
    "FROM runs r JOIN jobs j ON j.id = r.job_id"
)


class RunNotFound(NotFound):
    """No run has the id asked for."""


@dataclass
class RunRecord:
    """One training run: what it trains, and its job's status, worker and results."""

    id: int
    snapshot: str
    method: str
    model: str | None
    config: dict[str, Any]
    job_id: int
    status: str
    pid: int | None
    out_dir: str
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
    values = dict(zip(_FIELDS.split(", "), row, strict=True))
    values["config"] = json.loads(values["config"])
    result = json.loads(values.pop("result") or "{}")
    evaluation = result.get("eval")
    values["metrics"] = result.get("metrics")
    values["eval"] = (
        None if evaluation is None else {**evaluation, "imported_pairs": result["imported_pairs"]}
    )
    return RunRecord(**values)


def next_run_id(store: Store) -> int:
    """A new run id (taken from the sequence: no other run will have it)."""
    return int(fetch_value(store.con, "SELECT nextval('run_ids')"))


def insert_run(
    con: duckdb.DuckDBPyConnection,
    run_id: int,
    *,
    snapshot: str,
    method: str,
    model: str,
    config: dict[str, Any],
    job_id: int,
) -> None:
    """Within the caller's transaction (the one inserting its job): add run `run_id`."""
    con.execute(
        "INSERT INTO runs (id, snapshot, method, model, config, job_id) VALUES (?, ?, ?, ?, ?, ?)",
        [run_id, snapshot, method, model, json.dumps(config), job_id],
    )


def get_run(store: Store, run_id: int) -> RunRecord:
    """The run with this id; RunNotFound otherwise."""
    rows = store.con.execute(f"{_SELECT} WHERE r.id = ?", [run_id]).fetchall()
    if not rows:
        raise RunNotFound(f"no run with id {run_id}; `prefstudio runs` lists them")
    return _record(rows[0])


def run_of_job(store: Store, job_id: int) -> int | None:
    """The id of the run that job `job_id` trains; None when it trains none."""
    row = store.con.execute("SELECT id FROM runs WHERE job_id = ?", [job_id]).fetchone()
    return None if row is None else int(row[0])


def list_runs(store: Store, *, status: tuple[str, ...] | None = None) -> list[RunRecord]:
    """Every run, newest first (optionally only those with one of `status`)."""
    sql, params = _SELECT, []
    if status:
        sql += " WHERE j.status IN (SELECT unnest(?))"
        params.append(list(status))
    rows = store.con.execute(sql + " ORDER BY r.id DESC", params).fetchall()
    return [_record(row) for row in rows]
