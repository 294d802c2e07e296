"""One-click DPO: a DPO run on what was just labelled, with the chosen preset, in one call.

The snapshot is the newest one while nothing that decides training data changed since it was
made; otherwise a new one, named `auto-<time>`, is made first. The run then goes through the
same queue as every other run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from curation.snapshots.freeze import changed_since, create_snapshot, get_snapshot, latest_snapshot
from curation.store.run_records import RunRecord
from curation.store.store import Store
from training.presets import preset_settings
from training.runs import DEFAULT_MODEL, check_run, plan_run, start_run


@dataclass
class OneClickRun:
    """What one-click DPO started: the run, its snapshot, and whether that was made for it."""

    run: RunRecord
    snapshot: str
    snapshot_created: bool
    changed: list[str]  # what had changed since the newest snapshot (why a new one was made)

    def describe(self) -> str:
        """One line for the user."""
        made = (
            f"new snapshot {self.snapshot} ({', '.join(self.changed)} changed)"
            if self.snapshot_created and self.changed
            else f"new snapshot {self.snapshot}"
            if self.snapshot_created
            else f"snapshot {self.snapshot} (nothing changed since)"
        )
        return f"one-click DPO: run {self.run.id} ({self.run.status}) on {made}"


def auto_snapshot_name(store: Store) -> str:
    """A snapshot name not used yet: `auto-YYYYMMDD-HHMMSS`, with a suffix if needed."""
    base = time.strftime("auto-%Y%m%d-%H%M%S", time.gmtime())
    name, suffix = base, 1
    while _exists(store, name):
        suffix += 1
        name = f"{base}-{suffix}"
    return name


def _exists(store: Store, name: str) -> bool:
    from curation.snapshots.freeze import SnapshotError

    try:
        get_snapshot(store, name)
    except SnapshotError:
        return False
    return True


def fresh_snapshot(store: Store) -> tuple[str, bool, list[str]]:
    """(name, made now, what changed): the newest snapshot if it is current, else a new one."""
    newest = latest_snapshot(store)
    changed = changed_since(store, newest) if newest is not None else []
    if newest is not None and not changed:
        return newest, False, []
    return create_snapshot(store, auto_snapshot_name(store)).name, True, changed


def one_click_dpo(
    store: Store,
    *,
    model: str | None = None,
    preset: str = "standard",
    settings: dict[str, Any] | None = None,
    max_steps: int | None = None,
) -> OneClickRun:
    """Queue a DPO run of `model` on fresh data with the preset's settings (then `settings`)."""
    values = {**preset_settings(model or DEFAULT_MODEL, preset), **(settings or {})}
    _, model = check_run("dpo", model, values, max_steps)  # refused before any snapshot is made
    snapshot, created, changed = fresh_snapshot(store)
    spec = plan_run(
        store, snapshot=snapshot, method="dpo", model=model, settings=values, max_steps=max_steps
    )
    return OneClickRun(start_run(store, spec), snapshot, created, changed)
