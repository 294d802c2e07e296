"""Shared fixtures: a fresh store file, and writers for small input files."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from curation import Store

REPO = Path(__file__).resolve().parent.parent


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
