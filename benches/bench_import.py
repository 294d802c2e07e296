"""Import speed: prefstudio's import of a preference JSONL file vs DuckDB's own read_json.

Writes N synthetic rows (~3 KB each) once, then in the same run times
  * prefstudio: `import_paths` into a new store (format detection, checks, hashing, dedupe,
    prompts/responses/pairs/labels), closing the store so the data is on disk;
  * baseline: `CREATE TABLE raw AS SELECT * FROM read_json(...)` into a new DuckDB file, closed.
With `--repeats N` both are run N times, alternating, and the best time of each is kept.
Prints one JSON line: rows, rows_per_s, ratio_vs_duckdb_read_json (prefstudio / baseline),
the CPU seconds of each side's best run (all threads), and every run's time on both sides.

    python benches/bench_import.py --rows 100000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import duckdb

from curation import Store, import_paths


def write_rows(path: Path, rows: int, row_bytes: int, seed: int = 0) -> None:
    """Synthetic prompt/chosen/rejected rows of about `row_bytes` bytes, every prompt distinct."""
    rng = random.Random(seed)
    words = [
        "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=rng.randint(2, 9)))
        for _ in range(20000)
    ]
    blob = " ".join(rng.choices(words, k=400_000))
    third = row_bytes // 3

    def text() -> str:
        start = rng.randrange(len(blob) - third)
        return blob[start : start + third]

    with path.open("w", encoding="utf-8") as handle:
        for i in range(rows):
            record = {"prompt": f"Question {i}: {text()}", "chosen": text(), "rejected": text()}
            handle.write(json.dumps(record) + "\n")


class Run(NamedTuple):
    """One timed run: wall-clock seconds and the CPU seconds of all the process's threads."""

    seconds: float
    cpu_seconds: float


def measure(work: Callable[[Path, Path], None], source: Path, db: Path) -> Run:
    """Run `work(source, db)` once and time it."""
    cpu_before, start = _cpu_seconds(), time.perf_counter()
    work(source, db)
    return Run(time.perf_counter() - start, _cpu_seconds() - cpu_before)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def import_with_prefstudio(source: Path, db: Path) -> None:
    """Import `source` into a new store, closed afterwards."""
    with Store(db) as store:
        import_paths(store, [source])


def read_with_duckdb(source: Path, db: Path) -> None:
    """DuckDB alone: read `source` into a table of a new file, closed afterwards."""
    con = duckdb.connect(str(db))
    con.execute(
        f"CREATE TABLE raw AS SELECT * FROM read_json('{source}', format='newline_delimited')"
    )
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--row-bytes", type=int, default=3000)
    parser.add_argument("--repeats", type=int, default=1, help="runs of each side; best kept")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="Where to write (default: a temp dir)."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        source = work / "preferences.jsonl"
        write_rows(source, args.rows, args.row_bytes)
        baselines, ours_runs = [], []
        for n in range(args.repeats):  # alternate, so a busy machine slows both alike
            baselines.append(measure(read_with_duckdb, source, work / f"raw-{n}.duckdb"))
            ours_runs.append(
                measure(import_with_prefstudio, source, work / f"prefstudio-{n}.duckdb")
            )
            (work / f"raw-{n}.duckdb").unlink()
            (work / f"prefstudio-{n}.duckdb").unlink()
        baseline, ours = min(baselines), min(ours_runs)  # fewest seconds first
        print(
            json.dumps(
                {
                    "rows": args.rows,
                    "repeats": args.repeats,
                    "file_mb": round(source.stat().st_size / 1e6, 1),
                    "seconds": round(ours.seconds, 2),
                    "cpu_seconds": round(ours.cpu_seconds, 2),
                    "rows_per_s": round(args.rows / ours.seconds),
                    "duckdb_read_json_seconds": round(baseline.seconds, 2),
                    "duckdb_read_json_cpu_seconds": round(baseline.cpu_seconds, 2),
                    "ratio_vs_duckdb_read_json": round(ours.seconds / baseline.seconds, 3),
                    "runs_seconds": [round(run.seconds, 2) for run in ours_runs],
                    "runs_duckdb_read_json_seconds": [round(run.seconds, 2) for run in baselines],
                }
            )
        )


if __name__ == "__main__":
    main()
