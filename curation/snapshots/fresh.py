"""A snapshot of what was just labelled: the newest one while nothing that decides training data
changed since it was made, otherwise a new one under the newest's policy, named `auto-<time>`.

One-click DPO trains on it, and learning a judge without a named snapshot learns from it, so
each click uses the labels given so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from curation.snapshots.freeze import (
    SnapshotError,
    changed_since,
    create_snapshot,
    get_snapshot,
    latest_snapshot,
    preview_snapshot,
    show_snapshot,
)
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.store.store import Store


@dataclass(frozen=True)
class FreshSnapshot:
    """The snapshot to use, whether it was made now, and what had changed since the newest."""

    name: str
    created: bool
    changed: list[str]


def auto_snapshot_name(store: Store) -> str:
    """A snapshot name not used yet: `auto-YYYYMMDD-HHMMSS`, with a suffix if needed."""
    base = time.strftime("auto-%Y%m%d-%H%M%S", time.gmtime())
    name, suffix = base, 1
    while _exists(store, name):
        suffix += 1
        name = f"{base}-{suffix}"
    return name


def _exists(store: Store, name: str) -> bool:
    try:
        get_snapshot(store, name)
    except SnapshotError:
        return False
    return True


def fresh_snapshot(store: Store, check: Callable[[dict], None] | None = None) -> FreshSnapshot:
    """The newest snapshot if it is current, else a new one with the newest's policy (the
    default policy when there is no snapshot yet). `check` sees the counts a new snapshot would
    have before it is made, and may raise to make none."""
    newest = latest_snapshot(store)
    changed = changed_since(store, newest) if newest is not None else []
    if newest is not None and not changed:
        return FreshSnapshot(newest, False, [])
    policy = SnapshotPolicy.from_dict(show_snapshot(store, newest).policy) if newest else None
    if check is not None:
        check(preview_snapshot(store, policy))
    return FreshSnapshot(
        create_snapshot(store, auto_snapshot_name(store), policy).name, True, changed
    )
