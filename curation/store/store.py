"""The DuckDB store: opening one file, migrating it, and running writes as transactions."""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curation.errors import StoreError, StoreLocked
from curation.results import Fields
from curation.store.migrations import MIGRATIONS

DEFAULT_DB = "prefstudio.duckdb"
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<exe>.*?) \(PID (?P<pid>\d+)\)")


def default_db_path() -> Path:
    """The store named by `$PREFSTUDIO_DB`, else `./prefstudio.duckdb`."""
    return Path(os.environ.get("PREFSTUDIO_DB") or DEFAULT_DB)


def _describe_process(pid: int, exe: str) -> str:
    """`PID n (command line)` for the process holding a lock, as far as it can be seen."""
    try:
        import psutil

        cmdline = " ".join(" ".join(psutil.Process(pid).cmdline()).split())
    except Exception:  # the holder may be gone, or not ours to inspect
        cmdline = exe
    return f"PID {pid} ({cmdline[:200]})"


def _open_error(path: Path, error: duckdb.Error) -> StoreError:
    """Turn DuckDB's error on connect into a one-line StoreError naming the cause."""
    message = str(error).splitlines()[0]
    holder = _LOCK_HOLDER.search(message)
    if holder:
        who = _describe_process(int(holder["pid"]), holder["exe"])
        return StoreLocked(
            f"store {path} is in use by another process, {who}; "
            "stop it or wait for it to finish, then try again"
        )
    return StoreError(f"cannot open store {path}: {message}")


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query (or None), reading the result to its end as DuckDB requires."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def fetch_value(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> object:
    """The single value a query returns."""
    row = fetch_one(con, sql, params)
    return None if row is None else row[0]


def drop_temp_tables(con: duckdb.DuckDBPyConnection, prefix: str) -> None:
    """Drop the temporary views and tables whose names start with `prefix`."""
    for kind, catalog, column in (
        ("VIEW", "duckdb_views", "view_name"),
        ("TABLE", "duckdb_tables", "table_name"),
    ):
        names = con.execute(
            f"SELECT {column} FROM {catalog}() WHERE temporary AND starts_with({column}, ?)",
            [prefix],
        ).fetchall()
        for (name,) in names:
            con.execute(f"DROP {kind} IF EXISTS {name}")


@dataclass(frozen=True)
class StoreReady(Fields):
    """A store created, or migrated to this version: its file and schema version."""

    db: str
    schema_version: int

    def text(self) -> str:
        return f"store ready: {self.db} (schema v{self.schema_version})"


class Store:
    """One prefstudio store: a DuckDB file with the schema of `curation.store.migrations`.

    Open it with `Store(path)`; it is migrated to the latest schema on open. Every write goes
    through `transaction()`, which commits on success and rolls back on any error.
    """

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        if read_only and not self.path.exists():
            raise StoreError(f"no store at {self.path}; run `prefstudio init` or import data first")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._root = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise _open_error(self.path, error) from None
        self._owner_thread = threading.get_ident()
        self._per_thread = threading.local()
        self._cursor_lock = threading.Lock()
        self._close_hooks: list[Callable[[], None]] = []
        try:
            if not read_only:
                self.migrate()
            elif self.schema_version() < len(MIGRATIONS):
                raise StoreError(f"store {self.path} needs a migration; open it for writing once")
        except BaseException:
            self.close()  # release the file for whoever comes next
            raise

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """This thread's connection: the store's own in the thread that opened it, else a cursor.

        DuckDB connections are not thread-safe; a server's worker threads each get a cursor of
        their own (created once per thread), so reads and `transaction()` work from any thread.
        """
        if threading.get_ident() == self._owner_thread:
            return self._root
        con = getattr(self._per_thread, "con", None)
        if con is None:
            with self._cursor_lock:
                con = self._root.cursor()
            self._per_thread.con = con
        return con

    @property
    def files_dir(self) -> Path:
        """The folder beside the store file for what it refers to: snapshots, runs, exports."""
        return self.path.with_name(f"{self.path.stem}.files")

    def schema_version(self) -> int:
        """The newest migration applied to this store (0 for a new file)."""
        has_table = fetch_value(
            self.con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_migrations'"
        )
        if not has_table:
            return 0
        return fetch_value(self.con, "SELECT coalesce(max(version), 0) FROM schema_migrations")

    def migrate(self) -> list[int]:
        """Apply the migrations this store lacks, each in its own transaction; return their versions."""
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
            " applied TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)"
        )
        current = self.schema_version()
        if current > len(MIGRATIONS):
            raise StoreError(
                f"store {self.path} has schema version {current}, newer than this prefstudio "
                f"({len(MIGRATIONS)}); upgrade prefstudio"
            )
        applied = []
        for step in MIGRATIONS[current:]:
            with self.transaction() as cur:
                step.apply(cur)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    [step.version, step.name],
                )
            applied.append(step.version)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block as one transaction on this store's connection: all of it or nothing.

        A transaction opened inside another one of the same thread is part of it.
        """
        if getattr(self._per_thread, "in_transaction", False):
            yield self.con
            return
        self.con.execute("BEGIN TRANSACTION")
        self._per_thread.in_transaction = True
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        finally:
            self._per_thread.in_transaction = False
        self.con.execute("COMMIT")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor of its own for another thread (DuckDB connections are not thread-safe)."""
        with self._cursor_lock:
            return self._root.cursor()

    def on_close(self, hook: Callable[[], None]) -> None:
        """Run `hook` when the store closes, before the file does (to stop background work)."""
        self._close_hooks.append(hook)

    def close(self) -> None:
        """Close the file (and every thread's cursor); the store cannot be used afterwards."""
        while self._close_hooks:
            self._close_hooks.pop()()
        self._root.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
