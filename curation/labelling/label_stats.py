"""Who labelled how much, and when: the figures of the admin view."""

from __future__ import annotations

import pandas as pd

from curation.store.store import Store


def annotator_counts(store: Store) -> pd.DataFrame:
    """One row per account and per other labeller: role, votes in force by choice, last label."""
    return store.con.sql(
        """
        WITH votes AS (
            SELECT annotator,
                   count(*) FILTER (WHERE choice NOT IN ('skip')) AS votes,
                   count(*) FILTER (WHERE choice = 'skip') AS skips,
                   count(*) FILTER (WHERE choice = 'tie') AS ties,
                   count(*) FILTER (WHERE choice = 'both_bad') AS both_bad
            FROM current_labels GROUP BY annotator),
        undone AS (SELECT annotator, count(*) AS undone FROM labels
                   WHERE choice IS NULL GROUP BY annotator),
        thumbs AS (SELECT annotator, count(*) AS thumbs FROM ratings GROUP BY annotator),
        last AS (SELECT annotator, max(created) AS last_label FROM labels GROUP BY annotator),
        names AS (SELECT name AS annotator FROM annotators
                  UNION SELECT annotator FROM labels UNION SELECT annotator FROM ratings)
        SELECT n.annotator, a.role,
               coalesce(v.votes, 0) AS votes, coalesce(v.skips, 0) AS skips,
               coalesce(v.ties, 0) AS ties, coalesce(v.both_bad, 0) AS both_bad,
               coalesce(u.undone, 0) AS undone, coalesce(t.thumbs, 0) AS thumbs,
               strftime(l.last_label, '%Y-%m-%d %H:%M') AS last_label
        FROM names n
        LEFT JOIN annotators a ON a.name = n.annotator
        LEFT JOIN votes v USING (annotator) LEFT JOIN undone u USING (annotator)
        LEFT JOIN thumbs t USING (annotator) LEFT JOIN last l USING (annotator)
        ORDER BY votes DESC, n.annotator
        """
    ).df()


def labels_over_time(store: Store, *, bucket: str = "hour") -> pd.DataFrame:
    """Human labels per time bucket (`hour` or `day`) and annotator; imports left out."""
    if bucket not in ("hour", "day"):
        raise ValueError(f"bucket must be hour or day, got {bucket!r}")
    return store.con.execute(
        "SELECT date_trunc(?, created)::TIMESTAMP AS time, annotator, count(*) AS labels "
        "FROM labels WHERE choice IS NOT NULL AND annotator NOT LIKE 'import:%' "
        "GROUP BY ALL ORDER BY time, annotator",
        [bucket],
    ).df()
