"""Versioned schema migrations, each a registered function applied once in its own transaction."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import duckdb


@dataclass(frozen=True)
class Migration:
    """One step of the schema: its version number, a name, and the function that applies it."""

    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], None]


MIGRATIONS: list[Migration] = []


def migration(version: int) -> Callable[[Callable], Callable]:
    """Register `fn` as the migration to schema `version`; versions must come in order."""

    def register(fn: Callable[[duckdb.DuckDBPyConnection], None]) -> Callable:
        expected = len(MIGRATIONS) + 1
        if version != expected:
            raise ValueError(f"migration {fn.__name__} has version {version}, expected {expected}")
        MIGRATIONS.append(Migration(version, fn.__name__, fn))
        return fn

    return register


@migration(1)
def initial_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Prompts, responses, pairs, labels, ratings, judgments, flags, snapshots, runs, annotators.

    Prompt, response and pair ids are content hashes (md5 hex), so importing the same data
    twice adds nothing. Labels and ratings are append-only, with sequence ids.
    """
    con.execute(
        """
        CREATE TABLE prompts (
            id VARCHAR PRIMARY KEY,          -- md5 of the canonical messages JSON
            messages JSON NOT NULL,          -- [{"role": ..., "content": ...}, ...]
            is_chat BOOLEAN NOT NULL,        -- imported as a conversation, not a plain string
            source VARCHAR NOT NULL,
            meta JSON,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE responses (
            id VARCHAR PRIMARY KEY,          -- md5 of prompt id and text
            prompt_id VARCHAR NOT NULL,
            text VARCHAR NOT NULL,
            model VARCHAR,
            source VARCHAR NOT NULL,
            is_reference BOOLEAN NOT NULL DEFAULT false,  -- a demonstration (SFT data)
            meta JSON,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE pairs (
            id VARCHAR PRIMARY KEY,          -- md5 of the two response ids, order-free
            prompt_id VARCHAR NOT NULL,
            response_a VARCHAR NOT NULL,
            response_b VARCHAR NOT NULL,
            origin VARCHAR NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE label_ids;
        CREATE TABLE labels (
            id BIGINT PRIMARY KEY DEFAULT nextval('label_ids'),
            pair_id VARCHAR NOT NULL,
            annotator VARCHAR NOT NULL,
            choice VARCHAR CHECK (choice IN ('a', 'b', 'tie', 'both_bad', 'skip')),
            strength VARCHAR CHECK (strength IN ('slight', 'clear')),
            rationale VARCHAR,
            shown_order VARCHAR CHECK (shown_order IN ('ab', 'ba')),
            ms_spent INTEGER,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            supersedes BIGINT                -- a row with a NULL choice retracts the one it supersedes
        );
        CREATE SEQUENCE rating_ids;
        CREATE TABLE ratings (
            id BIGINT PRIMARY KEY DEFAULT nextval('rating_ids'),
            response_id VARCHAR NOT NULL,
            annotator VARCHAR NOT NULL,
            thumb BOOLEAN NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE judgment_ids;
        CREATE TABLE judgments (
            id BIGINT PRIMARY KEY DEFAULT nextval('judgment_ids'),
            pair_id VARCHAR NOT NULL,
            judge_key VARCHAR NOT NULL,
            p_a DOUBLE,
            choice VARCHAR CHECK (choice IN ('a', 'b', 'tie', 'failed')),
            consistent BOOLEAN,
            raw JSON,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE flag_ids;
        CREATE TABLE flags (
            id BIGINT PRIMARY KEY DEFAULT nextval('flag_ids'),
            subject VARCHAR NOT NULL CHECK (subject IN ('prompt', 'response', 'pair')),
            subject_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            detail VARCHAR,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            dismissed_by VARCHAR,
            dismissed_at TIMESTAMPTZ
        );
        CREATE TABLE dup_clusters (
            subject VARCHAR NOT NULL CHECK (subject IN ('prompt', 'response', 'pair')),
            kind VARCHAR NOT NULL CHECK (kind IN ('exact', 'near')),
            cluster_id VARCHAR NOT NULL,
            member_id VARCHAR NOT NULL,
            is_representative BOOLEAN NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE snapshots (
            name VARCHAR PRIMARY KEY,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            policy JSON NOT NULL,
            counts JSON NOT NULL,
            sha256 VARCHAR NOT NULL,
            path VARCHAR NOT NULL
        );
        CREATE SEQUENCE run_ids;
        CREATE TABLE runs (
            id BIGINT PRIMARY KEY DEFAULT nextval('run_ids'),
            snapshot VARCHAR NOT NULL,
            method VARCHAR NOT NULL CHECK (method IN ('sft', 'rm', 'dpo', 'kto')),
            config JSON NOT NULL,
            status VARCHAR NOT NULL
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            pid INTEGER,
            out_dir VARCHAR,
            metrics JSON,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            ended TIMESTAMPTZ
        );
        CREATE TABLE annotators (
            name VARCHAR PRIMARY KEY,
            role VARCHAR NOT NULL CHECK (role IN ('annotator', 'admin')),
            password_hash VARCHAR NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );

        -- Labels still in force: not retracted and not superseded by a later row.
        CREATE VIEW current_labels AS
        SELECT l.* FROM labels l
        WHERE l.choice IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM labels s WHERE s.supersedes = l.id);

        -- Vote counts per pair over the labels in force (skips do not vote).
        CREATE VIEW pair_votes AS
        SELECT pair_id,
               count(*) FILTER (WHERE choice = 'a') AS votes_a,
               count(*) FILTER (WHERE choice = 'b') AS votes_b,
               count(*) FILTER (WHERE choice = 'tie') AS ties,
               count(*) FILTER (WHERE choice = 'both_bad') AS both_bad,
               count(*) AS votes
        FROM current_labels WHERE choice <> 'skip'
        GROUP BY pair_id;
        """
    )


@migration(2)
def labelling_queue(con: duckdb.DuckDBPyConnection) -> None:
    """Project settings, the labelling queue's order and priorities, rankings, and label lookups.

    `queue` gives every pair a serving position (pairs are appended in arrival batches, shuffled
    within a batch); `queue_priorities` lifts chosen pairs ahead (higher first). `rankings` keeps
    an annotator's ordering of 3+ responses, which is also expanded into pairs and labels.
    """
    con.execute(
        """
        CREATE TABLE settings (
            key VARCHAR PRIMARY KEY,
            value JSON NOT NULL,
            updated TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE TABLE queue (
            pair_id VARCHAR PRIMARY KEY,
            position BIGINT NOT NULL
        );
        CREATE TABLE queue_priorities (
            pair_id VARCHAR PRIMARY KEY,
            priority DOUBLE NOT NULL,
            reason VARCHAR,
            updated TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE SEQUENCE ranking_ids;
        CREATE TABLE rankings (
            id BIGINT PRIMARY KEY DEFAULT nextval('ranking_ids'),
            prompt_id VARCHAR NOT NULL,
            annotator VARCHAR NOT NULL,
            response_ids JSON NOT NULL,      -- best first
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX labels_by_pair ON labels (pair_id);
        """
    )


@migration(3)
def run_details(con: duckdb.DuckDBPyConnection) -> None:
    """Training runs keep their base model, exact command, evaluation, failure cause and start."""
    for column in (
        "model VARCHAR",
        "command JSON",
        "eval JSON",
        "error VARCHAR",
        "started TIMESTAMPTZ",
    ):
        con.execute(f"ALTER TABLE runs ADD COLUMN {column}")


@migration(4)
def judge_registry(con: duckdb.DuckDBPyConnection) -> None:
    """Judges by key (name, model, template, settings), and the judgments in force.

    A judgment in force is the latest row for its pair and judge key; an earlier failed
    verdict stays in the table when a rerun replaces it.
    """
    con.execute(
        """
        CREATE TABLE judges (
            key VARCHAR PRIMARY KEY,         -- hash of the description below
            name VARCHAR NOT NULL,           -- the kind: llm, reward, api, longer, ...
            label VARCHAR NOT NULL,          -- how reports name it (kind and model)
            model VARCHAR,
            template VARCHAR,
            settings JSON NOT NULL,
            order_free BOOLEAN NOT NULL,     -- never sees an order (rules, reward models)
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX judgments_by_key ON judgments (judge_key, pair_id);
        CREATE VIEW current_judgments AS
        SELECT * FROM judgments
        QUALIFY row_number() OVER (PARTITION BY pair_id, judge_key ORDER BY id DESC) = 1;
        """
    )


@migration(5)
def account_disabling(con: duckdb.DuckDBPyConnection) -> None:
    """Accounts can be disabled (kept, so their labels stay attributed, but unable to log in)."""
    con.execute("ALTER TABLE annotators ADD COLUMN disabled_at TIMESTAMPTZ")


@migration(6)
def gold_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Gold pairs: pairs with a known answer, mixed into annotators' queues to score them.

    `answer` is relative to the pair's response_a/response_b, as `labels.choice` is.
    """
    con.execute(
        """
        CREATE TABLE gold_pairs (
            pair_id VARCHAR PRIMARY KEY,
            answer VARCHAR NOT NULL CHECK (answer IN ('a', 'b', 'tie', 'both_bad')),
            marked_by VARCHAR NOT NULL,      -- the admin, or import:<source>
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        """
    )


@migration(7)
def jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Jobs: generation and judging done by worker subprocesses, one row per job.

    `chunks` counts the worker's result chunks taken into the store; it is raised in the same
    transaction that stores a chunk, so a chunk is never taken in twice nor lost.
    """
    con.execute(
        """
        CREATE SEQUENCE job_ids;
        CREATE TABLE jobs (
            id BIGINT PRIMARY KEY DEFAULT nextval('job_ids'),
            kind VARCHAR NOT NULL CHECK (kind IN ('generate', 'judge')),
            params JSON NOT NULL,            -- what was asked, as the CLI and the API take it
            status VARCHAR NOT NULL
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            pid INTEGER,
            out_dir VARCHAR NOT NULL,        -- the job's folder (params, log, progress, chunks)
            result JSON,                     -- the report so far, raised chunk by chunk
            error VARCHAR,
            chunks INTEGER NOT NULL DEFAULT 0,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            started TIMESTAMPTZ,
            ended TIMESTAMPTZ
        );
        """
    )


@migration(8)
def learn_jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Jobs may also learn a judge (`learn`): the jobs table again, its kind check widened."""
    _widen_job_kinds(con, ("generate", "judge", "learn"))


@migration(9)
def import_jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Jobs may also import uploaded files (`import`): the jobs table again, its kind check
    widened."""
    _widen_job_kinds(con, ("generate", "judge", "learn", "import"))


@migration(10)
def curate_jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Jobs may also curate (`curate`): the jobs table again, its kind check widened."""
    _widen_job_kinds(con, ("generate", "judge", "learn", "import", "curate"))


def _widen_job_kinds(con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...]) -> None:
    """Recreate the jobs table, its rows kept, with a kind check admitting `kinds` (DuckDB
    cannot alter a CHECK constraint in place)."""
    admitted = ", ".join(f"'{kind}'" for kind in kinds)
    con.execute(
        f"""
        CREATE TABLE jobs_widened (
            id BIGINT PRIMARY KEY DEFAULT nextval('job_ids'),
            kind VARCHAR NOT NULL CHECK (kind IN ({admitted})),
            params JSON NOT NULL,
            status VARCHAR NOT NULL
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
            pid INTEGER,
            out_dir VARCHAR NOT NULL,
            result JSON,
            error VARCHAR,
            chunks INTEGER NOT NULL DEFAULT 0,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            started TIMESTAMPTZ,
            ended TIMESTAMPTZ
        );
        INSERT INTO jobs_widened SELECT * FROM jobs;
        DROP TABLE jobs;
        ALTER TABLE jobs_widened RENAME TO jobs;
        """
    )


@migration(11)
def training_jobs(con: duckdb.DuckDBPyConnection) -> None:
    """Training runs are jobs (`train`): each run's status, worker, times, failure cause,
    metrics and evaluation move to a job row of its own; the run keeps what it trains (its id,
    snapshot, method, model and settings) and names its job."""
    _widen_job_kinds(con, ("generate", "judge", "learn", "import", "curate", "train"))
    runs = con.execute(
        "SELECT id, model, status, pid, out_dir, metrics, eval, error, created, started, ended "
        "FROM runs ORDER BY id"
    ).fetchall()
    con.execute("CREATE TEMPORARY TABLE run_jobs (run_id BIGINT, job_id BIGINT)")
    for run_id, model, status, pid, out_dir, metrics, evaluation, error, *times in runs:
        evaluation = json.loads(evaluation) if evaluation else None
        result: dict = {"imported_pairs": (evaluation or {}).pop("imported_pairs", 0)}
        result.update({"metrics": json.loads(metrics)} if metrics else {})
        result.update({"eval": evaluation} if evaluation is not None else {})
        params = {"run_id": run_id, "model": model}
        job_id = con.execute(
            "INSERT INTO jobs (id, kind, params, status, pid, out_dir, result, error, created, "
            "started, ended) VALUES (nextval('job_ids'), 'train', ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            [json.dumps(params), status, pid, out_dir or "", json.dumps(result), error, *times],
        ).fetchone()[0]
        con.execute("INSERT INTO run_jobs VALUES (?, ?)", [run_id, job_id])
    con.execute(
        """
        CREATE TABLE runs_of_jobs (
            id BIGINT PRIMARY KEY DEFAULT nextval('run_ids'),
            snapshot VARCHAR NOT NULL,
            method VARCHAR NOT NULL CHECK (method IN ('sft', 'rm', 'dpo', 'kto')),
            model VARCHAR,
            config JSON NOT NULL,
            job_id BIGINT NOT NULL,
            created TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        INSERT INTO runs_of_jobs
            SELECT r.id, r.snapshot, r.method, r.model, r.config, l.job_id, r.created
            FROM runs r JOIN run_jobs l ON l.run_id = r.id;
        DROP TABLE runs;
        ALTER TABLE runs_of_jobs RENAME TO runs;
        DROP TABLE run_jobs;
        """
    )
