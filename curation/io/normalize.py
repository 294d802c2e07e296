"""Validate raw records and turn each format into one canonical staging table.

A staging table has, per record and in file order (its `rowid` grows with the record number): the prompt
`messages` (list of role/content structs), `is_chat`, the response `texts`, their `scores`
(NULL when unlabelled; higher is better) and `models` (NULL when not given), an unpaired
`thumb`, and `reference` for demonstrations (SFT); then the hashes the store's ids are made
of. Every format but the two that need text splitting (HH transcripts, implicit prompts) is
checked and converted in SQL, in one pass over the file.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import NamedTuple

import duckdb
import pyarrow as pa

from curation.io.content_ids import prompt_id_sql, response_id_sql
from curation.io.sources import RawSource, read_error
from curation.io.transcripts import (
    TranscriptError,
    split_hh_pair,
    split_implicit_messages,
    split_implicit_text,
)
from curation.store.sql import quote_ident, quote_literal
from curation.store.store import fetch_one

ROLES = "('system', 'user', 'assistant', 'tool')"
# JSON values arrive minified, so the first character tells a string ('"') or a list ('[')
# without parsing the (possibly long) value again. A CASE, unlike OR, evaluates its second
# branch only for the rows the first did not settle, so the common string case parses nothing.
MACROS = f"""
CREATE OR REPLACE TEMP MACRO ps_kind(x) AS CASE json_type(x)
    WHEN 'VARCHAR' THEN 'a string' WHEN 'ARRAY' THEN 'a list' WHEN 'OBJECT' THEN 'an object'
    WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null' ELSE 'a number' END;
CREATE OR REPLACE TEMP MACRO ps_is_str(x) AS coalesce(starts_with(x, '"'), false);
CREATE OR REPLACE TEMP MACRO ps_is_list(x) AS coalesce(starts_with(x, '['), false);
CREATE OR REPLACE TEMP MACRO ps_is_msgs(x) AS coalesce(
    ps_is_list(x) AND json_array_length(x) > 0 AND list_bool_and(list_transform(
        json_extract(x, '$[*]'), lambda m: coalesce(json_type(m, '$.role') = 'VARCHAR'
            AND json_type(m, '$.content') = 'VARCHAR' AND json_extract_string(m, '$.role') IN {ROLES}, false))),
    false);
CREATE OR REPLACE TEMP MACRO ps_is_str_or_msgs(x) AS CASE WHEN ps_is_str(x) THEN true ELSE ps_is_msgs(x) END;
CREATE OR REPLACE TEMP MACRO ps_is_reply(x) AS CASE WHEN ps_is_str(x) THEN true ELSE coalesce(
    ps_is_msgs(x) AND json_array_length(x) = 1 AND json_extract_string(x, '$[0].role') = 'assistant',
    false) END;
CREATE OR REPLACE TEMP MACRO ps_is_strs(x) AS coalesce(
    ps_is_list(x) AND json_array_length(x) > 0
    AND list_bool_and(list_transform(json_extract(x, '$[*]'), lambda e: ps_is_str(e))), false);
CREATE OR REPLACE TEMP MACRO ps_is_nums(x, n) AS coalesce(
    ps_is_list(x) AND json_array_length(x) = n AND list_bool_and(list_transform(
        json_extract(x, '$[*]'), lambda e: json_type(e) IN ('BIGINT', 'UBIGINT', 'DOUBLE'))), false);
CREATE OR REPLACE TEMP MACRO ps_all_finite(x) AS coalesce(list_bool_and(list_transform(
    TRY_CAST(x AS DOUBLE[]), lambda e: isfinite(e))), false);
CREATE OR REPLACE TEMP MACRO ps_msg_list(l) AS
    list_transform(l, lambda m: {{'role': json_extract_string(m, '$.role'), 'content': json_extract_string(m, '$.content')}});
CREATE OR REPLACE TEMP MACRO ps_msgs(x) AS CASE WHEN ps_is_str(x)
    THEN [{{'role': 'user', 'content': json_extract_string(x, '$')}}] ELSE ps_msg_list(json_extract(x, '$[*]')) END;
CREATE OR REPLACE TEMP MACRO ps_reply(x) AS
    CASE WHEN ps_is_str(x) THEN json_extract_string(x, '$') ELSE json_extract_string(x, '$[0].content') END;
"""

STAGE_SCHEMA = pa.schema(
    [
        ("messages", pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))),
        ("is_chat", pa.bool_()),
        ("texts", pa.list_(pa.string())),
        ("scores", pa.list_(pa.float64())),
        ("models", pa.list_(pa.string())),
        ("thumb", pa.bool_()),
        ("reference", pa.bool_()),
    ]
)


class Check(NamedTuple):
    """What one field must hold: SQL true when the value is acceptable, what was expected, and
    the whole message when `problem` replaces "expected ..., got ..."."""

    field: str
    ok: str
    expected: str
    problem: str | None = None


STRING_OR_MESSAGES = "a string or a list of {role, content} messages"
REPLY = "a string or a list of one assistant message"


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define the SQL macros the checks and conversions use, on this connection."""
    con.execute(MACROS)


def _checks(format_name: str, source: RawSource) -> list[Check]:
    """What each field of `format_name` must hold, as SQL over the raw JSON columns."""
    f = {name: quote_ident(name) for name in source.fields}
    prompt = Check(
        "prompt",
        f"ps_is_str_or_msgs({f.get('prompt')})",
        STRING_OR_MESSAGES,
    )
    if format_name == "preference":
        if "prompt" in f:
            return [prompt] + [
                Check(k, f"ps_is_reply({f[k]})", REPLY) for k in ("chosen", "rejected")
            ]
        return [
            Check(k, f"ps_is_str_or_msgs({f[k]})", STRING_OR_MESSAGES)
            for k in ("chosen", "rejected")
        ]
    if format_name == "hh":
        return [Check(k, f"ps_is_str({f[k]})", "a string") for k in ("chosen", "rejected")]
    if format_name == "unpaired":
        return [
            prompt,
            Check("completion", f"ps_is_reply({f['completion']})", REPLY),
            Check(
                "label", f"coalesce(json_type({f['label']}) = 'BOOLEAN', false)", "true or false"
            ),
        ]
    if format_name == "sft" and "messages" in f:
        m = f["messages"]
        return [
            Check(
                "messages",
                f"ps_is_msgs({m}) AND json_array_length({m}) >= 2 "
                f"AND coalesce(json_extract_string(json_extract({m}, '$[*]')[-1], '$.role') = 'assistant', false)",
                "a list of messages ending with an assistant message",
            )
        ]
    if format_name == "sft":
        return [prompt, Check("completion", f"ps_is_reply({f['completion']})", REPLY)]
    if format_name == "prompts":
        return [prompt]
    checks = [
        prompt,
        Check("responses", f"ps_is_strs({f['responses']})", "a non-empty list of strings"),
    ]
    if "models" in f:
        checks.append(
            Check(
                "models",
                f"{f['models']} IS NULL OR (ps_is_strs({f['models']}) AND "
                f"json_array_length({f['models']}) = json_array_length({f['responses']}))",
                "a list of model names, one per response",
            )
        )
    for key in ("scores", "ranks"):
        if key in f:
            checks.append(
                Check(
                    key,
                    f"{f[key]} IS NULL OR ps_is_nums({f[key]}, json_array_length({f['responses']}))",
                    "a list of numbers, one per response",
                )
            )
            checks.append(
                Check(
                    key,
                    f"{f[key]} IS NULL OR ps_all_finite({f[key]})",
                    "finite numbers",
                    problem="expected finite numbers, got NaN or Infinity",
                )
            )
    return checks


def _checked(checks: list[Check], relation: str) -> str:
    """`relation` with a boolean column `ok_<i>` per check, each check evaluated once."""
    flags = ", ".join(f"({check.ok}) AS ok_{i}" for i, check in enumerate(checks))
    return f"(SELECT *, {flags} FROM {relation})"


def _problem_columns(checks: list[Check]) -> str:
    """SELECT items `problem_field` and `problem` over `_checked` columns: the first failed
    check of a record, else NULL."""
    field_case = " ".join(f"WHEN NOT ok_{i} THEN '{c.field}'" for i, c in enumerate(checks))
    message_case = " ".join(
        f"WHEN NOT ok_{i} THEN CASE WHEN {quote_ident(c.field)} IS NULL THEN 'missing' "
        f"ELSE {_problem_sql(c)} END"
        for i, c in enumerate(checks)
    )
    return f"CASE {field_case} END AS problem_field, CASE {message_case} END AS problem"


def _problem_sql(check: Check) -> str:
    """SQL for the message of a value that failed `check`."""
    if check.problem:
        return quote_literal(check.problem)
    return f"'expected {check.expected}, got ' || ps_kind({quote_ident(check.field)})"


def _raise_first_problem(
    con: duckdb.DuckDBPyConnection, relation: str, source: RawSource, rec: str | None = None
) -> None:
    """Raise BadInput for the first record (in file order) of `relation` that failed a check.

    Records are numbered by the column `rec`, else by their place in the table (`rowid` counts
    on from wherever DuckDB starts it, so it is taken relative to the first row's).
    """
    number = rec or f"rowid - (SELECT min(rowid) FROM {relation})"
    row = fetch_one(
        con,
        f"SELECT {number}, problem_field, problem FROM {relation} "
        f"WHERE problem_field IS NOT NULL ORDER BY {rec or 'rowid'} LIMIT 1",
    )
    if row is not None:
        number, field, message = row
        raise source.error(message, rec=number, field=field)


def _conversion_sql(format_name: str, source: RawSource) -> str:
    """SELECT list converting raw JSON columns into the staging columns, for SQL formats."""
    f = {name: quote_ident(name) for name in source.fields}
    no_scores, no_thumb, models = "NULL::DOUBLE[]", "NULL::BOOLEAN", "NULL::VARCHAR[]"
    if format_name == "responses" and "models" in f:
        models = f"list_transform(json_extract({f['models']}, '$[*]'), lambda e: json_extract_string(e, '$'))"
    if format_name == "sft" and "messages" in f:
        m = f"(json_extract({f['messages']}, '$[*]'))"
        return (
            f"ps_msg_list(list_slice({m}, 1, len({m}) - 1)) AS messages, true AS is_chat, "
            f"[json_extract_string({m}[-1], '$.content')] AS texts, {no_scores} AS scores, {no_thumb} AS thumb, "
            f"true AS reference, {models} AS models"
        )
    prompt = f"ps_msgs({f['prompt']}) AS messages, ps_is_list({f['prompt']}) AS is_chat"
    if format_name == "preference":
        columns = (
            f"[ps_reply({f['chosen']}), ps_reply({f['rejected']})]",
            "[1.0, 0.0]",
            no_thumb,
            "false",
        )
    elif format_name == "unpaired":
        columns = (
            f"[ps_reply({f['completion']})]",
            no_scores,
            f"TRY_CAST({f['label']} AS BOOLEAN)",
            "false",
        )
    elif format_name == "sft":
        columns = (f"[ps_reply({f['completion']})]", no_scores, no_thumb, "true")
    elif format_name == "prompts":
        columns = ("[]::VARCHAR[]", no_scores, no_thumb, "false")
    else:
        # Scores as given (higher is better), else ranks negated (rank 1 is best).
        given = [f"TRY_CAST({f['scores']} AS DOUBLE[])"] if "scores" in f else []
        if "ranks" in f:
            given.append(f"list_transform(TRY_CAST({f['ranks']} AS DOUBLE[]), lambda r: -r)")
        scores = f"coalesce({', '.join([*given, no_scores])})"
        columns = (
            f"list_transform(json_extract({f['responses']}, '$[*]'), lambda e: json_extract_string(e, '$'))",
            scores,
            no_thumb,
            "false",
        )
    texts, scores, thumb, reference = columns
    return (
        f"{prompt}, {texts} AS texts, {scores} AS scores, {thumb} AS thumb, "
        f"{reference} AS reference, {models} AS models"
    )


def _split_in_python(
    con: duckdb.DuckDBPyConnection, source: RawSource, splitter: Callable[[object, object], tuple]
) -> pa.Table:
    """Staging rows for formats whose prompt must be cut out of chosen/rejected in Python."""
    rows = con.execute(f"SELECT chosen, rejected FROM {source.relation}").fetchall()
    columns: dict[str, list] = {name: [] for name in STAGE_SCHEMA.names}
    for rec, (chosen_json, rejected_json) in enumerate(rows):
        chosen, rejected = json.loads(chosen_json), json.loads(rejected_json)
        try:
            messages, chosen_text, rejected_text, is_chat = splitter(chosen, rejected)
        except TranscriptError as error:
            raise source.error(str(error), rec=rec, field=error.field) from None
        columns["messages"].append([{"role": m["role"], "content": m["content"]} for m in messages])
        columns["is_chat"].append(is_chat)
        columns["texts"].append([chosen_text, rejected_text])
        columns["scores"].append([1.0, 0.0])
        columns["models"].append(None)
        columns["thumb"].append(None)
        columns["reference"].append(False)
    return pa.table(columns, schema=STAGE_SCHEMA)


def _split_hh(chosen: object, rejected: object) -> tuple:
    messages, chosen_text, rejected_text = split_hh_pair(chosen, rejected)
    return messages, chosen_text, rejected_text, True


def _split_implicit(chosen: object, rejected: object) -> tuple:
    if isinstance(chosen, str) and isinstance(rejected, str):
        prompt, chosen_text, rejected_text = split_implicit_text(chosen, rejected)
        return [{"role": "user", "content": prompt}], chosen_text, rejected_text, False
    if isinstance(chosen, list) and isinstance(rejected, list):
        messages, chosen_text, rejected_text = split_implicit_messages(chosen, rejected)
        return messages, chosen_text, rejected_text, True
    raise TranscriptError("chosen and rejected must both be strings or both be message lists")


def stage_source(
    con: duckdb.DuckDBPyConnection, source: RawSource, format_name: str, table: str
) -> int:
    """Check every record of `source` as `format_name`, write its staging `table` and return
    how many records it has.

    The prompt is kept only as `messages_json` (its canonical JSON), with `pid` (its hash) and
    `rids` (the hash of each response with its prompt). Raises BadInput for the first bad
    record or a file DuckDB cannot read.
    """
    try:
        _create_stage(con, source, format_name, table)
    except (duckdb.InvalidInputException, duckdb.IOException) as error:
        # What DuckDB's readers raise for a file they cannot parse past the sampled records;
        # any other error is a fault of the SQL here and surfaces as it is.
        raise read_error(source.path, error) from None
    return fetch_one(con, f"SELECT count(*) FROM {table}")[0]


def _create_stage(
    con: duckdb.DuckDBPyConnection, source: RawSource, format_name: str, table: str
) -> None:
    """The body of `stage_source`."""
    checks = _checks(format_name, source)
    python_splitter = {"hh": _split_hh}.get(format_name)
    if format_name == "preference" and "prompt" not in source.fields:
        python_splitter = _split_implicit
    if python_splitter:
        _raise_first_problem(
            con,
            f"(SELECT row_number() OVER () - 1 AS rec, {_problem_columns(checks)} "
            f"FROM {_checked(checks, source.relation)})",
            source,
            rec="rec",
        )
        con.register(f"{table}_arrow", _split_in_python(con, source, python_splitter))
        converted = f"SELECT * FROM {table}_arrow"
    else:
        converted = (
            f"SELECT {_problem_columns(checks)}, {_conversion_sql(format_name, source)} "
            f"FROM {_checked(checks, source.relation)}"
        )
    con.execute(
        f"""CREATE TEMP TABLE {table} AS
        SELECT * EXCLUDE (messages),
               list_transform(texts, lambda t: {response_id_sql("pid", "t")}) AS rids
        FROM (SELECT *, {prompt_id_sql("messages_json")} AS pid
              FROM (SELECT *, to_json(messages) AS messages_json FROM ({converted})))"""
    )
    if python_splitter:
        con.unregister(f"{table}_arrow")
    else:
        _raise_first_problem(con, table, source)
