"""Scoring annotators on gold pairs, and leaving out the labels of those who score too low.

An annotator's gold answers are their labels in force on gold pairs, skips aside; one is
correct when its choice is the gold answer. Imported labels (`import:<source>`) are not scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

from curation.labelling.gold_mix import get_gold_every
from curation.results import Fields, Listing
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.store.store import Store, fetch_one, fetch_value

_SCORES = """
    SELECT l.annotator, count(*) AS answered,
           count(*) FILTER (WHERE l.choice = g.answer) AS correct
    FROM current_labels l JOIN gold_pairs g ON g.pair_id = l.pair_id
    WHERE l.choice <> 'skip' AND l.annotator NOT LIKE 'import:%'
    GROUP BY l.annotator
"""


@dataclass(frozen=True)
class GoldScore(Fields):
    """One annotator's gold answers: how many, how many correct, and the share correct."""

    annotator: str
    answered: int
    correct: int
    accuracy: float

    def line(self) -> str:
        """Its line in the list of scores."""
        return (
            f"{self.annotator:<20} {self.correct} of {self.answered} correct ({self.accuracy:.2f})"
        )


def gold_scores(store: Store) -> list[GoldScore]:
    """Every annotator with a gold answer, by name."""
    rows = store.con.execute(
        f"SELECT annotator, answered, correct, correct / answered FROM ({_SCORES}) "
        "ORDER BY annotator"
    ).fetchall()
    return [GoldScore(*row) for row in rows]


def gold_score_listing(store: Store) -> Listing[GoldScore]:
    """Every annotator's gold answers, as `gold accuracy` and its API route give them."""
    return Listing("annotators", gold_scores(store), "no gold answers yet")


def gold_table(store: Store) -> pd.DataFrame:
    """The gold scores as a table (annotator, answered, correct, accuracy to 3 places), by name."""
    table = pd.DataFrame(
        [s.to_dict() for s in gold_scores(store)],
        columns=["annotator", "answered", "correct", "accuracy"],
    )
    return table.round({"accuracy": 3})


def gold_report(store: Store) -> dict:
    """`stats`' gold section: gold pairs, the rate, and each annotator's answers and accuracy."""
    return {
        "pairs": fetch_value(store.con, "SELECT count(*) FROM gold_pairs"),
        "every": get_gold_every(store),
        "annotators": {
            s.annotator: {"answered": s.answered, "correct": s.correct, "accuracy": s.accuracy}
            for s in gold_scores(store)
        },
    }


def _left_out_sql(policy: SnapshotPolicy) -> str:
    """Annotators the policy leaves out: gold accuracy under its minimum, with enough answers."""
    return (
        f"SELECT annotator FROM ({_SCORES}) "
        f"WHERE answered >= {int(policy.min_gold_answers)} "
        f"AND correct / answered < {float(policy.min_gold_accuracy)}"
    )


def policy_votes_sql(policy: SnapshotPolicy) -> str:
    """A relation shaped like the `pair_votes` view, over the labels the policy keeps."""
    if policy.min_gold_accuracy is None:
        return "pair_votes"
    return f"""(SELECT pair_id,
               count(*) FILTER (WHERE choice = 'a') AS votes_a,
               count(*) FILTER (WHERE choice = 'b') AS votes_b,
               count(*) FILTER (WHERE choice = 'tie') AS ties,
               count(*) FILTER (WHERE choice = 'both_bad') AS both_bad,
               count(*) AS votes
        FROM current_labels WHERE choice <> 'skip' AND annotator NOT IN ({_left_out_sql(policy)})
        GROUP BY pair_id) AS kept_votes"""


def left_out_by_gold(con: duckdb.DuckDBPyConnection, policy: SnapshotPolicy) -> dict:
    """{annotators, labels}: who the policy's gold rule leaves out, and their votes in force."""
    if policy.min_gold_accuracy is None:
        return {"annotators": [], "labels": 0}
    names, labels = fetch_one(
        con,
        f"""WITH gone AS ({_left_out_sql(policy)})
        SELECT (SELECT coalesce(list(annotator ORDER BY annotator), []) FROM gone),
               (SELECT count(*) FROM current_labels
                WHERE choice <> 'skip' AND annotator IN (SELECT annotator FROM gone))""",
    )
    return {"annotators": names, "labels": labels}
