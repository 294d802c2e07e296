"""Snapshots: immutable, named, hashed freezes of the curated data as TRL-format Parquet files.

A snapshot `NAME` lives in `<store>.files/snapshots/NAME/`: `dpo/train.parquet`,
`dpo/test.parquet` (prompt, chosen, rejected, with prompt_id and pair_id; also for reward
models), `kto/...` (prompt, completion, label), `sft/...` (prompt, completion), a dataset card
`README.md` (see `curation.snapshots.dataset_card`) and `manifest.json` (policy, counts per split and
format, source hashes, each file's sha256).
The rows are `curation.io.exporter`'s, from the winners the policy picks. Prompts split into
train and test by prompt cluster (near-duplicate prompts share a split), by a hash of the
cluster and the policy's seed, so the same data and policy always split the same way.
Files are written to a scratch folder, made read-only and renamed into place; a name is never
reused and a snapshot's row and files are never changed (`verify_snapshot` checks the files).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb

from curation.errors import ExportError, NotFound, PrefstudioError
from curation.io.exporter import (
    ExportReport,
    check_file_type,
    export_relation_sql,
    format_query,
    write_rows,
)
from curation.labelling.gold_scores import left_out_by_gold, policy_votes_sql
from curation.quality.agreement import annotator_agreement
from curation.quality.dedupe import GROUP_TABLES, create_group_table, drop_group_tables
from curation.results import Fields, Listing
from curation.snapshots.dataset_card import CardFacts, write_card
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.snapshots.snapshot_verify import (
    MANIFEST_FILE,
    SnapshotCheck,
    check_folder,
    files_sha256,
    hash_folder_files,
)
from curation.store.sql import quote_literal
from curation.store.store import Store, fetch_one, fetch_value

SNAPSHOT_FORMATS = ("dpo", "kto", "sft")  # dpo also serves reward models (rm)
SPLITS = ("train", "test")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_OUTCOMES = "ps_snap_outcomes"
_SPLIT = "ps_snap_split"
# Tables whose content a snapshot is made from, hashed into its manifest.
_SOURCES = {
    "prompts": "SELECT id FROM prompts",
    "responses": "SELECT id FROM responses",
    "pairs": "SELECT id FROM pairs",
    "labels": "SELECT id::VARCHAR FROM current_labels",
    "ratings": "SELECT id::VARCHAR FROM ratings",
    "judgments": "SELECT id::VARCHAR FROM current_judgments",
    "flags": "SELECT id::VARCHAR FROM flags WHERE dismissed_at IS NULL",
    "gold": "SELECT pair_id || ':' || answer FROM gold_pairs",
}


class SnapshotError(PrefstudioError):
    """A snapshot cannot be created, found or read as asked."""


class SnapshotNotFound(SnapshotError, NotFound):
    """No snapshot has the name asked for."""


@dataclass
class SnapshotInfo(Fields):
    """A snapshot's row: name, when, policy, counts, overall sha256 and folder."""

    name: str
    created: str
    policy: dict
    counts: dict
    sha256: str
    path: str

    def text(self) -> str:
        """What `snapshot create` prints."""
        return f"snapshot {self.name} ({self.sha256[:12]}): {counts_line(self.counts)}"

    def line(self) -> str:
        """Its line in `snapshot list`."""
        return f"{self.name}  {self.created}  {self.sha256[:12]}  {counts_line(self.counts)}"


@dataclass
class SnapshotDetails(SnapshotInfo):
    """A snapshot's row with its folder and manifest: the hashes of the sources it was made
    from, and each file's sha256."""

    folder: str
    sources: dict
    files: dict

    def text(self) -> str:
        """What `snapshot show` prints."""
        return "\n".join(
            [
                f"snapshot {self.name} created {self.created}",
                f"sha256 {self.sha256}",
                f"counts {counts_line(self.counts)}",
                "pairs " + ", ".join(f"{k} {v}" for k, v in self.counts["pairs"].items()),
                f"folder {self.folder}",
                *(f"  {path} {digest}" for path, digest in self.files.items()),
            ]
        )


def counts_line(counts: dict) -> str:
    """'train: dpo 10, kto 20, sft 5; test: ...': a snapshot's counts in one line."""
    return "; ".join(
        f"{split}: " + ", ".join(f"{fmt} {n}" for fmt, n in counts[split].items())
        for split in ("train", "test")
    )


def _check_name(name: str) -> None:
    """Raise SnapshotError unless `name` is a safe folder name."""
    if not _NAME.fullmatch(name or "") or name.endswith("."):
        raise SnapshotError(
            f"snapshot name {name!r} is not valid: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )


def _outcomes_sql(policy: SnapshotPolicy) -> str:
    """Each pair's outcome (a, b, tie or both_bad) and where it came from (labels or judge).

    Majority: the choice with strictly the most votes (a split at the top decides nothing);
    unanimous: every vote the same. A pair without a human outcome takes the policy judge's
    verdict for a or b when its confidence is high enough. Pairs with an excluding flag, or
    with the same response on both sides, have no outcome.
    """
    top = "greatest(votes_a, votes_b, ties, both_bad)"
    decided = (
        f"votes = {top}"
        if policy.agreement == "unanimous"
        else (
            f"(votes_a = {top})::INT + (votes_b = {top})::INT + (ties = {top})::INT"
            f" + (both_bad = {top})::INT = 1"
        )
    )
    human = f"""SELECT pair_id, CASE {top} WHEN votes_a THEN 'a' WHEN votes_b THEN 'b'
                                   WHEN ties THEN 'tie' ELSE 'both_bad' END AS outcome
                FROM {policy_votes_sql(policy)}
                WHERE votes >= {int(policy.min_votes)} AND {decided}"""
    judge = "SELECT NULL AS pair_id, NULL AS outcome WHERE false"
    if policy.judge_key:
        judge = f"""SELECT pair_id, choice AS outcome FROM current_judgments
            WHERE judge_key = {quote_literal(policy.judge_key)} AND choice IN ('a', 'b')
              AND greatest(p_a, 1 - p_a) >= {float(policy.judge_min_confidence)}"""
    excluding = ", ".join(quote_literal(k) for k in policy.exclude_flags) or "NULL"
    return f"""
        SELECT p.id AS pair_id, p.prompt_id, p.response_a, p.response_b,
               coalesce(h.outcome, j.outcome) AS outcome,
               CASE WHEN h.outcome IS NOT NULL THEN 'labels' WHEN j.outcome IS NOT NULL THEN 'judge' END AS source,
               EXISTS (SELECT 1 FROM flags f WHERE f.subject = 'pair' AND f.subject_id = p.id
                       AND f.dismissed_at IS NULL AND f.kind IN ({excluding})) AS excluded
        FROM pairs p LEFT JOIN ({human}) h ON h.pair_id = p.id
        LEFT JOIN ({judge}) j ON j.pair_id = p.id
        WHERE p.response_a <> p.response_b"""


def _winners_sql() -> str:
    """The winning pairs of the outcome table, in the shape `format_query` takes."""
    return f"""SELECT pair_id, prompt_id,
                      CASE outcome WHEN 'a' THEN response_a ELSE response_b END AS chosen_id,
                      CASE outcome WHEN 'a' THEN response_b ELSE response_a END AS rejected_id
               FROM {_OUTCOMES} WHERE outcome IN ('a', 'b') AND NOT excluded"""


def _extra_kto_sql(policy: SnapshotPolicy) -> str:
    """Unpaired examples from ties (both good) and both-bad outcomes, as the policy asks."""
    parts = []
    for outcome, setting, label in (
        ("tie", policy.ties, "true"),
        ("both_bad", policy.both_bad, "false"),
    ):
        if setting != "drop":
            for side in ("response_a", "response_b"):
                parts.append(
                    f"SELECT {side}, {label} FROM {_OUTCOMES} WHERE outcome = '{outcome}' AND NOT excluded"
                )
    return " UNION ".join(parts)


def _prepare(con: duckdb.DuckDBPyConnection, policy: SnapshotPolicy) -> None:
    """Create the outcome and split tables on the connection."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE {_OUTCOMES} AS {_outcomes_sql(policy)}")
    create_group_table(con, "prompt", policy.near_dup_threshold)
    seed = quote_literal(policy.split_seed)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_SPLIT} AS
        SELECT id AS prompt_id, near_rep AS prompt_cluster,
               CASE WHEN md5_number({seed} || near_rep) % 1000000 < {round(policy.test_fraction * 1e6)}
                    THEN 'test' ELSE 'train' END AS split
        FROM {GROUP_TABLES["prompt"]}"""
    )
    drop_group_tables(con)


def _pair_counts(con: duckdb.DuckDBPyConnection) -> dict:
    """How the pairs fared under the policy."""
    row = fetch_one(
        con,
        f"""SELECT count(*) FILTER (WHERE outcome IN ('a', 'b') AND NOT excluded),
                   count(*) FILTER (WHERE outcome IN ('a', 'b') AND NOT excluded AND source = 'judge'),
                   count(*) FILTER (WHERE outcome = 'tie' AND NOT excluded),
                   count(*) FILTER (WHERE outcome = 'both_bad' AND NOT excluded),
                   count(*) FILTER (WHERE outcome IS NOT NULL AND excluded),
                   count(*) FILTER (WHERE outcome IS NULL)
            FROM {_OUTCOMES}""",
    )
    names = ("preferences", "from_judge", "ties", "both_bad", "excluded_by_flags", "undecided")
    return dict(zip(names, row, strict=True))


def _write_files(store: Store, policy: SnapshotPolicy, folder: Path) -> dict:
    """Write every format and split under `folder`; return counts per split and format."""
    counts: dict = {split: {} for split in SPLITS}
    winners, extra = _winners_sql(), _extra_kto_sql(policy)
    for fmt in SNAPSHOT_FORMATS:
        (folder / fmt).mkdir()
        query = format_query(fmt, winners, extra)
        for split in SPLITS:
            sql, _ = export_relation_sql(
                store, fmt, query, with_ids=fmt == "dpo", where=_in_split(split)
            )
            target = folder / fmt / f"{split}.parquet"
            counts[split][fmt] = fetch_value(
                store.con, f"COPY ({sql}) TO {quote_literal(target)} (FORMAT parquet)"
            )
    return counts


def preview_snapshot(store: Store, policy: SnapshotPolicy | None = None) -> dict:
    """The counts a snapshot with `policy` would have now, without writing anything."""
    policy = policy or SnapshotPolicy()
    with store.transaction() as con:
        _prepare(con, policy)
        counts: dict = {split: {} for split in SPLITS}
        query_of = {
            fmt: format_query(fmt, _winners_sql(), _extra_kto_sql(policy))
            for fmt in SNAPSHOT_FORMATS
        }
        for fmt, query in query_of.items():
            for split in SPLITS:
                counts[split][fmt] = fetch_value(
                    con,
                    f"SELECT count(*) FROM ({query}) q WHERE {_in_split(split)}",
                )
        counts["pairs"] = _pair_counts(con)
        counts["left_out_by_gold"] = left_out_by_gold(con, policy)
        con.execute(f"DROP TABLE {_OUTCOMES}; DROP TABLE {_SPLIT}")
    return counts


def _in_split(split: str) -> str:
    """SQL true for rows (`q.prompt_id`) whose prompt is in `split`."""
    return f"q.prompt_id IN (SELECT prompt_id FROM {_SPLIT} WHERE split = '{split}')"


def _source_hashes(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """An md5 per source table over the ids of the rows a snapshot is made from."""
    return {
        name: fetch_value(
            con, f"SELECT md5(coalesce(string_agg(id, ',' ORDER BY id), '')) FROM ({sql}) t(id)"
        )
        for name, sql in _SOURCES.items()
    }


def _excluded_by_flag(con: duckdb.DuckDBPyConnection, policy: SnapshotPolicy) -> dict[str, int]:
    """Per excluding flag kind, the decided pairs it kept out (a pair may count under two)."""
    if not policy.exclude_flags:
        return {}
    rows = con.execute(
        f"""SELECT f.kind, count(DISTINCT o.pair_id) FROM {_OUTCOMES} o
            JOIN flags f ON f.subject = 'pair' AND f.subject_id = o.pair_id
            WHERE o.excluded AND o.outcome IS NOT NULL AND f.dismissed_at IS NULL
              AND f.kind IN (SELECT unnest($kinds))
            GROUP BY f.kind ORDER BY f.kind""",
        {"kinds": list(policy.exclude_flags)},
    ).fetchall()
    return dict(rows)


def _prompt_sources(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Per prompt source, the pairs that gave a preference row."""
    rows = con.execute(
        f"""SELECT coalesce(q.source, 'unknown') AS source, count(*) FROM ({_winners_sql()}) w
            JOIN prompts q ON q.id = w.prompt_id GROUP BY source ORDER BY count(*) DESC, source"""
    ).fetchall()
    return dict(rows)


def _write_card(
    store: Store, con: duckdb.DuckDBPyConnection, policy: SnapshotPolicy, folder: Path, counts: dict
) -> None:
    """Write the snapshot's dataset card (while the outcome table exists)."""
    files = {fmt: {split: f"{fmt}/{split}.parquet" for split in SPLITS} for fmt in SNAPSHOT_FORMATS}
    facts = CardFacts(
        files=files,
        counts=counts,
        policy=policy.to_dict(),
        excluded_flags=_excluded_by_flag(con, policy),
        sources=_prompt_sources(con),
        agreement=annotator_agreement(store).to_dict(),
    )
    write_card(folder, facts)


def _make_read_only(folder: Path) -> None:
    """Every file under `folder` read-only (0444); folders stay the owner's to remove."""
    for path in folder.rglob("*"):
        if path.is_file():
            path.chmod(0o444)


def snapshots_dir(store: Store) -> Path:
    """The folder holding a store's snapshots."""
    return store.files_dir / "snapshots"


def create_snapshot(store: Store, name: str, policy: SnapshotPolicy | None = None) -> SnapshotInfo:
    """Freeze the store's curated data under `name` with `policy` (default policy if None).

    Raises SnapshotError if the name is invalid or was ever used.
    """
    _check_name(name)
    policy = policy or SnapshotPolicy()
    root = snapshots_dir(store)
    final = root / name
    if fetch_one(store.con, "SELECT 1 FROM snapshots WHERE name = ?", [name]) or final.exists():
        raise SnapshotError(f"snapshot {name} already exists; snapshot names are never reused")
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    renamed = False
    try:
        with store.transaction() as con:
            _prepare(con, policy)
            counts = _write_files(store, policy, scratch)
            if not any(n for split in SPLITS for n in counts[split].values()):
                raise SnapshotError(
                    "nothing to snapshot: no pair is decided under this policy, "
                    "and there are no thumbs or reference responses"
                )
            counts["pairs"] = _pair_counts(con)
            counts["left_out_by_gold"] = left_out_by_gold(con, policy)
            _write_card(store, con, policy, scratch, counts)
            files = hash_folder_files(
                scratch, [str(p.relative_to(scratch)) for p in scratch.rglob("*") if p.is_file()]
            )
            overall = files_sha256(files)
            manifest = {
                "name": name,
                "policy": policy.to_dict(),
                "counts": counts,
                "sources": _source_hashes(con),
                "files": files,
                "sha256": overall,
            }
            (scratch / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
            _make_read_only(scratch)
            con.execute(f"DROP TABLE {_OUTCOMES}; DROP TABLE {_SPLIT}")
            os.rename(scratch, final)
            renamed = True
            con.execute(
                "INSERT INTO snapshots (name, policy, counts, sha256, path) VALUES (?, ?, ?, ?, ?)",
                [
                    name,
                    json.dumps(policy.to_dict()),
                    json.dumps(counts),
                    overall,
                    f"snapshots/{name}",
                ],
            )
    except BaseException:
        shutil.rmtree(final if renamed else scratch, ignore_errors=True)
        raise
    return get_snapshot(store, name)


def get_snapshot(store: Store, name: str) -> SnapshotInfo:
    """The row of snapshot `name`; SnapshotNotFound when there is none."""
    row = fetch_one(
        store.con,
        "SELECT name, strftime(created, '%Y-%m-%dT%H:%M:%S'), policy, counts, sha256, path "
        "FROM snapshots WHERE name = ?",
        [name],
    )
    if row is None:
        known = ", ".join(s.name for s in list_snapshots(store)) or "none yet"
        raise SnapshotNotFound(f"no snapshot named {name!r} (snapshots: {known})")
    name, created, policy, counts, sha256, path = row
    return SnapshotInfo(name, created, json.loads(policy), json.loads(counts), sha256, path)


def list_snapshots(store: Store) -> list[SnapshotInfo]:
    """Every snapshot, newest first."""
    names = store.con.execute("SELECT name FROM snapshots ORDER BY created DESC, name").fetchall()
    return [get_snapshot(store, n) for (n,) in names]


def training_sources(policy: SnapshotPolicy) -> tuple[str, ...]:
    """The sources that decide a snapshot's training data under `policy`: labels, ratings and
    flags always; judgments when a judge fills pairs; gold answers when they leave labels out."""
    return (
        "labels",
        "ratings",
        "flags",
        *(("judgments",) if policy.judge_key else ()),
        *(("gold",) if policy.min_gold_accuracy is not None else ()),
    )


def changed_since(store: Store, name: str) -> list[str]:
    """What decides snapshot `name`'s training data under its policy (`training_sources`) and
    has changed since it was made: the names of those sources, empty if none."""
    shown = show_snapshot(store, name)
    now = _source_hashes(store.con)
    sources = training_sources(SnapshotPolicy.from_dict(shown.policy))
    return [source for source in sources if shown.sources.get(source) != now[source]]


def latest_snapshot(store: Store) -> str | None:
    """The name of the newest snapshot, or None."""
    return fetch_value(store.con, "SELECT name FROM snapshots ORDER BY created DESC, name LIMIT 1")


def snapshot_files(store: Store, name: str) -> dict[str, dict[str, Path]]:
    """format (dpo, kto, sft) -> split (train, test) -> Parquet path of snapshot `name`."""
    folder = store.files_dir / get_snapshot(store, name).path
    files = {fmt: {s: folder / fmt / f"{s}.parquet" for s in SPLITS} for fmt in SNAPSHOT_FORMATS}
    missing = [str(p) for splits in files.values() for p in splits.values() if not p.is_file()]
    if missing:
        raise SnapshotError(f"snapshot {name} is missing its file {missing[0]}")
    return files


def snapshot_listing(store: Store) -> Listing[SnapshotInfo]:
    """Every snapshot, newest first, as `snapshot list` and GET /api/v1/snapshots give them."""
    return Listing("snapshots", list_snapshots(store), "no snapshots yet")


def show_snapshot(store: Store, name: str) -> SnapshotDetails:
    """A snapshot's row with its manifest (source hashes, each file's sha256) and folder."""
    info = get_snapshot(store, name)
    folder = store.files_dir / info.path
    manifest = _read_manifest(folder)
    if manifest is None:
        raise SnapshotError(f"cannot read the manifest of snapshot {name} in {folder}")
    return SnapshotDetails(
        **info.to_dict(), folder=str(folder), sources=manifest["sources"], files=manifest["files"]
    )


def _read_manifest(folder: Path) -> dict | None:
    """A snapshot folder's manifest, or None when it is missing or not a JSON object."""
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def verify_snapshot(store: Store, name: str) -> SnapshotCheck:
    """Recompute the sha256 of every file of snapshot `name` and of the snapshot itself, and
    name the files changed, missing or added since it was taken; SnapshotNotFound if unknown."""
    info = get_snapshot(store, name)
    folder = store.files_dir / info.path
    if not folder.is_dir():
        raise SnapshotError(f"snapshot {name} has no folder: {folder} is missing")
    return check_folder(name, folder, info.to_dict(), _read_manifest(folder))


def export_snapshot(
    store: Store,
    name: str,
    fmt: str,
    out: str | Path,
    file_type: str = "jsonl",
    split: str = "train",
) -> ExportReport:
    """Write one split of a snapshot's format (`rm` reads the dpo files) like `export_dataset`."""
    if split not in SPLITS:
        raise ExportError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    check_file_type(file_type)
    source_fmt = "dpo" if fmt == "rm" else fmt
    if fmt == "labels":
        raise ExportError(
            "a snapshot holds training rows, not labels; export labels without --snapshot"
        )
    if source_fmt not in SNAPSHOT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose from dpo, rm, kto, sft")
    path = quote_literal(snapshot_files(store, name)[source_fmt][split])
    ids = " EXCLUDE (prompt_id, pair_id)" if source_fmt == "dpo" else ""
    rows = write_rows(store, f"SELECT *{ids} FROM read_parquet({path})", Path(out), file_type)
    if rows == 0:
        raise ExportError(f"snapshot {name} has no {split} rows for {fmt}")
    conversational = fetch_value(
        store.con, f"SELECT typeof(prompt) <> 'VARCHAR' FROM read_parquet({path}) LIMIT 1"
    )
    return ExportReport(fmt, str(out), rows, bool(conversational))
