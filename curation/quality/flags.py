"""Quality flags on pairs: what each kind means, how curation computes them, dismissal and exclusion.

Kinds computed by `prefstudio curate` (each flag is a row of `flags` with a one-line detail):

- ``identical``: the two responses have the same key (NFKC, case, whitespace folded).
- ``near_identical``: the two responses differ but are near duplicates of each other (word
  5-gram Jaccard at or above the threshold).
- ``empty``: a response is empty or whitespace only.
- ``role_marker``: a response contains a turn marker at the start of a line ("Human:",
  "Assistant:", "User:", "System:") or a chat-template token (``<|im_start|>``, ``[INST]``...).
- ``truncated``: a response has an unclosed code fence (an odd number of lines starting with
  three backticks), or generation stopped at its limit (the response's meta, as `generate`
  writes it, says ``"finished": false``, or ``"finish_reason": "length"``), or it ends mid-sentence (its last character is a letter, digit or one of
  ``, ; : ( [ { / & + = -``) while being at least `truncation_tokens` long, the length at which
  a reply that stops mid-sentence has most likely hit a generation limit.
- ``too_long``: prompt plus the longer response exceed `max_tokens` tokens. Tokens are counted
  by a model's tokenizer when `curate --tokenizer` names one (the curation job's worker counts
  them; in process, the `count_tokens` callable), else approximated as one token per 4
  characters, rounded up.
- ``duplicate``: the pair repeats another (same prompt and responses after normalization, in
  either order) that is its cluster's representative.
- ``near_duplicate``: the pair's prompt and responses are near duplicates of the representative's.
- ``label_conflict``: the labels in force (skips aside) disagree.
- ``judge_disagrees``: the judges' majority (each judge's latest verdict) picks one side, the
  labels' majority the other.

``excluded`` is set by an admin (`exclude_pairs`) to keep a pair out of snapshots. A dismissed
flag (who and when) stays dismissed when curation runs again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from curation.errors import PrefstudioError
from curation.quality.dedupe import GROUP_TABLES, prompt_text_sql
from curation.store.store import Store, fetch_value

CURATE_KINDS = (
    "identical",
    "near_identical",
    "empty",
    "role_marker",
    "truncated",
    "too_long",
    "duplicate",
    "near_duplicate",
    "label_conflict",
    "judge_disagrees",
)
EXCLUDED = "excluded"
FLAG_KINDS = (*CURATE_KINDS, EXCLUDED)

ROLE_MARKER = (
    r"(?m)^\s*(?:Human|Assistant|User|System)\s*:|<\|im_start\|>|<\|im_end\|>|<\|eot_id\|>"
    r"|<\|start_header_id\|>|<\|(?:user|assistant|system)\|>|\[/?INST\]|<start_of_turn>"
)
ENDS_MID_SENTENCE = r"[\pL\pN,;:(\[{/&+=-]$"
CODE_FENCE = r"(?m)^\s*```"
NOT_BLANK = r"[^\s\pZ]"  # any character but ASCII or Unicode whitespace
_NEW_FLAGS = "ps_new_flags"
_TOKENS = "ps_tokens"


class FlagError(PrefstudioError):
    """A flag operation refers to something that does not exist or is not allowed."""


@dataclass
class FlagRules:
    """Settings of the rule-based flags."""

    max_tokens: int = 1024
    truncation_tokens: int = 250
    count_tokens: Callable[[list[str]], list[int]] | None = None

    def __post_init__(self) -> None:
        for name in ("max_tokens", "truncation_tokens"):
            if getattr(self, name) < 1:
                raise FlagError(f"{name} must be a positive number, got {getattr(self, name)}")


def _token_table(con: duckdb.DuckDBPyConnection, rules: FlagRules, tokens: pa.Table | None) -> None:
    """Create `ps_tokens(id, tokens)` for every prompt and response: `tokens` when counted
    already (by a curation job's worker), else counted now."""
    texts = f"SELECT id, {prompt_text_sql()} AS text FROM prompts UNION ALL SELECT id, text FROM responses"
    if tokens is None and rules.count_tokens is None:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_TOKENS} AS "
            f"SELECT id, CAST(ceil(length(text) / 4) AS BIGINT) AS tokens FROM ({texts})"
        )
        return
    if tokens is None:
        tokens = count_text_tokens(con.sql(texts).to_arrow_table(), rules.count_tokens)
    con.register("ps_tokens_arrow", tokens)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_TOKENS} AS FROM ps_tokens_arrow")
    con.unregister("ps_tokens_arrow")


def count_text_tokens(texts: pa.Table, count_tokens: Callable[[list[str]], list[int]]) -> pa.Table:
    """(id, tokens) for a table of (id, text), tokens counted by `count_tokens`."""
    counts = count_tokens(texts["text"].to_pylist())
    return pa.table({"id": texts["id"], "tokens": pa.array(counts, pa.int64())})


def _flag_queries(rules: FlagRules) -> dict[str, str]:
    """A query per flag kind yielding (subject_id, detail) for every pair that has it."""
    resp, pairs = GROUP_TABLES["response"], GROUP_TABLES["pair"]
    sides = """(SELECT p.id AS pair_id, side, r.id AS response_id, r.text, r.meta
                 FROM pairs p CROSS JOIN (VALUES ('a'), ('b')) s(side)
                 JOIN responses r ON r.id = CASE side WHEN 'a' THEN p.response_a ELSE p.response_b END)"""
    grouped = f"""(SELECT p.id AS pair_id, ga.key AS key_a, gb.key AS key_b,
                          ga.near_rep AS near_a, gb.near_rep AS near_b
                   FROM pairs p JOIN {resp} ga ON ga.id = p.response_a
                   JOIN {resp} gb ON gb.id = p.response_b)"""
    human = """(SELECT pair_id, CASE WHEN votes_a > votes_b THEN 'a' WHEN votes_b > votes_a THEN 'b' END AS side,
                       votes_a, votes_b FROM pair_votes)"""
    judges = """(SELECT pair_id, count(*) FILTER (WHERE choice = 'a') AS a, count(*) FILTER (WHERE choice = 'b') AS b
                 FROM current_judgments GROUP BY pair_id)"""
    return {
        "identical": f"SELECT pair_id, 'the responses are the same after normalization' FROM {grouped} WHERE key_a = key_b",
        "near_identical": f"SELECT pair_id, 'the responses are near duplicates of each other' FROM {grouped} WHERE key_a <> key_b AND near_a = near_b",
        "empty": f"SELECT pair_id, string_agg('response ' || side || ' is empty', '; ' ORDER BY side) FROM {sides} WHERE NOT regexp_matches(text, '{NOT_BLANK}') GROUP BY pair_id",
        "role_marker": f"""SELECT pair_id, string_agg('response ' || side || ' contains ' || trim(regexp_extract(text, '{ROLE_MARKER}')), '; ' ORDER BY side)
            FROM {sides} WHERE regexp_matches(text, '{ROLE_MARKER}') GROUP BY pair_id""",
        "truncated": f"""SELECT pair_id, string_agg('response ' || side || ' ' || why, '; ' ORDER BY side) FROM (
            SELECT pair_id, side, CASE
                WHEN len(regexp_extract_all(text, '{CODE_FENCE}')) % 2 = 1 THEN 'has an unclosed code block'
                WHEN json_extract_string(meta, '$.finish_reason') = 'length'
                     OR json_extract_string(meta, '$.finished') = 'false' THEN 'stopped at the generation limit'
                WHEN t.tokens >= {rules.truncation_tokens} AND regexp_matches(rtrim(text), '{ENDS_MID_SENTENCE}')
                    THEN 'ends mid-sentence after ' || t.tokens || ' tokens' END AS why
            FROM {sides} s JOIN {_TOKENS} t ON t.id = s.response_id) WHERE why IS NOT NULL GROUP BY pair_id""",
        "too_long": f"""SELECT p.id, 'about ' || (tp.tokens + greatest(ta.tokens, tb.tokens)) || ' tokens (prompt '
                || tp.tokens || ' + response ' || CASE WHEN ta.tokens >= tb.tokens THEN 'a' ELSE 'b' END
                || ' ' || greatest(ta.tokens, tb.tokens) || ') > {rules.max_tokens}'
            FROM pairs p JOIN {_TOKENS} tp ON tp.id = p.prompt_id JOIN {_TOKENS} ta ON ta.id = p.response_a
            JOIN {_TOKENS} tb ON tb.id = p.response_b
            WHERE tp.tokens + greatest(ta.tokens, tb.tokens) > {rules.max_tokens}""",
        "duplicate": f"SELECT id, 'same as pair ' || exact_rep FROM {pairs} WHERE id <> exact_rep",
        "near_duplicate": f"""SELECT g.id, 'near duplicate of pair ' || g.near_rep FROM {pairs} g
            JOIN {pairs} rep ON rep.id = g.near_rep WHERE g.exact_key <> rep.exact_key""",
        "label_conflict": """SELECT pair_id, 'labels disagree: ' || string_agg(choice || ' ' || n, ', ' ORDER BY choice)
            FROM (SELECT pair_id, choice, count(*) AS n FROM current_labels WHERE choice <> 'skip' GROUP BY ALL)
            GROUP BY pair_id HAVING count(*) > 1""",
        "judge_disagrees": f"""SELECT h.pair_id, 'judges prefer ' || CASE WHEN j.a > j.b THEN 'a' ELSE 'b' END
                || ' (' || greatest(j.a, j.b) || ' of ' || (j.a + j.b) || '), labels ' || h.side
                || ' (' || h.votes_a || ' a, ' || h.votes_b || ' b)'
            FROM {human} h JOIN {judges} j ON j.pair_id = h.pair_id
            WHERE h.side IS NOT NULL AND j.a <> j.b AND h.side <> CASE WHEN j.a > j.b THEN 'a' ELSE 'b' END""",
    }


def compute_flags(
    con: duckdb.DuckDBPyConnection, rules: FlagRules, tokens: pa.Table | None = None
) -> None:
    """Write every pair's flags to the temporary table `ps_new_flags(subject_id, kind, detail)`.

    Needs the group tables of `curation.quality.dedupe.find_duplicates` on the same connection;
    `tokens` (id, tokens) are the texts' token counts when already counted.
    """
    _token_table(con, rules, tokens)
    union = " UNION ALL ".join(
        f"SELECT subject_id, '{kind}' AS kind, detail FROM ({query}) AS q(subject_id, detail)"
        for kind, query in _flag_queries(rules).items()
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_NEW_FLAGS} AS {union}")
    con.execute(f"DROP TABLE {_TOKENS}")


def replace_flags(con: duckdb.DuckDBPyConnection) -> None:
    """Make the undismissed curation flags equal `ps_new_flags`, changing only what differs.

    Flags found again keep their id (their detail is refreshed); a flag an admin dismissed is
    not raised again for the same pair and kind.
    """
    kinds = ", ".join(f"'{k}'" for k in CURATE_KINDS)
    active = f"subject = 'pair' AND dismissed_at IS NULL AND kind IN ({kinds})"
    con.execute(
        f"""DELETE FROM flags WHERE {active} AND (subject_id, kind) NOT IN
            (SELECT (subject_id, kind) FROM {_NEW_FLAGS})"""
    )
    con.execute(
        f"""UPDATE flags SET detail = n.detail FROM {_NEW_FLAGS} n
        WHERE flags.subject = 'pair' AND flags.dismissed_at IS NULL
          AND flags.subject_id = n.subject_id AND flags.kind = n.kind
          AND flags.detail IS DISTINCT FROM n.detail"""
    )
    con.execute(
        f"""INSERT INTO flags (subject, subject_id, kind, detail)
        SELECT 'pair', n.subject_id, n.kind, n.detail FROM {_NEW_FLAGS} n
        WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.subject = 'pair'
                          AND f.subject_id = n.subject_id AND f.kind = n.kind)
        ORDER BY n.kind, n.subject_id"""
    )
    con.execute(f"DROP TABLE {_NEW_FLAGS}")


def flag_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Pairs per flag kind, over flags not dismissed."""
    return dict(
        con.execute(
            "SELECT kind, count(DISTINCT subject_id) FROM flags "
            "WHERE subject = 'pair' AND dismissed_at IS NULL GROUP BY kind ORDER BY kind"
        ).fetchall()
    )


def _require_admin(store: Store, user: str) -> None:
    """Raise FlagError unless `user` is an admin account of this store."""
    role = fetch_value(store.con, "SELECT role FROM annotators WHERE name = ?", [user])
    if role != "admin":
        raise FlagError(f"only an admin may change flags; {user!r} is not an admin account")


def dismiss_flags(store: Store, flag_ids: Iterable[int], by: str) -> int:
    """Dismiss flags (recording who and when); returns how many were newly dismissed."""
    _require_admin(store, by)
    ids = sorted({int(i) for i in flag_ids})
    if not ids:
        return 0
    with store.transaction() as con:
        known = fetch_value(con, "SELECT count(*) FROM flags WHERE list_contains(?, id)", [ids])
        if known != len(ids):
            raise FlagError(f"{len(ids) - known} of the {len(ids)} flags to dismiss do not exist")
        return con.execute(
            "UPDATE flags SET dismissed_by = ?, dismissed_at = current_timestamp "
            "WHERE list_contains(?, id) AND dismissed_at IS NULL",
            [by, ids],
        ).fetchall()[0][0]


def exclude_pairs(store: Store, pair_ids: Iterable[str], by: str, reason: str = "") -> int:
    """Flag pairs `excluded` (kept out of snapshots); returns how many were newly excluded."""
    _require_admin(store, by)
    ids = sorted(set(pair_ids))
    if not ids:
        return 0
    detail = f"excluded by {by}" + (f": {reason}" if reason else "")
    with store.transaction() as con:
        known = fetch_value(con, "SELECT count(*) FROM pairs WHERE list_contains(?, id)", [ids])
        if known != len(ids):
            raise FlagError(f"{len(ids) - known} of the {len(ids)} pairs to exclude do not exist")
        return con.execute(
            """INSERT INTO flags (subject, subject_id, kind, detail)
            SELECT 'pair', id, ?, ? FROM unnest(?::VARCHAR[]) t(id)
            WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.subject = 'pair' AND f.subject_id = t.id
                              AND f.kind = ? AND f.dismissed_at IS NULL)""",
            [EXCLUDED, detail, ids, EXCLUDED],
        ).fetchall()[0][0]


def flagged_pairs(store: Store, kind: str | None = None, limit: int = 100) -> list[dict]:
    """Undismissed flags with their pair's prompt and responses side by side, newest kinds first."""
    if kind is not None and kind not in FLAG_KINDS:
        raise FlagError(f"unknown flag kind {kind!r}; choose from {', '.join(FLAG_KINDS)}")
    rows = store.con.execute(
        f"""SELECT f.id, f.kind, f.detail, p.id, {prompt_text_sql("pr.messages")},
                   ra.text, rb.text
        FROM flags f JOIN pairs p ON p.id = f.subject_id JOIN prompts pr ON pr.id = p.prompt_id
        JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
        WHERE f.subject = 'pair' AND f.dismissed_at IS NULL AND (? IS NULL OR f.kind = ?)
        ORDER BY f.kind, f.id LIMIT ?""",
        [kind, kind, limit],
    ).fetchall()
    names = ("flag_id", "kind", "detail", "pair_id", "prompt", "response_a", "response_b")
    return [dict(zip(names, row, strict=True)) for row in rows]
