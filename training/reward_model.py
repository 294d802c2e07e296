"""Queueing a reward model's training on a snapshot, for a judge to score pairs with: the `rm`
run method, run as any other run (a subprocess with its folder and row, one run at a time).
"""

from __future__ import annotations

from pathlib import Path

from curation.store.store import Store
from training.presets import preset_settings
from training.run_spec import MODEL_DIR
from training.runs import DEFAULT_MODEL, check_run, plan_run, start_run


def start_reward_model(
    store: Store, snapshot: str, model: str | None = None, max_steps: int | None = None
) -> tuple[int, str]:
    """Queue a reward-model run on the snapshot with the settings suggested for the model;
    its id, and the folder its trained model will be in."""
    spec = plan_run(
        store,
        snapshot=snapshot,
        method="rm",
        model=model,
        settings=preset_settings(model or DEFAULT_MODEL),
        max_steps=max_steps,
    )
    record = start_run(store, spec)
    return record.id, str(Path(record.out_dir) / MODEL_DIR)


def check_reward_model(model: str | None = None, max_steps: int | None = None) -> None:
    """Refuse a reward-model run that `start_reward_model` could not plan, before any snapshot
    is looked at (RunError or ModelError)."""
    check_run("rm", model, preset_settings(model or DEFAULT_MODEL), max_steps)
