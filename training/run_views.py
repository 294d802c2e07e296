"""Tables of runs and their metrics, shaped for plots and lists (pandas frames)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from curation.jobs import files
from curation.results import Fields
from curation.store.run_records import RunRecord

# Plot name -> metrics it shows (those a method does not log are left out).
CURVES = {
    "loss": ("loss",),
    "rewards": ("rewards/accuracies", "rewards/margins", "accuracy", "margin"),
    "kl": ("kl",),
}
RUN_COLUMNS = ["id", "status", "method", "snapshot", "model", "before", "after", "steps", "error"]


def metric_curves(record: RunRecord | None, plot: str) -> pd.DataFrame:
    """Long table (step, metric, value) of one plot's metrics over a run's logged steps."""
    if record is None or not record.out_dir:
        return pd.DataFrame(columns=["step", "metric", "value"])
    rows = [
        {"step": row["step"], "metric": name, "value": row[name]}
        for row in files.read_metrics(Path(record.out_dir) / files.METRICS_FILE)
        if "loss" in row
        for name in CURVES[plot]
        if row.get(name) is not None
    ]
    return pd.DataFrame(rows, columns=["step", "metric", "value"])


def runs_table(records: list[RunRecord]) -> pd.DataFrame:
    """One row per run: status, what it trained, held-out accuracy before and after, error."""
    rows = []
    for r in records:
        results = r.eval or {}
        rows.append(
            {
                "id": r.id,
                "status": r.status,
                "method": r.method,
                "snapshot": r.snapshot,
                "model": r.model,
                "before": results.get("heldout_accuracy_before"),
                "after": results.get("heldout_accuracy_after"),
                "steps": (r.metrics or {}).get("step"),
                "error": r.error or "",
            }
        )
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def eval_summary(record: RunRecord) -> str:
    """A short Markdown account of a run: status, progress or results, and where its files are."""
    lines = [f"**Run {record.id}** · {record.method} on `{record.snapshot}` · {record.status}"]
    results = record.eval or {}
    if results:
        lines.append(
            f"Held-out accuracy ({results.get('accuracy_measure')}, "
            f"{results.get('heldout_pairs')} pairs): "
            f"{results.get('heldout_accuracy_before')} → {results.get('heldout_accuracy_after')}; "
            f"{results.get('imported_pairs', 0)} new pairs to label from its sample answers"
        )
    if record.error:
        lines.append(f"Failed: {record.error}")
    lines.append(f"Folder: `{record.out_dir}`")
    return "\n\n".join(lines)


@dataclass(frozen=True)
class RunListing:
    """Every run (its view: fields and progress), newest first, as `runs` lists them."""

    runs: list[dict]

    def to_dict(self) -> dict:
        return {"runs": self.runs}

    def text(self) -> str:
        """A line per run: id, status, method, snapshot, model, held-out accuracy, error."""
        lines = [
            f"{r['id']:>4}  {r['status']:<9}  {r['method']:<3}  {r['snapshot']}  {r['model']}  "
            f"acc {(r['eval'] or {}).get('heldout_accuracy_before')} -> "
            f"{(r['eval'] or {}).get('heldout_accuracy_after')}"
            + (f"  error: {r['error']}" if r["error"] else "")
            for r in self.runs
        ]
        return "\n".join(lines) or "no runs yet"


@dataclass(frozen=True)
class RunLog(Fields):
    """The tail of a run's log."""

    id: int
    log: str

    def text(self) -> str:
        return self.log


class TrainedRun:
    """What `train` reports for a run that succeeded (as `run_report` in the CLI gives it)."""

    @staticmethod
    def text(run: dict) -> str:
        results = run["eval"]
        return (
            f"run {run['id']} {run['status']}: held-out accuracy "
            f"{results.get('heldout_accuracy_before')} -> {results.get('heldout_accuracy_after')}; "
            f"output in {run['out_dir']}"
        )
