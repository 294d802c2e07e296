"""A run folder's contract: the config.yaml the parent writes and the files only a run has.

The parent (which holds the store) writes `config.yaml`; the worker reads it and writes
everything else: the files every job has (log, metrics, progress, result, error:
`curation.jobs.files`) and those named here. Neither side needs the other's process: the
folder is the interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from training.methods import CommonSettings, settings_from_dict

CONFIG_FILE = "config.yaml"
EVAL_BEFORE_FILE = "eval_before.json"  # the base model's scores, kept for a resumed run
MODEL_DIR = "model"
CHECKPOINTS_DIR = "checkpoints"


@dataclass
class RunSpec:
    """What one run trains: method, base model, the snapshot's files, and checked settings.

    `data` maps `train` to the method's training split, and `eval_pairs` to the snapshot's
    held-out preference pairs (absent when the snapshot has none).
    """

    method: str
    model: str
    snapshot: str
    data: dict[str, str]
    settings: CommonSettings
    run_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain values, as written to config.yaml."""
        return {
            "run_id": self.run_id,
            "method": self.method,
            "model": self.model,
            "snapshot": self.snapshot,
            "data": dict(self.data),
            "settings": self.settings.to_dict(),
        }


def spec_from_dict(values: dict[str, Any]) -> RunSpec:
    """Check and build a RunSpec from config.yaml's values; ValueError names what is wrong."""
    missing = [key for key in ("method", "model", "snapshot", "data") if not values.get(key)]
    if missing:
        raise ValueError(f"config is missing {', '.join(missing)}")
    if "train" not in values["data"]:
        raise ValueError("config data must name the training split file (data.train)")
    settings = settings_from_dict(values["method"], values.get("settings") or {})
    return RunSpec(
        method=values["method"],
        model=str(values["model"]),
        snapshot=str(values["snapshot"]),
        data={key: str(path) for key, path in values["data"].items()},
        settings=settings,
        run_id=values.get("run_id"),
    )


def write_spec(run_dir: Path, spec: RunSpec) -> Path:
    """Write `config.yaml` into the run folder; return its path."""
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / CONFIG_FILE
    path.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False), encoding="utf-8")
    return path


def read_spec(run_dir: Path) -> RunSpec:
    """Read and check a run folder's `config.yaml`."""
    path = Path(run_dir) / CONFIG_FILE
    values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping, not {type(values).__name__}")
    return spec_from_dict(values)


def read_settings_file(path: Path) -> dict[str, Any]:
    """User settings from a YAML or JSON file (`--config FILE`): a mapping of setting names.

    A file may hold the settings alone or a full config with a `settings` key.
    """
    values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of settings, not {type(values).__name__}")
    return dict(values.get("settings", values))
