"""The run's live record: metrics.jsonl written by a TrainerCallback, and a small progress file."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from curation.jobs.files import read_json, read_metrics, write_json_atomically

__all__ = [
    "metrics_callback",
    "read_json",
    "read_metrics",
    "write_json_atomically",
    "write_progress",
]


def write_progress(path: Path, phase: str, step: int = 0, max_steps: int = 0) -> None:
    """Record what the worker is doing: loading, evaluating, training (step of max), saving, done."""
    write_json_atomically(
        path, {"phase": phase, "step": step, "max_steps": max_steps, "time": time.time()}
    )


def _finite(value: Any) -> Any:
    """Numbers that JSON can hold (NaN and infinities become None)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def metrics_callback(metrics_path: Path, progress_path: Path) -> Any:
    """A TrainerCallback appending each log to `metrics_path` and the step to `progress_path`."""
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
            if state.is_world_process_zero:
                write_progress(progress_path, "training", state.global_step, state.max_steps)

    return MetricsFileCallback()
