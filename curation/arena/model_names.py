"""One name per model: a trained run is `run:<id>` wherever its model is used.

A run's model goes by several names: `run:<id>` (its own sample answers), the run's folder
`<store>.files/runs/<id>` or its model folder `.../runs/<id>/model` (given to `generate
--model` as an absolute path, or relative to the working folder or to `<store>.files`), and
a folder written by `export-run` (the adapter, or the merged model), which holds a small
`prefstudio-model.json` naming the run. `model_identity` maps each of them to `run:<id>`; a
checkpoint of a run is `run:<id>/checkpoints/<name>`. Any other name (a hub id, another
folder, the embedded default's alias) is its own identity. The name a model was used under
is kept as an alias: stored responses record it in their meta as `model_path`.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.store.store import Store

RUN_PREFIX = "run:"
RUNS_FOLDER = "runs"  # below the store's files folder, one sub-folder per run id
RUN_MODEL_FOLDER = "model"
IDENTITY_FILE = "prefstudio-model.json"


def run_model_name(run_id: int) -> str:
    """The identity of a run's trained model.

    >>> run_model_name(3)
    'run:3'
    """
    return f"{RUN_PREFIX}{run_id}"


def _run_path_identity(path: Path, runs_root: Path) -> str | None:
    """`run:<id>` (or `run:<id>/<rest>` for other folders of the run) when `path` lies in a
    run's folder under `runs_root`, else None.

    >>> root = Path("/s.files/runs")
    >>> [_run_path_identity(Path(p), root) for p in ("/s.files/runs/3/model", "/s.files/runs/3",
    ...     "/s.files/runs/3/checkpoints/checkpoint-5", "/s.files/runs/x", "/elsewhere/3")]
    ['run:3', 'run:3', 'run:3/checkpoints/checkpoint-5', None, None]
    """
    try:
        parts = path.relative_to(runs_root).parts
    except ValueError:
        return None
    if not parts or not parts[0].isdigit():
        return None
    rest = parts[1:]
    name = run_model_name(int(parts[0]))
    return name if rest in ((), (RUN_MODEL_FOLDER,)) else f"{name}/{'/'.join(rest)}"


def _declared_identity(folder: Path) -> str | None:
    """The identity a model folder declares in its identity file, if it has a readable one."""
    try:
        declared = json.loads((folder / IDENTITY_FILE).read_text("utf-8")).get("model")
    except (OSError, ValueError, AttributeError):
        return None
    return declared if isinstance(declared, str) and declared else None


def model_identity(store: Store, name: str) -> str:
    """The one name of the model called `name` in `store` (see the module docstring)."""
    if name.startswith(RUN_PREFIX) or not name:
        return name
    raw = Path(name).expanduser()
    candidates = [raw] if raw.is_absolute() else [Path.cwd() / raw, store.files_dir / raw]
    path = next((c for c in candidates if c.exists()), candidates[0]).resolve()
    runs_root = (store.files_dir / RUNS_FOLDER).resolve()
    return _run_path_identity(path, runs_root) or _declared_identity(path) or name


def model_identities(store: Store, names: list[str]) -> dict[str, str]:
    """Each of `names` mapped to its identity."""
    return {name: model_identity(store, name) for name in dict.fromkeys(names)}


def write_model_identity(folder: str | Path, identity: str) -> Path:
    """Record in a model folder (such as an exported run model) which model it is."""
    path = Path(folder) / IDENTITY_FILE
    path.write_text(json.dumps({"model": identity}) + "\n", encoding="utf-8")
    return path
