"""Exact and near-duplicate clusters of prompts, responses and pairs, written to `dup_clusters`.

Texts are compared by their key (`curation.quality.textkey`): equal keys are exact duplicates, keys whose
word 5-gram Jaccard similarity reaches the threshold (MinHash LSH, `curation.quality.minhash`) are near
duplicates. A pair's key is its prompt's and its two responses' groups, the responses in either
order, so a/b and b/a are the same pair. Each cluster keeps one representative: the earliest
prompt or response, the pair with the most votes (then the earliest). Nothing is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curation.quality.minhash import DEFAULT_THRESHOLD, near_duplicates
from curation.quality.textkey import normalize_keys
from curation.store.store import Store


def prompt_text_sql(messages: str = "messages") -> str:
    """SQL for one text per prompt: a lone user turn as it is, else "role: content" lines."""
    return f"""CASE WHEN json_array_length({messages}) = 1
                     AND json_extract_string({messages}, '$[0].role') = 'user'
        THEN json_extract_string({messages}, '$[0].content')
        ELSE array_to_string(list_transform(json_extract({messages}, '$[*]'),
             lambda m: json_extract_string(m, '$.role') || ': ' || json_extract_string(m, '$.content')),
             chr(10)) END"""


_TEXTS = {
    "prompt": f"SELECT id, {prompt_text_sql()} AS text FROM prompts ORDER BY created, id",
    "response": "SELECT id, text FROM responses ORDER BY created, id",
}
# Temporary tables a duplicate pass leaves on the connection, one row per member:
# `ps_groups_prompt` / `ps_groups_response` (id, key, exact_rep, near_rep) and
# `ps_groups_pair` (id, exact_key, exact_rep, near_rep).
GROUP_TABLES = {subject: f"ps_groups_{subject}" for subject in ("prompt", "response", "pair")}


@dataclass
class ClusterCounts:
    """How many clusters of one kind were found, and how many members beyond representatives."""

    clusters: int = 0
    duplicates: int = 0


@dataclass
class DuplicateReport:
    """Clusters found per subject (prompt, response, pair) and kind (exact, near)."""

    counts: dict[str, dict[str, ClusterCounts]] = field(default_factory=dict)
    largest: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "counts": {
                subject: {kind: vars(c) for kind, c in kinds.items()}
                for subject, kinds in self.counts.items()
            },
            "largest": self.largest,
        }


def text_groups(texts: pa.Array, threshold: float) -> dict[str, np.ndarray]:
    """Exact and near groups of texts given in representative order (earliest first).

    Returns `key_index` (the text's distinct key), `exact_rep` and `near_rep` (the index of the
    first text of its group). Empty keys are never grouped.

    >>> groups = text_groups(pa.array(["A b", "a  B", "", ""]), 0.8)
    >>> groups["exact_rep"].tolist(), groups["near_rep"].tolist()
    ([0, 0, 2, 3], [0, 0, 2, 3])
    """
    keys = normalize_keys(texts)
    encoded = pc.dictionary_encode(keys)
    key_index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    distinct = encoded.dictionary  # in order of first appearance
    rows = np.arange(len(keys))
    _, first_row = np.unique(key_index, return_index=True)
    empty = pc.equal(distinct, "").to_numpy(zero_copy_only=False)
    exact_rep = np.where(empty[key_index], rows, first_row[key_index])
    labels = near_duplicates(distinct, threshold).labels
    labels = np.where(empty, len(distinct) + np.arange(len(distinct)), labels)
    _, first_key_of_label = np.unique(labels, return_index=True)
    label_rank = np.searchsorted(np.unique(labels), labels)
    near_rep_key = first_key_of_label[label_rank]  # first distinct key of each key's label
    near_rep = np.where(empty[key_index], rows, first_row[near_rep_key[key_index]])
    return {"key_index": key_index, "exact_rep": exact_rep, "near_rep": near_rep}


def subject_texts(con: duckdb.DuckDBPyConnection, subject: str) -> pa.Table:
    """The texts of every prompt or response (id, text), in representative order."""
    return con.sql(_TEXTS[subject]).to_arrow_table()


def group_table(texts: pa.Table, threshold: float) -> pa.Table:
    """The groups of `subject_texts`: one row per text (id, key, exact_rep, near_rep)."""
    groups = text_groups(texts["text"].cast(pa.large_string()).combine_chunks(), threshold)
    ids = texts["id"].combine_chunks()
    return pa.table(
        {
            "id": ids,
            "key": pa.array(groups["key_index"]),
            "exact_rep": ids.take(pa.array(groups["exact_rep"])),
            "near_rep": ids.take(pa.array(groups["near_rep"])),
        }
    )


def load_group_table(con: duckdb.DuckDBPyConnection, subject: str, groups: pa.Table) -> None:
    """Create the temporary group table (`GROUP_TABLES`) of prompts or responses from `groups`."""
    con.register("ps_groups_arrow", groups)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {GROUP_TABLES[subject]} AS FROM ps_groups_arrow")
    con.unregister("ps_groups_arrow")


def create_group_table(con: duckdb.DuckDBPyConnection, subject: str, threshold: float) -> None:
    """Create the group table (`GROUP_TABLES`) of the store's prompts or responses."""
    load_group_table(con, subject, group_table(subject_texts(con, subject), threshold))


def _group_pairs(con: duckdb.DuckDBPyConnection) -> None:
    """Create the group table of pairs from their prompt's and responses' groups."""
    prompts, responses = GROUP_TABLES["prompt"], GROUP_TABLES["response"]
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {GROUP_TABLES["pair"]} AS
        WITH keyed AS (
            SELECT p.id, coalesce(v.votes, 0) AS votes, p.created,
                   md5(concat_ws('|', gp.exact_rep, least(ga.exact_rep, gb.exact_rep),
                                 greatest(ga.exact_rep, gb.exact_rep))) AS exact_key,
                   md5(concat_ws('|', gp.near_rep, least(ga.near_rep, gb.near_rep),
                                 greatest(ga.near_rep, gb.near_rep))) AS near_key
            FROM pairs p
            JOIN {prompts} gp ON gp.id = p.prompt_id
            JOIN {responses} ga ON ga.id = p.response_a
            JOIN {responses} gb ON gb.id = p.response_b
            LEFT JOIN pair_votes v ON v.pair_id = p.id)
        SELECT id, exact_key,
               first_value(id) OVER (PARTITION BY exact_key ORDER BY votes DESC, created, id) AS exact_rep,
               first_value(id) OVER (PARTITION BY near_key ORDER BY votes DESC, created, id) AS near_rep
        FROM keyed"""
    )


def _record_clusters(con: duckdb.DuckDBPyConnection, subject: str) -> dict[str, ClusterCounts]:
    """Insert the clusters of one subject into dup_clusters; return their counts.

    An exact cluster has two or more members with one key; a near cluster has two or more
    distinct keys (it may also hold exact copies).
    """
    table = GROUP_TABLES[subject]
    key = "exact_key" if subject == "pair" else "key"
    counts = {}
    for kind, rep, distinct in (("exact", "exact_rep", "id"), ("near", "near_rep", key)):
        con.execute(
            f"""INSERT INTO dup_clusters (subject, kind, cluster_id, member_id, is_representative)
            SELECT '{subject}', '{kind}', {rep}, id, id = {rep} FROM {table}
            WHERE {rep} IN (SELECT {rep} FROM {table} GROUP BY {rep}
                            HAVING count(DISTINCT {distinct}) > 1)"""
        )
        clusters, members = con.execute(
            "SELECT count(DISTINCT cluster_id), count(*) FROM dup_clusters "
            "WHERE subject = ? AND kind = ?",
            [subject, kind],
        ).fetchall()[0]
        counts[kind] = ClusterCounts(clusters, members - clusters)
    return counts


def _largest_clusters(con: duckdb.DuckDBPyConnection, limit: int) -> list[dict]:
    """The biggest clusters of each subject and kind, with a few member ids."""
    rows = con.execute(
        """SELECT subject, kind, cluster_id, count(*) AS size,
                  list(member_id ORDER BY NOT is_representative, member_id)[1:5] AS members
        FROM dup_clusters GROUP BY subject, kind, cluster_id
        QUALIFY row_number() OVER (PARTITION BY subject, kind ORDER BY count(*) DESC, cluster_id) <= ?
        ORDER BY subject, kind, size DESC, cluster_id""",
        [limit],
    ).fetchall()
    names = ("subject", "kind", "cluster_id", "size", "members")
    return [dict(zip(names, row, strict=True)) for row in rows]


def find_duplicates(
    con: duckdb.DuckDBPyConnection,
    threshold: float = DEFAULT_THRESHOLD,
    largest: int = 5,
    groups: dict[str, pa.Table] | None = None,
) -> DuplicateReport:
    """Replace `dup_clusters` with the exact and near clusters of the store's current data.

    `groups` are the prompts' and responses' `group_table`s when already computed (by a
    curation job's worker); otherwise they are computed here. Run it inside a transaction; it
    leaves the `GROUP_TABLES` on the connection for flagging.
    """
    report = DuplicateReport()
    con.execute("DELETE FROM dup_clusters")
    for subject in ("prompt", "response"):
        if groups is None:
            create_group_table(con, subject, threshold)
        else:
            load_group_table(con, subject, groups[subject])
    _group_pairs(con)
    for subject in ("prompt", "response", "pair"):
        report.counts[subject] = _record_clusters(con, subject)
    report.largest = _largest_clusters(con, largest)
    return report


def list_clusters(
    store: Store, subject: str | None = None, kind: str | None = None, limit: int = 100
) -> list[dict]:
    """Recorded clusters, biggest first: subject, kind, representative and member ids."""
    rows = store.con.execute(
        """SELECT subject, kind, cluster_id, list(member_id ORDER BY NOT is_representative, member_id)
        FROM dup_clusters WHERE (? IS NULL OR subject = ?) AND (? IS NULL OR kind = ?)
        GROUP BY ALL ORDER BY count(*) DESC, subject, kind, cluster_id LIMIT ?""",
        [subject, subject, kind, kind, limit],
    ).fetchall()
    names = ("subject", "kind", "representative", "members")
    return [dict(zip(names, row, strict=True)) for row in rows]


def drop_group_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary group tables of a duplicate pass."""
    for table in GROUP_TABLES.values():
        con.execute(f"DROP TABLE IF EXISTS {table}")
