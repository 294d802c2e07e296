"""Importing files into the store: read, detect the format, check, stage, then load in bulk.

One call is one transaction: if any record of any file is bad, nothing is stored. Ids are
content hashes, so importing the same data again adds nothing. Reading and staging need no
store: `stage_to_parquet` stages files on a DuckDB of its own (an import job's worker) and
writes the staged records to one Parquet file, which `load_staged_parquet` loads into the
store with the same code as `import_paths`.
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from curation.errors import BadInput, UnknownFormat
from curation.io.content_ids import pair_id_sql
from curation.io.formats import FORMATS, detect_format, missing_fields, unknown_format_message
from curation.io.normalize import install_macros, stage_source
from curation.io.sources import RawSource, expand_paths, read_sources
from curation.store.sql import quote_literal
from curation.store.store import Store, drop_temp_tables

IMPORT_FORMATS = ("auto", *FORMATS)
LOAD_STEPS = ("prompts", "responses", "pairs", "labels", "commit")
_call_ids = itertools.count()

ImportProgress = Callable[[int, int, str], None]
"""Told of each step of an import as it starts: (steps done, steps in all, the step's name)."""


@dataclass
class FileImport:
    """What one file (or dataset split) held."""

    path: str
    format: str
    records: int
    source: str


@dataclass
class ImportReport:
    """The files read and the rows each table gained (0 everywhere on a re-import).

    `prompt_ids` lists the prompt of every record in file order, when asked for.
    """

    files: list[FileImport] = field(default_factory=list)
    added: dict[str, int] = field(default_factory=dict)
    prompt_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"files": [vars(f) for f in self.files], "added": self.added}

    @staticmethod
    def text(report: dict) -> str:
        """A report (as to_dict gives it; `gold`: how many pairs a gold import marked) as
        text: a line per file, what was added, the gold."""
        lines = [f"{f['path']}: {f['records']} records as {f['format']}" for f in report["files"]]
        lines.append("added: " + ", ".join(f"{n} {table}" for table, n in report["added"].items()))
        if "gold" in report:
            lines.append(f"marked {report['gold']} pairs as gold")
        return "\n".join(lines)


def import_paths(
    store: Store,
    paths: Iterable[str | Path],
    *,
    format: str = "auto",
    source: str | None = None,
    progress: ImportProgress | None = None,
    list_prompts: bool = False,
) -> ImportReport:
    """Import files and folders (every supported file inside) as one transaction.

    `format` forces a format for every file; `source` names where the data came from
    (default: each file's stem). Imported preferences become labels by `import:<source>`.
    `progress` hears of each step: reading each file, then LOAD_STEPS, then (total, total, "done").
    `list_prompts` fills the report's `prompt_ids`.
    Raises BadInput naming the file, record and field of the first problem; stores nothing then.
    """
    check_format(format)
    files = expand_paths(list(paths))
    prefix = _new_prefix()
    con = store.con
    steps = _Steps(len(files) + len(LOAD_STEPS), progress)
    try:
        with store.transaction():
            report = ImportReport(
                _stage_files(con, files, prefix, format=format, source=source, steps=steps)
            )
            _load_items(con, prefix, report, steps, list_prompts=list_prompts)
            steps.start("commit")
    finally:
        drop_temp_tables(con, prefix)
    steps.start("done")
    return report


def stage_to_parquet(
    paths: Iterable[str | Path],
    target: Path,
    *,
    format: str = "auto",
    source: str | None = None,
    progress: ImportProgress | None = None,
) -> list[FileImport]:
    """Read and check files as `import_paths` does, on an in-memory DuckDB of their own, and
    write their staged items to the Parquet file `target` whole (for `load_staged_parquet`).

    `progress` hears of reading each file, then of writing. Raises BadInput as `import_paths`
    does, and then writes nothing.
    """
    check_format(format)
    files = expand_paths(list(paths))
    prefix = _new_prefix()
    steps = _Steps(len(files) + 1, progress)
    scratch = target.with_name(f".{target.name}.tmp")
    spill = target.with_name(f".{target.name}.spill")  # what does not fit in memory
    try:
        with duckdb.connect(config={"temp_directory": str(spill)}) as con:
            staged = _stage_files(con, files, prefix, format=format, source=source, steps=steps)
            steps.start(f"writing {target.name}")
            con.execute(
                f"COPY (SELECT * FROM {prefix}_items) TO {quote_literal(scratch)} (FORMAT parquet)"
            )
        os.replace(scratch, target)
    finally:
        scratch.unlink(missing_ok=True)
        shutil.rmtree(spill, ignore_errors=True)
    return staged


def load_staged_parquet(
    store: Store, staged: Path, files: list[FileImport], *, list_prompts: bool = False
) -> ImportReport:
    """Load the items `stage_to_parquet` wrote (from `files`) into the store, in one
    transaction (part of the caller's when one is open), as `import_paths` loads its own."""
    prefix = _new_prefix()
    report = ImportReport(files)
    items = f"SELECT * FROM read_parquet({quote_literal(staged)})"
    with store.transaction() as con:  # a failure rolls the temporary tables back too
        con.execute(f"CREATE TEMP VIEW {prefix}_items AS {items}")
        steps = _Steps(len(LOAD_STEPS), None)
        _load_items(con, prefix, report, steps, list_prompts=list_prompts)
        drop_temp_tables(con, prefix)
    return report


def check_format(format: str) -> None:
    """Raise BadInput unless `format` is one an import may force (or `auto`)."""
    if format not in IMPORT_FORMATS:
        raise BadInput(
            "--format", f"unknown format {format!r}; choose from {', '.join(IMPORT_FORMATS)}"
        )


def _new_prefix() -> str:
    """A name prefix for one call's temporary tables, unlike any other call's."""
    return f"ps_import_{next(_call_ids)}"


def _stage_files(
    con: duckdb.DuckDBPyConnection,
    files: list[Path],
    prefix: str,
    *,
    format: str,
    source: str | None,
    steps: _Steps,
) -> list[FileImport]:
    """Read, check and stage every file on `con`, then gather their records in the temporary
    view `<prefix>_items` (one row per record, `part` and `rec` its place); what each held."""
    install_macros(con)
    stages: list[tuple[str, str]] = []
    found: list[FileImport] = []
    for index, path in enumerate(files):
        steps.start(f"reading {path.name}")
        name = source or (path.stem if path.is_file() else path.name)
        for raw in read_sources(con, path, f"{prefix}_raw{index}"):
            fmt = _resolve_format(raw, format)
            stage = f"{prefix}_stage{len(stages)}"
            records = stage_source(con, raw, fmt, stage)
            stages.append((stage, name))
            found.append(FileImport(str(path), fmt, records, name))
    items = " UNION ALL BY NAME ".join(
        f"SELECT {part} AS part, rowid AS rec, {quote_literal(name)} AS src, * FROM {stage}"
        for part, (stage, name) in enumerate(stages)
    )
    con.execute(f"CREATE TEMP VIEW {prefix}_items AS {items}")
    return found


def _load_items(
    con: duckdb.DuckDBPyConnection,
    prefix: str,
    report: ImportReport,
    steps: _Steps,
    *,
    list_prompts: bool,
) -> None:
    """Load `<prefix>_items` into the store tables: the report gains what was added, and the
    prompt of every record in file order when `list_prompts`."""
    report.added = _load_staged(con, prefix, steps)
    if list_prompts:
        report.prompt_ids = [
            pid
            for (pid,) in con.execute(
                f"SELECT pid FROM {prefix}_items ORDER BY part, rec"
            ).fetchall()
        ]


class _Steps:
    """Counts an import's steps for its ImportProgress, if it has one."""

    def __init__(self, total: int, progress: ImportProgress | None) -> None:
        self.total, self.progress, self.done = total, progress, -1

    def start(self, name: str) -> None:
        """The step `name` begins (the one before it is done)."""
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total, name)


def _resolve_format(raw: RawSource, forced: str) -> str:
    """The format of a source: forced, or detected from its fields, with required fields checked."""
    fmt = detect_format(raw.fields, raw.first) if forced == "auto" else forced
    half_pair = {"chosen", "rejected"} - set(raw.fields)
    if forced == "auto" and len(half_pair) == 1:
        raise raw.error(
            "missing in every record, though records have the other half of a pair",
            field=half_pair.pop(),
        )
    if fmt is None:
        raise UnknownFormat(raw.path, unknown_format_message(raw.fields))
    missing = missing_fields(fmt, raw.fields)
    if missing:
        raise raw.error(f"missing in every record for format {fmt}", field=missing[0])
    return fmt


def _load_staged(con: duckdb.DuckDBPyConnection, prefix: str, steps: _Steps) -> dict[str, int]:
    """Insert the records of `<prefix>_items` into the store tables; return how many rows
    each gained.

    Within one call the first occurrence of a prompt, response or pair wins; rows already in
    the store are left alone.
    """
    # One row per response, without its text: the keys the dedupe and the pairs are made of.
    con.execute(
        f"""CREATE TEMP TABLE {prefix}_resp AS
        SELECT *, scores[slot] AS score
        FROM (SELECT part, rec, pid, src, reference, thumb, scores,
                     unnest(rids) AS rid, generate_subscripts(rids, 1) AS slot
              FROM {prefix}_items)"""
    )
    con.execute(
        f"""CREATE TEMP TABLE {prefix}_pairs AS
        SELECT a.pid, a.src, a.rid AS ra, b.rid AS rb,
               {pair_id_sql("a.rid", "b.rid")} AS pair_id,
               CASE WHEN a.score IS NULL OR b.score IS NULL THEN NULL
                    WHEN a.score > b.score THEN 'a' WHEN a.score < b.score THEN 'b' ELSE 'tie' END
                   AS choice
        FROM {prefix}_resp a JOIN {prefix}_resp b
          ON a.part = b.part AND a.rec = b.rec AND a.slot < b.slot"""
    )
    added = {}
    steps.start("prompts")
    added["prompts"] = _count(
        con.execute(
            f"""INSERT INTO prompts (id, messages, is_chat, source)
            SELECT pid, messages_json, is_chat, src FROM {prefix}_items
            WHERE (part, rec) IN (SELECT min((part, rec)) FROM {prefix}_items
                                  WHERE pid NOT IN (SELECT id FROM prompts) GROUP BY pid)"""
        )
    )
    steps.start("responses")
    added["responses"] = _count(
        con.execute(
            f"""INSERT INTO responses (id, prompt_id, text, source, is_reference, model)
            SELECT rid, pid, text, src, reference, models[slot]
            FROM (SELECT part, rec, pid, src, reference, models, unnest(rids) AS rid,
                         unnest(texts) AS text, generate_subscripts(texts, 1) AS slot
                  FROM {prefix}_items)
            WHERE (part, rec, slot) IN (SELECT min((part, rec, slot)) FROM {prefix}_resp
                                        WHERE rid NOT IN (SELECT id FROM responses) GROUP BY rid)"""
        )
    )
    con.execute(
        f"""UPDATE responses SET is_reference = true
        WHERE NOT is_reference AND id IN (SELECT rid FROM {prefix}_resp WHERE reference)"""
    )
    steps.start("pairs")
    added["pairs"] = _count(
        con.execute(
            f"""INSERT INTO pairs (id, prompt_id, response_a, response_b, origin)
        SELECT DISTINCT ON (pair_id) pair_id, pid, ra, rb, 'import:' || src FROM {prefix}_pairs
        WHERE pair_id NOT IN (SELECT id FROM pairs)"""
        )
    )
    steps.start("labels")
    added["labels"] = _count(
        con.execute(
            f"""INSERT INTO labels (pair_id, annotator, choice)
        SELECT DISTINCT new.pair_id, new.annotator, new.choice FROM (
            SELECT s.pair_id, 'import:' || s.src AS annotator,
                   CASE WHEN s.choice = 'tie' OR p.response_a = s.ra THEN s.choice
                        WHEN s.choice = 'a' THEN 'b' ELSE 'a' END AS choice
            FROM {prefix}_pairs s JOIN pairs p ON p.id = s.pair_id
            WHERE s.choice IS NOT NULL) new
        WHERE NOT EXISTS (SELECT 1 FROM labels l WHERE l.pair_id = new.pair_id
                          AND l.annotator = new.annotator AND l.choice = new.choice)"""
        )
    )
    added["ratings"] = _count(
        con.execute(
            f"""INSERT INTO ratings (response_id, annotator, thumb)
        SELECT DISTINCT r.rid, 'import:' || r.src, r.thumb FROM {prefix}_resp r
        WHERE r.thumb IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM ratings x WHERE x.response_id = r.rid
            AND x.annotator = 'import:' || r.src AND x.thumb = r.thumb)"""
        )
    )
    return added


def _count(result: duckdb.DuckDBPyConnection) -> int:
    """Rows changed by the statement just run."""
    return int(result.fetchall()[0][0])
