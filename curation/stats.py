"""Counts over the store, as `prefstudio stats` reports them."""

from __future__ import annotations

from curation.store import Store, fetch_value

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
    counts = {table: fetch_value(con, f"SELECT count(*) FROM {table}") for table in COUNTED_TABLES}
    counts["labelled_pairs"] = fetch_value(con, "SELECT count(*) FROM pair_votes")
    counts["annotators"] = fetch_value(
        con, "SELECT count(DISTINCT annotator) FROM labels WHERE annotator NOT LIKE 'import:%'"
    )
    counts["flags"] = dict(
        con.execute(
            "SELECT kind, count(DISTINCT subject_id) FROM flags "
            "WHERE subject = 'pair' AND dismissed_at IS NULL GROUP BY kind ORDER BY kind"
        ).fetchall()
    )
    return counts
