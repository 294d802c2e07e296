"""Training a reward model on a snapshot and waiting for it: the `rm` run method, run as any
other run (a subprocess with its folder and row), for a judge to score pairs with.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from curation.store.run_records import RunRecord
from curation.store.store import Store
from training.presets import preset_settings
from training.run_spec import MODEL_DIR
from training.runs import (
    DEFAULT_MODEL,
    RunError,
    cancel_run,
    plan_run,
    run_progress,
    start_run,
    wait_for_run,
)

Progress = Callable[[str, int, int], None]  # (step, done, total)


def train_reward_model(
    store: Store,
    snapshot: str,
    model: str | None = None,
    max_steps: int | None = None,
    progress: Progress | None = None,
) -> tuple[str, int]:
    """Train a reward model on the snapshot with the settings suggested for the model, and
    wait for it; return the trained model's folder and the run's id.

    Ctrl-C cancels the run; a run that fails or is cancelled raises RunError.
    """
    spec = plan_run(
        store,
        snapshot=snapshot,
        method="rm",
        model=model,
        settings=preset_settings(model or DEFAULT_MODEL),
        max_steps=max_steps,
    )
    record = start_run(store, spec)

    def poll(current: RunRecord) -> None:
        if progress is not None:
            shown = run_progress(current)
            progress("training", shown.get("step", 0), shown.get("max_steps") or 0)

    try:
        record = wait_for_run(store, record.id, on_poll=poll)
    except KeyboardInterrupt:
        cancel_run(store, record.id)
        raise RunError(f"reward-model run {record.id} cancelled") from None
    if record.status != "succeeded":
        raise RunError(f"reward-model run {record.id} {record.status}: {record.error}")
    return str(Path(record.out_dir) / MODEL_DIR), record.id
