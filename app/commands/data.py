"""Commands that move data in and out of the store: init, import, export, stats."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from app.commands.base import store_command
from curation import (
    EXPORT_FORMATS,
    IMPORT_FORMATS,
    Store,
    export_dataset,
    import_paths,
)
from curation.io.exporter import EXPORT_FILE_TYPES, ExportReport
from curation.io.importer import ImportProgress, ImportReport
from curation.labelling.gold import mark_imported_gold
from curation.results import Reported
from curation.snapshots.freeze import export_snapshot
from curation.stats import StoreStats, stats_report
from curation.store.store import StoreReady

if TYPE_CHECKING:
    from tqdm import tqdm


@click.command()
@store_command
def init(store: Store) -> StoreReady:
    """Create the store (or migrate an existing one to this version)."""
    return StoreReady(str(store.path), store.schema_version())


@click.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(IMPORT_FORMATS),
    default="auto",
    show_default=True,
    help="Record layout of every file; auto detects it per file from the fields.",
)
@click.option(
    "--source", default=None, help="Name for where the data came from (default: file name)."
)
@click.option(
    "--gold", is_flag=True, help="Mark the labelled pairs as gold, the label as their answer."
)
@store_command
def import_command(
    store: Store, paths: tuple[Path, ...], fmt: str, source: str | None, gold: bool
) -> Reported:
    """Import files or folders (JSONL, JSON, CSV, Parquet, datasets folders) in one transaction."""
    from tqdm import tqdm

    # In a terminal only, and gone once the import ends, so errors stay one line.
    with tqdm(desc="import", unit="step", disable=None, leave=False) as bar:
        report = import_paths(
            store, paths, format=fmt, source=source, progress=_steps_on(bar), list_prompts=gold
        )
    data = report.to_dict()
    if gold:
        data["gold"] = mark_imported_gold(store, report)
    return Reported(data, ImportReport.text)


def _steps_on(bar: tqdm) -> ImportProgress:
    """An import's progress shown on `bar`: the step under way, and how many are done."""

    def show(done: int, total: int, step: str) -> None:
        bar.total, bar.n = total, done
        bar.set_description(f"import: {step}")  # redraws the bar

    return show


@click.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help="TRL dataset format: dpo/rm (preference), kto (unpaired), sft.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="File or folder to write."
)
@click.option(
    "--as",
    "file_type",
    type=click.Choice(EXPORT_FILE_TYPES),
    default="jsonl",
    show_default=True,
    help="jsonl, parquet, or hf (a datasets save_to_disk folder).",
)
@click.option("--snapshot", default=None, help="Export from this snapshot instead of the store.")
@click.option(
    "--split",
    type=click.Choice(["train", "test"]),
    default="train",
    show_default=True,
    help="Which split of the snapshot (with --snapshot).",
)
@store_command
def export(
    store: Store, fmt: str, out: Path, file_type: str, snapshot: str | None, split: str
) -> ExportReport:
    """Export labelled data (or a snapshot's split) in a format TRL's trainers read, or every
    label in force with its texts (`--format labels`)."""
    if snapshot:
        return export_snapshot(store, snapshot, fmt, out, file_type, split)
    return export_dataset(store, fmt, out, file_type)


@click.command()
@store_command
def stats(store: Store) -> StoreStats:
    """Counts of prompts, responses, pairs, labels, judgments, snapshots, runs and flags;
    annotator agreement and biases."""
    return stats_report(store)


COMMANDS = [init, import_command, export, stats]
