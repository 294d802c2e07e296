"""A job's folder `<store>.files/jobs/<id>/` and the files in it.

The parent writes `params.json` (everything the worker needs), `command.json` (the exact
command that runs it), `worker.json` (who the worker is) and `launcher.json` (the process
holding the store, which the worker waits for while it is busy); the worker writes `log.txt` (its
output), `progress.json`, its results as numbered chunks `chunks/000001.jsonl` (each written
whole: a temporary file, then a rename), optionally `metrics.jsonl` (one logged step per
line), and at its end `result.json` (success) or `error.json` (the exception it failed
with). A cancel writes `cancelled` before signalling the worker.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from curation.errors import PrefstudioError

PARAMS_FILE = "params.json"
COMMAND_FILE = "command.json"
METRICS_FILE = "metrics.jsonl"
LOG_FILE = "log.txt"
WORKER_FILE = "worker.json"
LAUNCHER_FILE = "launcher.json"
PROGRESS_FILE = "progress.json"
RESULT_FILE = "result.json"
ERROR_FILE = "error.json"
CANCEL_FILE = "cancelled"
CHUNKS_DIR = "chunks"


def write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    """Write a JSON file whole (beside it, then renamed), so a reader never sees half of it."""
    scratch = path.with_name(f".{path.name}.tmp")
    scratch.write_text(json.dumps(data, default=str), encoding="utf-8")
    os.replace(scratch, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's object, or None when it is missing or still being written."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The logged metrics of a worker, one dict per logging step (a torn last line is skipped)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue
    return rows


def metrics_summary(folder: Path) -> dict[str, Any] | None:
    """The last value of each metric in a folder's metrics.jsonl, and how many logged steps
    carry a loss; None when the worker logged no metrics file."""
    path = Path(folder) / METRICS_FILE
    if not path.is_file():
        return None
    summary: dict[str, Any] = {}
    rows = read_metrics(path)
    for row in rows:
        summary.update({k: v for k, v in row.items() if v is not None and k != "time"})
    summary["logged_steps"] = sum(1 for row in rows if "loss" in row)
    return summary


def next_chunk_number(folder: Path) -> int:
    """The number the next chunk of a folder takes (1 when none was written)."""
    return (chunk_numbers(folder) or [0])[-1] + 1


def chunk_path(folder: Path, number: int) -> Path:
    """Where chunk `number` (from 1) of a job lives."""
    return Path(folder) / CHUNKS_DIR / f"{number:06d}.jsonl"


def chunk_numbers(folder: Path) -> list[int]:
    """The numbers of the chunks written so far, in order (temporary files left out)."""
    found = Path(folder, CHUNKS_DIR).glob("[0-9]*.jsonl")
    return sorted(int(path.stem) for path in found if path.stem.isdigit())


def write_chunk(folder: Path, number: int, rows: Iterable[dict[str, Any]]) -> None:
    """Write chunk `number` whole: a reader sees all of its rows or no chunk at all."""
    path = chunk_path(folder, number)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    lines = "".join(json.dumps(row, default=str) + "\n" for row in rows)
    scratch.write_text(lines, encoding="utf-8")
    os.replace(scratch, path)


def read_chunk(folder: Path, number: int) -> list[dict[str, Any]]:
    """The rows of chunk `number`."""
    text = chunk_path(folder, number).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line]


def written_rows(folder: Path) -> list[dict[str, Any]]:
    """Every row of every chunk written so far (a resumed worker skips what they hold)."""
    return [row for number in chunk_numbers(folder) for row in read_chunk(folder, number)]


def read_command(folder: Path) -> list[str] | None:
    """The exact command that runs (or ran) the job in `folder`; None if it has none."""
    path = Path(folder) / COMMAND_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def write_progress(folder: Path, done: int, total: int, phase: str) -> None:
    """Record how far the worker is: `done` of `total` items, and what it is doing."""
    record = {"done": done, "total": total, "phase": phase, "time": time.time()}
    write_json_atomically(Path(folder) / PROGRESS_FILE, record)


def worker_main(work: Callable[[Path, dict[str, Any]], dict[str, Any]]) -> None:
    """A worker's entry point: run `work(folder, params)` on the folder named by the command
    line, then write its result, or the exception it failed with (`domain`: a PrefstudioError,
    whose message is the one line to show), and exit non-zero. Its pause points wait while
    the launcher is busy (curation.jobs.pacing)."""
    from curation.jobs.pacing import start_pacing

    start_pacing()
    folder = Path(sys.argv[1])
    try:
        params = json.loads((folder / PARAMS_FILE).read_text(encoding="utf-8"))
        result = work(folder, params)
    except Exception as error:
        traceback.print_exc()
        failure = {
            "type": type(error).__name__,
            "message": str(error),
            "domain": isinstance(error, PrefstudioError),
        }
        write_json_atomically(folder / ERROR_FILE, failure)
        sys.exit(1)
    write_json_atomically(folder / RESULT_FILE, result)
