"""One name per model: a trained run is `run:<id>` wherever its model is used.

A run's model goes by several names: `run:<id>` (its own sample answers), the run's folder
(its job's, `<store>.files/jobs/<job id>`; `<store>.files/runs/<id>` for runs older than
jobs) or its model folder `<folder>/model` (given to `generate --model` as an absolute path,
or relative to the working folder or to `<store>.files`), and
a folder written by `export-run` (the adapter, or the merged model), which holds a small
`prefstudio-model.json` naming the run. `model_identity` maps each of them to `run:<id>`; a
checkpoint of a run is `run:<id>/checkpoints/<name>`. Any other name (a hub id, another
folder, the embedded default's alias) is its own identity. The name a model was used under
is kept as an alias: stored responses record it in their meta as `model_path`.
"""

from __future__ import annotations

import json
from pathlib import Path

from curation.store.run_records import run_of_job
from curation.store.store import Store

RUN_PREFIX = "run:"
RUNS_FOLDER = "runs"  # below the store's files folder: one sub-folder per run id, before jobs
JOBS_FOLDER = "jobs"  # below the store's files folder: one sub-folder per job id
RUN_MODEL_FOLDER = "model"
IDENTITY_FILE = "prefstudio-model.json"


def run_model_name(run_id: int) -> str:
    """The identity of a run's trained model.

    >>> run_model_name(3)
    'run:3'
    """
    return f"{RUN_PREFIX}{run_id}"


def numbered_folder(path: Path, root: Path) -> tuple[int, tuple[str, ...]] | None:
    """The number of the folder under `root` that `path` lies in, and the rest of the path;
    None when it lies in none.

    >>> root = Path("/s.files/runs")
    >>> [numbered_folder(Path(p), root) for p in ("/s.files/runs/3/model", "/s.files/runs/3",
    ...     "/s.files/runs/x", "/elsewhere/3")]
    [(3, ('model',)), (3, ()), None, None]
    """
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return None
    if not parts or not parts[0].isdigit():
        return None
    return int(parts[0]), parts[1:]


def run_folder_name(run_id: int, rest: tuple[str, ...]) -> str:
    """The identity of a path `rest` inside a run's folder: `run:<id>` for the folder and its
    model, `run:<id>/<rest>` for other folders (a checkpoint).

    >>> run_folder_name(3, ("model",)), run_folder_name(3, ("checkpoints", "checkpoint-5"))
    ('run:3', 'run:3/checkpoints/checkpoint-5')
    """
    name = run_model_name(run_id)
    return name if rest in ((), (RUN_MODEL_FOLDER,)) else f"{name}/{'/'.join(rest)}"


def _run_path_identity(store: Store, path: Path) -> str | None:
    """The identity of a path inside a run's folder (its job's, or an older run's own), or
    None when it lies in no run's folder."""
    files = store.files_dir.resolve()
    old_run = numbered_folder(path, files / RUNS_FOLDER)
    if old_run is not None:
        return run_folder_name(*old_run)
    job = numbered_folder(path, files / JOBS_FOLDER)
    run_id = None if job is None else run_of_job(store, job[0])
    return None if run_id is None else run_folder_name(run_id, job[1])


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
    return _run_path_identity(store, path) or _declared_identity(path) or name


def model_identities(store: Store, names: list[str]) -> dict[str, str]:
    """Each of `names` mapped to its identity."""
    return {name: model_identity(store, name) for name in dict.fromkeys(names)}


def write_model_identity(folder: str | Path, identity: str) -> Path:
    """Record in a model folder (such as an exported run model) which model it is."""
    path = Path(folder) / IDENTITY_FILE
    path.write_text(json.dumps({"model": identity}) + "\n", encoding="utf-8")
    return path
