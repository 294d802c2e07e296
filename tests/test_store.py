"""The store: migrations recorded in the file, transactions, and a clear error when it is held."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pytest

from curation import Store, StoreError, StoreLocked
from curation.store.migrations import MIGRATIONS


def test_new_store_records_every_migration(db_path):
    with Store(db_path) as store:
        applied = store.con.execute(
            "SELECT version, name FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert applied == [(m.version, m.name) for m in MIGRATIONS]


def test_reopening_applies_nothing(db_path):
    Store(db_path).close()
    with Store(db_path) as store:
        assert store.migrate() == []
        assert store.schema_version() == len(MIGRATIONS)


def test_store_from_a_newer_prefstudio_is_refused(db_path):
    Store(db_path).close()
    con = duckdb.connect(str(db_path))
    con.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    con.close()
    with pytest.raises(StoreError, match="newer than this prefstudio"):
        Store(db_path)


def test_transaction_rolls_back_on_error(store):
    with pytest.raises(RuntimeError), store.transaction() as con:
        con.execute(
            "INSERT INTO annotators (name, role, password_hash) VALUES ('ann', 'admin', 'x')"
        )
        raise RuntimeError("boom")
    assert store.con.execute("SELECT count(*) FROM annotators").fetchall() == [(0,)]


def test_a_file_that_is_not_a_store_gives_one_line(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("just text, not a database", "utf-8")
    with pytest.raises(StoreError) as raised:
        Store(path)
    assert str(path) in str(raised.value) and "\n" not in str(raised.value)


def test_read_only_open_of_a_missing_store_says_how_to_create_it(tmp_path):
    with pytest.raises(StoreError, match="prefstudio init"):
        Store(tmp_path / "absent.duckdb", read_only=True)


@contextmanager
def store_held_by_another_process(path: Path) -> Iterator[subprocess.Popen]:
    """A second Python process that opens the store and keeps it open until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from curation import Store
        store = Store({str(path)!r})
        print("ready", flush=True)
        time.sleep(60)
        """
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        yield holder
    finally:
        holder.kill()
        holder.wait()


def test_second_process_gets_one_line_naming_the_holder(db_path):
    with store_held_by_another_process(db_path) as holder:
        with pytest.raises(StoreLocked) as raised:
            Store(db_path)
        message = str(raised.value)
        assert f"PID {holder.pid}" in message
        assert "\n" not in message and str(db_path) in message

        result = subprocess.run(
            ["prefstudio", "stats", "--db", str(db_path)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: ") and f"PID {holder.pid}" in result.stderr
        assert "Traceback" not in result.stderr


def test_store_is_usable_again_once_the_holder_exits(db_path):
    with store_held_by_another_process(db_path):
        pass
    deadline = time.monotonic() + 10
    while True:
        try:
            Store(db_path).close()
            break
        except StoreLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
