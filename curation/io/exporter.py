"""Exporting the store in the dataset formats TRL's trainers read, and its raw labels.

`dpo` and `rm` write preference rows (prompt/chosen/rejected), `kto` unpaired rows
(prompt/completion/label) and `sft` prompt/completion rows. Rows are conversational (lists of
messages) when any exported prompt was imported as a conversation, else plain strings.
`labels` writes every label in force with its pair's texts, for analysing the annotation.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from curation.errors import ExportError
from curation.results import Fields
from curation.store.sql import quote_literal
from curation.store.store import Store, fetch_value

EXPORT_FORMATS = ("dpo", "rm", "kto", "sft", "labels")
EXPORT_FILE_TYPES = ("jsonl", "parquet", "hf")
MESSAGES = "STRUCT(role VARCHAR, content VARCHAR)[]"

# The pairs that have a winner: (pair_id, prompt_id, chosen_id, rejected_id). By default,
# pairs whose labels in force favour one side; snapshots pass their policy's own.
LABELLED_WINNERS = """
    SELECT p.id AS pair_id, p.prompt_id,
           CASE WHEN v.votes_a > v.votes_b THEN p.response_a ELSE p.response_b END AS chosen_id,
           CASE WHEN v.votes_a > v.votes_b THEN p.response_b ELSE p.response_a END AS rejected_id
    FROM pairs p JOIN pair_votes v ON v.pair_id = p.id
    WHERE v.votes_a <> v.votes_b AND p.response_a <> p.response_b
"""
# Each query yields `prompt_id`, a `row_key` that orders rows within a prompt, a `pair_id`
# (preference rows), and the text columns of its format, over a CTE `winners`.
_PREFERENCE = """
    SELECT w.prompt_id, w.pair_id AS row_key, w.pair_id, c.text AS chosen, r.text AS rejected
    FROM winners w JOIN responses c ON c.id = w.chosen_id JOIN responses r ON r.id = w.rejected_id
"""
_UNPAIRED = """
    thumbs AS (
        SELECT response_id, count(*) FILTER (WHERE thumb) AS up, count(*) FILTER (WHERE NOT thumb) AS down
        FROM ratings GROUP BY response_id),
    examples AS (
        SELECT response_id, up > down AS label FROM thumbs WHERE up <> down
        UNION SELECT chosen_id, true FROM winners
        UNION SELECT rejected_id, false FROM winners{extra})
    SELECT r.prompt_id, r.id || e.label::VARCHAR AS row_key, r.text AS completion, e.label
    FROM examples e JOIN responses r ON r.id = e.response_id
"""
_DEMONSTRATIONS = """
    good AS (
        SELECT id AS response_id FROM responses WHERE is_reference
        UNION SELECT chosen_id FROM winners
        UNION SELECT response_id FROM ratings GROUP BY response_id
              HAVING count(*) FILTER (WHERE thumb) > count(*) FILTER (WHERE NOT thumb))
    SELECT r.prompt_id, r.id AS row_key, r.text AS completion
    FROM good g JOIN responses r ON r.id = g.response_id
"""
# One row per label in force: who chose what (relative to response_a) on which texts.
_LABELS = f"""
    SELECT l.id AS label_id, l.pair_id, p.prompt_id, pr.messages::{MESSAGES} AS prompt,
           ra.text AS response_a, rb.text AS response_b, l.annotator, l.choice, l.strength,
           l.rationale, l.shown_order, l.ms_spent, l.created
    FROM current_labels l JOIN pairs p ON p.id = l.pair_id
    JOIN prompts pr ON pr.id = p.prompt_id
    JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
    ORDER BY l.id
"""
_TEXT_COLUMNS = {
    "dpo": ("chosen", "rejected"),
    "rm": ("chosen", "rejected"),
    "kto": ("completion",),
    "sft": ("completion",),
}


def format_query(fmt: str, winners: str = LABELLED_WINNERS, extra_examples: str = "") -> str:
    """The rows of export format `fmt` (ids and texts) given the SQL of the winning pairs.

    `extra_examples` adds unpaired (response_id, label) rows to `kto`.
    """
    if fmt not in _TEXT_COLUMNS:
        raise ExportError(
            f"unknown training format {fmt!r}; choose from {', '.join(_TEXT_COLUMNS)}"
        )
    if fmt in ("dpo", "rm"):
        return f"WITH winners AS ({winners}) {_PREFERENCE}"
    if fmt == "kto":
        extra = f" UNION {extra_examples}" if extra_examples else ""
        return f"WITH winners AS ({winners}), {_UNPAIRED.format(extra=extra)}"
    return f"WITH winners AS ({winners}), {_DEMONSTRATIONS}"


@dataclass
class ExportReport(Fields):
    """Where an export went and how many rows it has."""

    format: str
    path: str
    rows: int
    conversational: bool

    def text(self) -> str:
        shape = "conversational" if self.conversational else "standard"
        return f"wrote {self.rows} {self.format} rows ({shape}) to {self.path}"


def export_relation_sql(
    store: Store,
    fmt: str,
    query: str | None = None,
    *,
    with_ids: bool = False,
    where: str = "true",
) -> tuple[str, bool]:
    """SQL for the rows of export format `fmt`, and whether they are conversational.

    `query` (from `format_query`) replaces the default rows; `with_ids` keeps `prompt_id`
    (and `pair_id` for preference rows) as the first columns; `where` filters rows (on `q.`).
    Whether rows are conversational is decided over all rows of `query`, before `where`.
    """
    query = query or format_query(fmt)
    text_columns = _TEXT_COLUMNS[fmt]
    conversational = bool(
        fetch_value(
            store.con,
            f"SELECT bool_or(p.is_chat) FROM ({query}) q JOIN prompts p ON p.id = q.prompt_id",
        )
    )
    if conversational:
        prompt = f"p.messages::{MESSAGES} AS prompt"
        texts = [f"[{{'role': 'assistant', 'content': q.{c}}}] AS {c}" for c in text_columns]
    else:
        prompt = "json_extract_string(p.messages, '$[0].content') AS prompt"
        texts = [f"q.{c}" for c in text_columns]
    ids = ["q.prompt_id", *(["q.pair_id"] if fmt in ("dpo", "rm") else [])] if with_ids else []
    extra = ["q.label"] if fmt == "kto" else []
    sql = (
        f"SELECT {', '.join([*ids, prompt, *texts, *extra])} "
        f"FROM ({query}) q JOIN prompts p ON p.id = q.prompt_id WHERE {where} "
        "ORDER BY q.prompt_id, q.row_key"
    )
    return sql, conversational


def export_dataset(
    store: Store, fmt: str, out: str | Path, file_type: str = "jsonl"
) -> ExportReport:
    """Write export format `fmt` to `out` as `jsonl`, `parquet` or an `hf` datasets folder.

    The file appears whole or not at all (written aside, then renamed into place).
    """
    check_file_type(file_type)
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose from {', '.join(EXPORT_FORMATS)}")
    if fmt == "labels":
        sql, conversational = _LABELS, True
    else:
        sql, conversational = export_relation_sql(store, fmt)
    rows = write_rows(store, sql, Path(out), file_type)
    if rows == 0:
        raise ExportError(f"nothing to export as {fmt}: the store has no rows for it yet")
    return ExportReport(fmt, str(out), rows, conversational)


def check_file_type(file_type: str) -> None:
    """Raise ExportError unless `file_type` is one the exporter writes."""
    if file_type not in EXPORT_FILE_TYPES:
        raise ExportError(
            f"unknown file type {file_type!r}; choose from {', '.join(EXPORT_FILE_TYPES)}"
        )


def write_rows(store: Store, sql: str, out: Path, file_type: str) -> int:
    """Write the rows of `sql` to `out` atomically; return how many (none: nothing written)."""
    if file_type == "hf" and out.exists():
        raise ExportError(f"{out} already exists; choose a new folder for a datasets export")
    try:
        return _write_atomically(store, sql, out, file_type)
    except OSError as error:
        raise ExportError(f"cannot write {out}: {error.strerror or error}") from None


def _write_atomically(store: Store, sql: str, out: Path, file_type: str) -> int:
    """Write the rows of `sql` beside `out`, then rename the result into place.

    Returns the number of rows; with none, nothing is put in place.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        written = scratch / out.name
        if file_type == "hf":
            import datasets

            table = store.con.sql(sql).to_arrow_table()
            rows = table.num_rows
            if rows:
                datasets.Dataset(table).save_to_disk(str(written))
        else:
            copy_format = "json" if file_type == "jsonl" else "parquet"
            rows = fetch_value(
                store.con, f"COPY ({sql}) TO {quote_literal(written)} (FORMAT {copy_format})"
            )
        if rows:
            os.replace(written, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return rows
