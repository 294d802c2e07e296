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
from curation.snapshots.freeze import (
    create_snapshot,
    list_snapshots,
    show_snapshot,
    verify_snapshot,
)
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.snapshots.snapshot_verify import SnapshotUnverified


def curated(data: dict) -> tuple[dict, str]:
    """What `curate` prints for a curation job's report (a CurateReport's `to_dict()`); a job
    cancelled before its pass is an error saying nothing changed."""
    if data.get("cancelled") and not data["clusters"]:
        raise PrefstudioError("curation cancelled before its pass: nothing changed")
    return data, CurateReport.text(data)


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


def _figure(value: float | None, digits: int = 2) -> str:
    """A figure for text output; n/a when undefined."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def agreement_lines(agreement: dict) -> list[str]:
    """`stats` text lines for the agreement figures of `AgreementReport.to_dict()`."""
    lines = [
        f"{'agreement':>15}: Fleiss kappa {_figure(agreement['fleiss_kappa'])} over "
        f"{agreement['pairs_with_two_votes']} pairs with 2+ votes; chosen is the longer response "
        f"in {_figure(agreement['chosen_longer_share'])} of {agreement['decided_pairs']} decided pairs"
    ]
    for c in agreement["cohen"]:
        first, second = c["annotators"]
        lines.append(
            f"{'':>15}  Cohen kappa {first} / {second}: {_figure(c['kappa'])} "
            f"(agree {_figure(c['agreement'])} on {c['pairs']} pairs)"
        )
    for name, f in agreement["per_annotator"].items():
        lines.append(
            f"{'':>15}  {name}: {f['votes']} votes, with majority {_figure(f['majority_agreement'])}, "
            f"left {_figure(f['left_share'])} (p {_figure(f['position_p_value'], 3)}), "
            f"longer {_figure(f['longer_share'])}"
        )
    return lines


@click.group()
def snapshot() -> None:
    """Create, list, show and verify immutable, hashed snapshots of the curated data."""


def _counts_line(counts: dict) -> str:
    """'train: dpo 10, kto 20, sft 5; test: ...' for text output."""
    return "; ".join(
        f"{split}: " + ", ".join(f"{fmt} {n}" for fmt, n in counts[split].items())
        for split in ("train", "test")
    )


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
def snapshot_create(store: Store, name: str, policy_file: Path | None) -> tuple[dict, str]:
    """Freeze the curated data as NAME: dpo/kto/sft Parquet per split plus a manifest."""
    policy = SnapshotPolicy.from_file(policy_file) if policy_file else SnapshotPolicy()
    return created(create_snapshot(store, name, policy).to_dict())


def created(info: dict) -> tuple[dict, str]:
    """What `snapshot create` prints for a SnapshotInfo's `to_dict()`."""
    return info, f"snapshot {info['name']} ({info['sha256'][:12]}): {_counts_line(info['counts'])}"


@snapshot.command(name="list")
@store_command
def snapshot_list(store: Store) -> tuple[dict, str]:
    """List snapshots, newest first."""
    return listed([info.to_dict() for info in list_snapshots(store)])


def listed(infos: list[dict]) -> tuple[dict, str]:
    """What `snapshot list` prints for SnapshotInfo dicts, newest first."""
    lines = [
        f"{i['name']}  {i['created']}  {i['sha256'][:12]}  {_counts_line(i['counts'])}"
        for i in infos
    ]
    return {"snapshots": infos}, "\n".join(lines) or "no snapshots yet"


@snapshot.command(name="show")
@click.argument("name")
@store_command
def snapshot_show(store: Store, name: str) -> tuple[dict, str]:
    """Show a snapshot: policy, counts per split and format, source hashes, file sha256s."""
    return shown_snapshot(show_snapshot(store, name))


def shown_snapshot(shown: dict) -> tuple[dict, str]:
    """What `snapshot show` prints for `show_snapshot`'s dict."""
    lines = [
        f"snapshot {shown['name']} created {shown['created']}",
        f"sha256 {shown['sha256']}",
        f"counts {_counts_line(shown['counts'])}",
        "pairs " + ", ".join(f"{k} {v}" for k, v in shown["counts"]["pairs"].items()),
        f"folder {shown['folder']}",
        *(f"  {path} {digest}" for path, digest in shown["files"].items()),
    ]
    return shown, "\n".join(lines)


@snapshot.command(name="verify")
@click.argument("name")
@store_command
def snapshot_verify(store: Store, name: str) -> tuple[dict, str]:
    """Recompute the sha256 of every file of NAME and of the snapshot; exit 1 naming what changed."""
    return verified_snapshot(verify_snapshot(store, name).to_dict())


def verified_snapshot(check: dict) -> tuple[dict, str]:
    """What `snapshot verify` prints for a SnapshotCheck's `to_dict()`.

    A snapshot that does not verify raises SnapshotUnverified naming the first problem, with
    the whole check as its data (printed with `--json`).
    """
    if not check["verified"]:
        problems = check["problems"]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SnapshotUnverified(
            f"snapshot {check['name']} does not verify: {problems[0]}{more}", check
        )
    return check, f"snapshot {check['name']} verifies: sha256 {check['sha256']}"


COMMANDS = [curate_command, snapshot]
