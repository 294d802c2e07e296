"""Commands that curate the store: duplicate clusters, quality flags and snapshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from app.commands.base import store_command
from app.commands.jobs import job_command
from curation import Store
from curation.errors import PrefstudioError
from curation.quality.curate import CurateReport
from curation.quality.flags import FlagRules
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.results import Listing
from curation.snapshots.freeze import (
    SnapshotDetails,
    SnapshotInfo,
    create_snapshot,
    show_snapshot,
    snapshot_listing,
    verify_snapshot,
)
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.snapshots.snapshot_verify import SnapshotCheck


def curated(data: dict) -> str:
    """What `curate` prints for a curation job's report (a CurateReport's `to_dict()`); a job
    cancelled before its pass is an error saying nothing changed."""
    if data.get("cancelled") and not data["clusters"]:
        raise PrefstudioError("curation cancelled before its pass: nothing changed")
    return CurateReport.text(data)


@click.command(name="curate")
@click.option(
    "--near-dup-threshold",
    type=float,
    default=DEFAULT_THRESHOLD,
    show_default=True,
    help="Word 5-gram Jaccard similarity at which two texts are near duplicates.",
)
@click.option(
    "--max-tokens",
    type=int,
    default=FlagRules.max_tokens,
    show_default=True,
    help="Flag pairs whose prompt plus longer response exceed this many tokens.",
)
@click.option(
    "--tokenizer",
    metavar="MODEL",
    help="Count tokens with this model's tokenizer (hub id, folder or smollm2-135m) "
    "instead of taking 4 characters as one token.",
)
@click.option(
    "--truncation-tokens",
    type=int,
    default=FlagRules.truncation_tokens,
    show_default=True,
    help="Flag responses this long or longer that end mid-sentence as truncated.",
)
@store_command
@job_command("curate", curated)
def curate_command(tokenizer: str | None, **settings: Any) -> dict:
    """Find exact and near duplicates and flag pairs with defects (dismissed flags stay dismissed).

    The texts are grouped in a worker process (a job); Ctrl-C cancels it (nothing changes unless
    the worker had already finished).
    """
    if tokenizer is not None and Path(tokenizer).exists():
        tokenizer = str(Path(tokenizer).resolve())  # a server resolves it as this shell does
    return {"tokenizer": tokenizer, **settings}


@click.group()
def snapshot() -> None:
    """Create, list, show and verify immutable, hashed snapshots of the curated data."""


@snapshot.command(name="create")
@click.argument("name")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="YAML or JSON policy file (votes, ties, excluded flags, judge fill, split).",
)
@store_command
def snapshot_create(store: Store, name: str, policy_file: Path | None) -> SnapshotInfo:
    """Freeze the curated data as NAME: dpo/kto/sft Parquet per split plus a manifest."""
    policy = SnapshotPolicy.from_file(policy_file) if policy_file else SnapshotPolicy()
    return create_snapshot(store, name, policy)


@snapshot.command(name="list")
@store_command
def snapshot_list(store: Store) -> Listing[SnapshotInfo]:
    """List snapshots, newest first."""
    return snapshot_listing(store)


@snapshot.command(name="show")
@click.argument("name")
@store_command
def snapshot_show(store: Store, name: str) -> SnapshotDetails:
    """Show a snapshot: policy, counts per split and format, source hashes, file sha256s."""
    return show_snapshot(store, name)


@snapshot.command(name="verify")
@click.argument("name")
@store_command
def snapshot_verify(store: Store, name: str) -> SnapshotCheck:
    """Recompute the sha256 of every file of NAME and of the snapshot; exit 1 naming what changed
    (with `--json`, the whole check)."""
    check = verify_snapshot(store, name)
    check.raise_unless_verified()
    return check


COMMANDS = [curate_command, snapshot]
