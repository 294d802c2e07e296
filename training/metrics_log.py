"""The run's live record: a TrainerCallback appending each log to metrics.jsonl and reporting the
step as the job's progress (curation.jobs.files: the job folder's files)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from curation.jobs.files import write_progress
from curation.jobs.pacing import pause_point


def _finite(value: Any) -> Any:
    """Numbers that JSON can hold (NaN and infinities become None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_callback(metrics_path: Path, folder: Path) -> Any:
    """A TrainerCallback appending each log to `metrics_path` and reporting the step (of the
    run's steps) as the progress of the job in `folder`."""
    from transformers import TrainerCallback

    class MetricsFileCallback(TrainerCallback):
        """Append every `on_log` dict, with step, epoch and time, as one JSON line."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "time": time.time()}
            row.update({key: _finite(value) for key, value in logs.items()})
            with open(metrics_path, "a", encoding="utf-8") as out:
                out.write(json.dumps(row, default=str) + "\n")

        def on_step_end(self, args, state, control, **kwargs):
            pause_point()
            if state.is_world_process_zero:
                write_progress(folder, state.global_step, state.max_steps, "training")

    return MetricsFileCallback()
