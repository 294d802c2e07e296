"""The import worker: `python -m curation.io.import_worker DIR`.

Reads DIR/params.json (the uploaded files, stored under DIR, each with the name its sender
gave; the format and the source), reads and checks them on an in-memory DuckDB of its own,
writes their staged records to DIR/staged.parquet (whole) and then one chunk naming that file
with what each upload held; it never opens the store. The watcher loads the chunk in one
transaction. The report and any error name each file as its sender did, never by its copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from curation.errors import BadInput, PrefstudioError
from curation.io.importer import stage_to_parquet
from curation.jobs.files import chunk_numbers, worker_main, write_chunk, write_progress

STAGED_FILE = "staged.parquet"
UPLOADS_DIR = "uploads"


def import_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Stage the uploads of `params["files"]` ({path under the folder, name as sent}) into one
    chunk; then remove them (the staged file holds all the store needs). Started again once
    its chunk is written, it has nothing left to do."""
    if chunk_numbers(folder):
        return {}
    shown = {str((folder / f["path"]).resolve()): f["name"] for f in params["files"]}
    staged = (folder / STAGED_FILE).resolve()
    try:
        files = stage_to_parquet(
            [Path(path) for path in shown],
            staged,
            format=params["format"],
            source=params["source"],
            progress=lambda done, total, step: write_progress(folder, done, total, step),
        )
    except PrefstudioError as error:
        raise _renamed(error, shown) from None
    for file in files:
        file.path = _rename(file.path, shown)
    write_chunk(folder, 1, [{"staged": str(staged), "files": [vars(f) for f in files]}])
    shutil.rmtree(folder / UPLOADS_DIR, ignore_errors=True)
    steps = len(shown) + 1  # reading each file, then writing the staged file
    write_progress(folder, steps, steps, "loading into the store")
    return {}


def _rename(text: str, shown: dict[str, str]) -> str:
    """`text` with every stored copy's path replaced by the name its sender gave."""
    for stored, name in shown.items():
        text = text.replace(stored, name)
    return text


def _renamed(error: PrefstudioError, shown: dict[str, str]) -> PrefstudioError:
    """`error`, naming the sender's files instead of their stored copies."""
    error.args = tuple(_rename(str(arg), shown) for arg in error.args)
    if isinstance(error, BadInput):
        error.path = _rename(error.path, shown)
    return error


if __name__ == "__main__":
    worker_main(import_job)
