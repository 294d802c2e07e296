"""Reads for learning and calibrating judges: a snapshot's labelled pairs, verdicts with the
human side, and a judge's stored description.
"""

from __future__ import annotations

import json

import pandas as pd

from curation.store.sql import quote_literal
from curation.store.store import Store, fetch_one, fetch_value

# The human majority side of each pair whose labels in force favour one side.
_HUMAN_SIDE = """
    SELECT pair_id, CASE WHEN votes_a > votes_b THEN 'a' ELSE 'b' END AS human
    FROM pair_votes WHERE votes_a <> votes_b"""


def snapshot_pairs(store: Store, snapshot: str, split: str) -> pd.DataFrame:
    """The preference pairs of a snapshot split, with the side the snapshot chose.

    Columns: pair_id, messages (the prompt as a list of messages), text_a, text_b, human
    (`a` or `b`: the response the snapshot holds as chosen), ordered by pair id.
    """
    from curation.snapshots.freeze import snapshot_files  # the snapshots module owns their layout

    path = quote_literal(snapshot_files(store, snapshot)["dpo"][split])
    chosen_type = fetch_value(
        store.con, f"SELECT column_type FROM (DESCRIBE SELECT chosen FROM read_parquet({path}))"
    )
    chosen = "s.chosen" if chosen_type == "VARCHAR" else "s.chosen[1].content"
    frame = store.con.execute(
        f"""SELECT s.pair_id, pr.messages, ra.text AS text_a, rb.text AS text_b,
                   CASE WHEN {chosen} = ra.text THEN 'a' ELSE 'b' END AS human
            FROM read_parquet({path}) s JOIN pairs p ON p.id = s.pair_id
            JOIN prompts pr ON pr.id = p.prompt_id
            JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
            ORDER BY s.pair_id"""
    ).fetchdf()
    frame["messages"] = frame["messages"].map(json.loads)
    return frame


def verdicts(store: Store, pair_ids: list[str] | None = None) -> pd.DataFrame:
    """Verdicts in force that did not fail, with the human majority side where there is one.

    Columns: judge_key, name, label, pair_id, p_a, choice, human (`a`, `b` or None).
    `pair_ids` narrows them to those pairs.
    """
    condition = "true"
    if pair_ids is not None:
        condition = f"j.pair_id IN ({', '.join(map(quote_literal, pair_ids)) or 'NULL'})"
    return store.con.execute(
        f"""SELECT j.judge_key, g.name, g.label, j.pair_id, j.p_a, j.choice, h.human
            FROM current_judgments j JOIN judges g ON g.key = j.judge_key
            LEFT JOIN ({_HUMAN_SIDE}) h ON h.pair_id = j.pair_id
            WHERE j.choice <> 'failed' AND {condition}
            ORDER BY j.judge_key, j.pair_id"""
    ).fetchdf()


def judge_description(store: Store, key: str) -> dict | None:
    """What a judge key stands for (key, name, label, model, template, settings), found by its
    full key or a prefix of it that only one key has; None when no judge matches."""
    rows = store.con.execute(
        "SELECT key, name, label, model, template, settings FROM judges "
        "WHERE starts_with(key, ?) ORDER BY key LIMIT 2",
        [key],
    ).fetchall()
    exact = fetch_one(store.con, "SELECT key FROM judges WHERE key = ?", [key])
    if exact is None and len(rows) != 1:
        return None
    row = next(r for r in rows if exact is None or r[0] == key)
    names = ("key", "name", "label", "model", "template", "settings")
    found = dict(zip(names, row, strict=True))
    found["settings"] = json.loads(found["settings"])
    return found
