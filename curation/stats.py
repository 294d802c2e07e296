"""Counts over the store, as `prefstudio stats` reports them."""

from __future__ import annotations

from curation.store import Store

COUNTED_TABLES = (
    "prompts",
    "responses",
    "pairs",
    "labels",
    "ratings",
    "judgments",
    "snapshots",
    "runs",
)


def store_stats(store: Store) -> dict:
    """Row counts per table, pairs labelled, and pairs per flag kind (dismissed flags excluded)."""
    con = store.cursor()
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in COUNTED_TABLES
    }
    counts["labelled_pairs"] = con.execute("SELECT count(*) FROM pair_votes").fetchone()[0]
    counts["annotators"] = con.execute(
        "SELECT count(DISTINCT annotator) FROM labels WHERE annotator NOT LIKE 'import:%'"
    ).fetchone()[0]
    counts["flags"] = dict(
        con.execute(
            "SELECT kind, count(DISTINCT subject_id) FROM flags "
            "WHERE subject = 'pair' AND dismissed_at IS NULL GROUP BY kind ORDER BY kind"
        ).fetchall()
    )
    return counts
