"""How much a judging worker on one CPU slows the server's kind of work on another CPU.

The server's share of a vote is DuckDB lookups and pure Python. This times a loop of each,
pinned to the first CPU, alone and then beside a judging worker (the logit judge on the
embedded model, one torch thread, judging HH-RLHF pairs over and over) pinned to the second
CPU; alone again at the end, so a drift of the machine shows. Prints one JSON line: the ratio
beside / alone of each loop. A ratio near 1 means the two CPUs share little (caches, memory
bandwidth), and what a worker costs annotators comes from sharing a CPU with the server.
Needs two CPUs or more.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb

DATA = Path("/work/shared/data/hh-harmless-dev.jsonl")
ROOT = Path(__file__).resolve().parent.parent

NEIGHBOUR = """
import json, os, sys
import torch
os.sched_setaffinity(0, {int(sys.argv[2])})
torch.set_num_threads(1)
from judges.base import PairItem
from judges.llm import LogitJudge

def item(number, line):
    record = json.loads(line)
    prompt, chosen = record["chosen"].rsplit("\\n\\nAssistant:", 1)
    rejected = record["rejected"].rsplit("\\n\\nAssistant:", 1)[-1]
    return PairItem(str(number), [{"role": "user", "content": prompt}], chosen, rejected)

with open(sys.argv[1], encoding="utf-8") as lines:
    items = [item(number, line) for number, line in zip(range(64), lines)]
judge = LogitJudge()
judge.judge(items[:2])
print("judging", flush=True)
while True:
    judge.judge(items)
"""


def timed_loops(con: duckdb.DuckDBPyConnection, lookups: int) -> dict[str, float]:
    """Seconds for `lookups` point lookups and five distinct counts in DuckDB, and for a
    pure-Python loop."""
    started = time.perf_counter()
    for number in range(lookups):
        con.execute("SELECT h FROM t WHERE i = ?", [number * 997]).fetchall()
    for _ in range(5):
        con.execute("SELECT count(DISTINCT h) FROM t").fetchall()
    duck = time.perf_counter() - started
    started = time.perf_counter()
    sum(i * i for i in range(10**7))
    return {"duckdb": duck, "python": time.perf_counter() - started}


def best_of(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> dict[str, float]:
    """The fastest of `--repeats` timings of each loop."""
    runs = [timed_loops(con, args.lookups) for _ in range(args.repeats)]
    return {name: min(run[name] for run in runs) for name in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        sys.exit("bench_neighbour needs two CPUs or more")
    os.sched_setaffinity(0, {cpus[0]})
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.execute(f"CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS h FROM range({args.rows}) r(i)")
    alone = best_of(con, args)
    command = [sys.executable, "-c", NEIGHBOUR, str(args.data), str(cpus[1])]
    neighbour = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        if neighbour.stdout.readline().strip() != "judging":
            sys.exit("the judging neighbour did not start; run it alone to see why")
        beside = best_of(con, args)
    finally:
        neighbour.kill()
        neighbour.wait()
    again = best_of(con, args)
    result: dict[str, object] = {"bench": "neighbour", "cpus": len(cpus)}
    for name in alone:
        result[f"{name}_alone_s"] = round(alone[name], 3)
        result[f"{name}_beside_s"] = round(beside[name], 3)
        result[f"{name}_alone_again_s"] = round(again[name], 3)
        result[f"{name}_ratio"] = round(beside[name] / min(alone[name], again[name]), 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
