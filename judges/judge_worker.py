"""The judging worker: `python -m judges.judge_worker DIR`.

Reads DIR/params.json (how to build the judge, the pairs to judge, the chunk size), judges the
pairs chunk by chunk and writes each chunk of verdicts; it never opens the store. Started
again on the same folder it skips the pairs its chunks already hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.jobs.files import (
    chunk_numbers,
    worker_main,
    write_chunk,
    write_progress,
    written_rows,
)
from judges.base import JudgeError
from judges.judge_jobs import judge_from_recipe
from judges.runs import judge_rows, verdict_records


def judge_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Judge every pair of `params["todo"]` without a verdict in a chunk yet."""
    judge = judge_from_recipe(params["recipe"])
    if judge.key() != params["judge_key"]:
        raise JudgeError(f"{judge.label} was not built again as recorded (its key differs)")
    judged = {row["pair_id"] for row in written_rows(folder)}
    todo = [row for row in params["todo"] if row["pair_id"] not in judged]
    total, done = len(params["todo"]), len(judged)
    number = max(chunk_numbers(folder), default=0)
    size = params["chunk_size"]
    write_progress(folder, done, total, f"judging with {judge.label}")
    for start in range(0, len(todo), size):
        items, verdicts = judge_rows(judge, todo[start : start + size])
        number += 1
        write_chunk(folder, number, verdict_records(items, verdicts))
        done += len(items)
        write_progress(folder, done, total, f"judging with {judge.label}")
    write_progress(folder, done, total, "finished")
    return {}


if __name__ == "__main__":
    worker_main(judge_job)
