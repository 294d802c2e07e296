"""Judge verdicts in the store: which pairs to judge, saving verdicts, and counts for reports.

A judgment is cached by its judge key and its pair id, which is a hash of the pair's content
(the prompt and both response texts), so judging the same pair with the same judge again is
skipped. The latest row for a pair and key is the one in force (`current_judgments`).
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass

import pandas as pd

from curation.errors import PrefstudioError
from curation.labelling.queue_reads import ServedPair
from curation.results import Fields
from curation.store.settings import get_setting, set_setting
from curation.store.sql import quote_literal
from curation.store.store import Store, fetch_one

PAIR_SELECTIONS = ("unlabeled", "labeled", "all", "snapshot:NAME")
SUGGESTIONS_KEY = "judges.suggestions"
_SNAPSHOT = re.compile(r"^snapshot:(?P<name>.+)$")


class JudgmentError(PrefstudioError):
    """A request about judgments names something that does not exist or makes no sense."""


@dataclass(frozen=True)
class PairsToJudge:
    """The pairs a run selected, how many of them already have a verdict, and the rest to judge.

    Each row of `todo` has pair_id, messages (the prompt as a list of messages), text_a, text_b.
    """

    selected: int
    cached: int
    todo: list[dict]


def register_judge(store: Store, key: str, description: dict, label: str, order_free: bool) -> None:
    """Record what a judge key stands for (once; a key always describes the same judge)."""
    with store.transaction() as con:
        con.execute(
            "INSERT OR IGNORE INTO judges (key, name, label, model, template, settings, order_free) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                key,
                description["name"],
                label,
                description.get("model"),
                description.get("template"),
                json.dumps(description.get("settings", {}), sort_keys=True),
                order_free,
            ],
        )


def _selection_filter(store: Store, selection: str) -> str:
    """A SQL condition on `p` (pairs) for a pair selection: unlabeled, labeled, all or snapshot:NAME."""
    if selection == "all":
        return "true"
    labelled = "p.id IN (SELECT pair_id FROM current_labels WHERE choice <> 'skip')"
    if selection in ("unlabeled", "labeled"):
        return labelled if selection == "labeled" else f"NOT ({labelled})"
    snapshot = _SNAPSHOT.match(selection)
    if snapshot is None:
        raise JudgmentError(
            f"unknown pair selection {selection!r}; choose from {', '.join(PAIR_SELECTIONS)}"
        )
    from curation.snapshots.freeze import snapshot_files  # the snapshots module owns their layout

    files = snapshot_files(store, snapshot["name"]).get("dpo", {})
    paths = [str(path) for path in files.values()]
    if not paths:
        raise JudgmentError(f"snapshot {snapshot['name']} holds no preference pairs")
    listed = ", ".join(quote_literal(path) for path in paths)
    return f"p.id IN (SELECT pair_id FROM read_parquet([{listed}]))"


def pairs_to_judge(
    store: Store,
    judge_key: str,
    selection: str = "unlabeled",
    limit: int | None = None,
    pair_ids: list[str] | None = None,
) -> PairsToJudge:
    """The pairs of `selection` (at most `limit`, in a stable order) without a verdict in force
    for `judge_key`; failed verdicts are judged again. `pair_ids` narrows the selection.
    """
    if limit is not None and limit < 1:
        raise JudgmentError(f"limit must be positive, got {limit}")
    condition = _selection_filter(store, selection)
    if pair_ids is not None:
        listed = ", ".join(quote_literal(pair_id) for pair_id in pair_ids) or "NULL"
        condition = f"({condition}) AND p.id IN ({listed})"
    limit_sql = f"LIMIT {int(limit)}" if limit is not None else ""
    frame = store.con.execute(
        f"""
        WITH chosen AS (
            SELECT p.id, p.prompt_id, p.response_a, p.response_b FROM pairs p
            WHERE {condition} ORDER BY p.created, p.id {limit_sql}),
        done AS (
            SELECT pair_id FROM current_judgments
            WHERE judge_key = $key AND choice <> 'failed'
              AND pair_id IN (SELECT id FROM chosen))
        SELECT c.id AS pair_id, pr.messages, ra.text AS text_a, rb.text AS text_b,
               c.id IN (SELECT pair_id FROM done) AS cached
        FROM chosen c
        JOIN prompts pr ON pr.id = c.prompt_id
        JOIN responses ra ON ra.id = c.response_a
        JOIN responses rb ON rb.id = c.response_b
        ORDER BY c.id""",
        {"key": judge_key},
    ).fetchdf()
    todo = frame[~frame["cached"]].drop(columns="cached")
    todo["messages"] = todo["messages"].map(json.loads)
    return PairsToJudge(len(frame), int(frame["cached"].sum()), todo.to_dict("records"))


def save_judgments(store: Store, judge_key: str, rows: pd.DataFrame) -> int:
    """Store verdict rows (pair_id, p_a, choice, consistent, raw as JSON text) in one transaction."""
    frame = rows[["pair_id", "p_a", "choice", "consistent", "raw"]].astype(
        {"pair_id": "string", "p_a": "float64", "choice": "string", "raw": "string"}
    )
    frame["consistent"] = frame["consistent"].astype("boolean")
    with store.transaction() as con:
        con.register("ps_new_judgments", frame)
        try:
            con.execute(
                "INSERT INTO judgments (pair_id, judge_key, p_a, choice, consistent, raw) "
                "SELECT pair_id, ?, p_a, choice, consistent, raw::JSON FROM ps_new_judgments",
                [judge_key],
            )
        finally:
            con.unregister("ps_new_judgments")
    return len(frame)


def report_counts(store: Store) -> pd.DataFrame:
    """Per judge key in force: the counts a judge report is computed from.

    Columns: judge_key, name, label, order_free, n, failed, ties, consistent, consistency_n,
    the agreement table with the human majority (human_a_judge_a, human_a_judge_b,
    human_b_judge_a, human_b_judge_b), p_agree and p_decided (p_a on the human side of 0.5, of
    the verdicts with p_a off 0.5), length_decided, chose_longer, first_picks, order_picks.
    """
    return store.con.execute(
        """
        WITH human AS (
            SELECT pair_id, CASE WHEN votes_a > votes_b THEN 'a' ELSE 'b' END AS side
            FROM pair_votes WHERE votes_a <> votes_b),
        lengths AS (
            SELECT p.id AS pair_id, length(trim(ra.text)) AS len_a, length(trim(rb.text)) AS len_b
            FROM pairs p JOIN responses ra ON ra.id = p.response_a
            JOIN responses rb ON rb.id = p.response_b),
        picks AS (
            SELECT j.*, json_extract_string(j.raw, '$.orders.ab.pick') AS pick_ab,
                   json_extract_string(j.raw, '$.orders.ba.pick') AS pick_ba
            FROM current_judgments j)
        SELECT j.judge_key, g.name, g.label, g.order_free,
               count(*) AS n,
               count(*) FILTER (WHERE j.choice = 'failed') AS failed,
               count(*) FILTER (WHERE j.choice = 'tie') AS ties,
               count(*) FILTER (WHERE j.consistent) AS consistent,
               count(j.consistent) AS consistency_n,
               count(*) FILTER (WHERE h.side = 'a' AND j.choice = 'a') AS human_a_judge_a,
               count(*) FILTER (WHERE h.side = 'a' AND j.choice = 'b') AS human_a_judge_b,
               count(*) FILTER (WHERE h.side = 'b' AND j.choice = 'a') AS human_b_judge_a,
               count(*) FILTER (WHERE h.side = 'b' AND j.choice = 'b') AS human_b_judge_b,
               count(*) FILTER (WHERE h.side = 'a' AND j.p_a > 0.5
                                      OR h.side = 'b' AND j.p_a < 0.5) AS p_agree,
               count(*) FILTER (WHERE h.side IS NOT NULL AND j.p_a <> 0.5) AS p_decided,
               count(*) FILTER (WHERE j.choice IN ('a', 'b') AND l.len_a <> l.len_b)
                   AS length_decided,
               count(*) FILTER (WHERE (j.choice = 'a' AND l.len_a > l.len_b)
                                   OR (j.choice = 'b' AND l.len_b > l.len_a)) AS chose_longer,
               count(*) FILTER (WHERE j.pick_ab = 'first')
                   + count(*) FILTER (WHERE j.pick_ba = 'first') AS first_picks,
               count(*) FILTER (WHERE j.pick_ab IN ('first', 'second'))
                   + count(*) FILTER (WHERE j.pick_ba IN ('first', 'second')) AS order_picks
        FROM picks j
        JOIN judges g ON g.key = j.judge_key
        JOIN lengths l ON l.pair_id = j.pair_id
        LEFT JOIN human h ON h.pair_id = j.pair_id
        GROUP BY ALL ORDER BY g.order_free DESC, g.label, j.judge_key
        """
    ).fetchdf()


def judged_pair_ids(store: Store, exclude_names: tuple[str, ...] = ()) -> list[str]:
    """Ids of the pairs that judges (other than those named) have a verdict on."""
    excluded = ", ".join(quote_literal(n) for n in exclude_names) or "NULL"
    rows = store.con.execute(
        "SELECT DISTINCT j.pair_id FROM current_judgments j JOIN judges g ON g.key = j.judge_key "
        f"WHERE g.name NOT IN ({excluded}) ORDER BY 1"
    ).fetchall()
    return [row[0] for row in rows]


def uncertain_pairs(
    store: Store, exclude_names: tuple[str, ...] = (), judge_keys: list[str] | None = None
) -> pd.DataFrame:
    """Unlabelled pairs ranked by how unsure the judges are: (pair_id, priority, reason).

    Priority adds the judges' uncertainty (1 at p_a = 0.5, 0 at 0 or 1, from the mean p_a),
    1 when judges pick different sides, and 0.5 when a judge was position-inconsistent.
    Judges named in `exclude_names` (rule baselines, say) do not count; with `judge_keys`,
    only those judges count.
    """
    excluded = ", ".join(quote_literal(n) for n in exclude_names) or "NULL"
    chosen = "true"
    if judge_keys is not None:
        chosen = f"g.key IN ({', '.join(map(quote_literal, judge_keys)) or 'NULL'})"
    return store.con.execute(
        f"""
        WITH verdicts AS (
            SELECT j.* FROM current_judgments j JOIN judges g ON g.key = j.judge_key
            WHERE g.name NOT IN ({excluded}) AND {chosen} AND j.choice <> 'failed'
              AND j.pair_id NOT IN (SELECT pair_id FROM current_labels WHERE choice <> 'skip')),
        per_pair AS (
            SELECT pair_id, avg(p_a) AS mean_p,
                   count(DISTINCT choice) FILTER (WHERE choice IN ('a', 'b')) = 2 AS disagree,
                   bool_or(NOT consistent) AS inconsistent
            FROM verdicts GROUP BY pair_id)
        SELECT pair_id,
               1 - abs(2 * mean_p - 1) + CASE WHEN disagree THEN 1 ELSE 0 END
                 + CASE WHEN inconsistent THEN 0.5 ELSE 0 END AS priority,
               concat_ws('; ', CASE WHEN disagree THEN 'judges disagree' END,
                         CASE WHEN inconsistent THEN 'position-inconsistent' END,
                         printf('mean p_a %.2f', mean_p)) AS reason
        FROM per_pair ORDER BY priority DESC, pair_id
        """
    ).fetchdf()


_suggestions_seen: weakref.WeakKeyDictionary[Store, dict] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class SuggestionSetting(Fields):
    """Whether annotators see a judge's verdicts as suggestions, and whose."""

    enabled: bool
    judge_key: str | None

    def text(self) -> str:
        return f"suggestions on, from judge {self.judge_key}" if self.enabled else "suggestions off"


def get_suggestions(store: Store) -> dict:
    """Whether annotators see a judge's verdict as a suggestion, and whose: {enabled, judge_key}.

    Off by default, so that annotators are not anchored on a judge. The setting is read once
    per open store (it changes only through set_suggestions), so serving a pair costs no query.
    """
    if store not in _suggestions_seen:
        default = {"enabled": False, "judge_key": None}
        _suggestions_seen[store] = get_setting(store, SUGGESTIONS_KEY, default)
    return dict(_suggestions_seen[store])


def set_suggestions(store: Store, enabled: bool, judge_key: str | None = None) -> dict:
    """Turn suggestions on (from the judge `judge_key`) or off; return the setting."""
    if enabled:
        if judge_key is None:
            raise JudgmentError("name the judge whose verdicts annotators should see")
        if fetch_one(store.con, "SELECT 1 FROM judges WHERE key = ?", [judge_key]) is None:
            raise JudgmentError(f"no judge with key {judge_key!r} has run on this store")
    value = {"enabled": bool(enabled), "judge_key": judge_key if enabled else None}
    set_setting(store, SUGGESTIONS_KEY, value)
    _suggestions_seen[store] = value
    return dict(value)


def suggestion_for(store: Store, pair_id: str) -> dict | None:
    """The suggested verdict on a pair for annotators, or None (suggestions off, or no verdict).

    Returns {judge, choice, p_a}; choice and p_a refer to the pair's own response_a and
    response_b, so a screen that swaps the sides must swap them too. Failed verdicts are
    never suggested.
    """
    setting = get_suggestions(store)
    if not setting["enabled"]:
        return None
    row = fetch_one(
        store.con,
        "SELECT g.label, j.choice, j.p_a FROM current_judgments j "
        "JOIN judges g ON g.key = j.judge_key "
        "WHERE j.judge_key = ? AND j.pair_id = ? AND j.choice <> 'failed'",
        [setting["judge_key"], pair_id],
    )
    return None if row is None else {"judge": row[0], "choice": row[1], "p_a": row[2]}


def shown_suggestion(store: Store, pair: ServedPair) -> dict | None:
    """The suggestion for a served pair in the sides as shown: {judge, choice, p_a}, where
    choice is `a` (the left side), `b` (the right) or `tie`, and p_a is P(left is better);
    None when suggestions are off or the judge has no verdict on the pair."""
    suggestion = suggestion_for(store, pair.pair_id)
    if suggestion is None or pair.shown_order == "ab":
        return suggestion
    swapped = {"a": "b", "b": "a"}.get(suggestion["choice"], suggestion["choice"])
    return {**suggestion, "choice": swapped, "p_a": 1 - suggestion["p_a"]}


def list_judges(store: Store) -> list[tuple[str, str]]:
    """(label, key) of every judge that has run on this store, newest first."""
    return store.con.execute("SELECT label, key FROM judges ORDER BY created DESC, key").fetchall()
