"""Jobs in the store: one row per job with its kind, parameters, status, worker and result.

The job itself (a worker subprocess and its folder) is driven by `curation.jobs.runner`; this
module reads and writes the `jobs` table, each write one transaction (or a part of the
caller's, see `record_chunk`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from curation.errors import NotFound
from curation.store.store import Store, fetch_value

JOB_KINDS = ("generate", "judge", "learn", "import", "curate", "train")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")
ACTIVE_STATUSES = ("queued", "running")
_COLUMNS = "id, kind, params, status, pid, out_dir, result, error, chunks, created, started, ended"
_NAMES = tuple(_COLUMNS.split(", "))
_JSON_COLUMNS = ("params", "result")
_TIMES = ("created", "started", "ended")


# Writes that belong in the transaction inserting a job, given the connection and the job's id.
Link = Callable[[duckdb.DuckDBPyConnection, int], None]


class JobNotFound(NotFound):
    """No job has the id asked for."""


@dataclass
class JobRecord:
    """One job as the store keeps it; `chunks` counts the result chunks taken in so far."""

    id: int
    kind: str
    params: dict[str, Any]
    status: str
    pid: int | None
    out_dir: str
    result: dict[str, Any]
    error: str | None
    chunks: int
    created: datetime
    started: datetime | None
    ended: datetime | None

    @property
    def active(self) -> bool:
        """Whether the job is queued or running."""
        return self.status in ACTIVE_STATUSES

    @property
    def folder(self) -> Path:
        return Path(self.out_dir)

    def to_dict(self) -> dict[str, Any]:
        """Plain values (times as ISO strings), as the CLI and the API show them."""
        values = dict(vars(self))
        for key in _TIMES:
            values[key] = values[key].isoformat() if values[key] else None
        return values


def _record(row: tuple) -> JobRecord:
    values = dict(zip(_NAMES, row, strict=True))
    for key in _JSON_COLUMNS:
        values[key] = json.loads(values[key]) if values[key] is not None else {}
    return JobRecord(**values)


def insert_job(
    store: Store,
    kind: str,
    params: dict[str, Any],
    result: dict[str, Any],
    jobs_dir: Path,
    link: Link | None = None,
) -> JobRecord:
    """Add a queued job whose folder is `jobs_dir/<id>`, its result starting as `result`;
    `link` (if any) writes in the same transaction."""
    if kind not in JOB_KINDS:
        raise ValueError(f"unknown job kind {kind!r}")
    with store.transaction() as con:
        job_id = int(fetch_value(con, "SELECT nextval('job_ids')"))
        con.execute(
            "INSERT INTO jobs (id, kind, params, status, out_dir, result) "
            "VALUES (?, ?, ?, 'queued', ?, ?)",
            [job_id, kind, json.dumps(params), str(jobs_dir / str(job_id)), json.dumps(result)],
        )
        if link is not None:
            link(con, job_id)
    return get_job(store, job_id)


def _assignments(values: dict[str, Any]) -> tuple[str, list[Any]]:
    """`SET` clauses and their parameters; `started`/`ended` take `now` for the current time."""
    unknown = set(values) - set(_NAMES[3:])
    if unknown:
        raise ValueError(f"cannot update job column(s): {', '.join(sorted(unknown))}")
    if values.get("status") not in (None, *JOB_STATUSES):
        raise ValueError(f"unknown job status {values['status']!r}")
    clauses, params = [], []
    for column, value in values.items():
        if value == "now" and column in _TIMES:
            clauses.append(f"{column} = current_timestamp")
            continue
        clauses.append(f"{column} = ?")
        params.append(json.dumps(value) if column in _JSON_COLUMNS else value)
    return ", ".join(clauses), params


def update_job(store: Store, job_id: int, **values: Any) -> JobRecord:
    """Set columns of one job (JSON columns take plain values) in one transaction."""
    clauses, params = _assignments(values)
    with store.transaction() as con:
        con.execute(f"UPDATE jobs SET {clauses} WHERE id = ?", [*params, job_id])
    return get_job(store, job_id)


def record_chunk(
    con: duckdb.DuckDBPyConnection, job_id: int, number: int, result: dict[str, Any]
) -> None:
    """Within the caller's transaction: chunk `number` is taken in, and the result is now
    `result`. Refuses (ValueError) unless it is the chunk after the last one recorded."""
    updated = con.execute(
        "UPDATE jobs SET chunks = ?, result = ? WHERE id = ? AND chunks = ? RETURNING id",
        [number, json.dumps(result), job_id, number - 1],
    ).fetchall()
    if not updated:
        raise ValueError(f"job {job_id}: chunk {number} is not the next one to take in")


def get_job(store: Store, job_id: int) -> JobRecord:
    """The job with this id; JobNotFound otherwise."""
    rows = store.con.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id]).fetchall()
    if not rows:
        raise JobNotFound(f"no job with id {job_id}")
    return _record(rows[0])


def list_jobs(
    store: Store, *, status: tuple[str, ...] | None = None, kind: str | None = None
) -> list[JobRecord]:
    """Every job, newest first (optionally only those of a kind or with one of `status`)."""
    sql = f"SELECT {_COLUMNS} FROM jobs WHERE status IN (SELECT unnest($status))"
    params: dict[str, Any] = {"status": list(status or JOB_STATUSES)}
    if kind is not None:
        sql += " AND kind = $kind"
        params["kind"] = kind
    rows = store.con.execute(sql + " ORDER BY id DESC", params).fetchall()
    return [_record(row) for row in rows]
