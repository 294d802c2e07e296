"""Labelling latency through the real HTTP path: vote -> next pair, against a no-op route.

Builds (or reuses, with --keep) a store of N pairs, starts `prefstudio serve` in a subprocess,
and runs C annotators concurrently, each with its own account and keep-alive connection. Each
annotator calls GET /api/v1/me (authenticated, one account lookup: the baseline) for a while,
then votes with POST /api/v1/labels, whose reply carries the next pair; the two phases
alternate for a few rounds, so a change in the machine's load hits both alike. A third phase
calls GET /api/v1/health (no credentials, no store): the floor that the web framework and
this client set on this machine. Prints one JSON line with p50/p95 of each and the ratio of
vote to no-op.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from curation import Store, import_paths
from curation.labelling.accounts import add_user, list_users
from curation.labelling.queue import sync_queue
from tests.server_helpers import Server

PASSWORD = "bench-password"
# The read-only phases: the authenticated no-op, and the framework's floor (no login, no store).
READS = {"noop": "/me", "health": "/health"}


def build_store(path: Path, pairs: int) -> None:
    """A store with `pairs` unlabelled pairs (one prompt, two responses each)."""
    rows = pd.DataFrame(
        {
            "prompt": [f"Question {i}: how do I do task {i % 977}?" for i in range(pairs)],
            "responses": [
                [
                    f"Answer one to {i}. " + "Some detail. " * 8,
                    f"Answer two to {i}. " + "Other. " * 8,
                ]
                for i in range(pairs)
            ],
        }
    )
    source = path.with_suffix(".parquet")
    rows.to_parquet(source)
    with Store(path) as store:
        import_paths(store, [source], format="responses")
        sync_queue(store)
    source.unlink()


def add_annotators(path: Path, annotators: int) -> None:
    """Accounts bench0..bench{annotators-1}, those a kept store lacks."""
    with Store(path) as store:
        have = {account.name for account in list_users(store)}
        for name in (f"bench{n}" for n in range(annotators)):
            if name not in have:
                add_user(store, name, "annotator", PASSWORD)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_clients(url: str, annotators: int, seconds: float, action: str) -> list[float]:
    """Latencies (ms) of `action` (a GET of READS, or 'vote') by all annotators for `seconds`."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(annotators)

    def annotator(n: int) -> None:
        try:
            label(n)
        except BaseException as error:  # reported by the main thread, once
            with lock:
                failures.append(error)
            start.abort()

    def label(n: int) -> None:
        mine = []
        with httpx.Client(
            base_url=f"{url}/api/v1", auth=(f"bench{n}", PASSWORD), timeout=120
        ) as client:
            try:  # warm-up, not timed: the first batch and the login cache
                pair = client.get("/next").json()
                client.get("/me").raise_for_status()
            finally:
                start.wait()
            until = time.perf_counter() + seconds
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                if action in READS:
                    client.get(READS[action]).raise_for_status()
                else:
                    reply = client.post(
                        "/labels",
                        json={"pair_id": pair["pair_id"], "choice": random.choice("ab")},
                    )
                    reply.raise_for_status()
                    pair = reply.json()["next"]
                mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=annotator, args=(n,)) for n in range(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"bench_label: annotator request failed: {failures[0]}")
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0, help="per kind of request")
    parser.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="no-op and vote phases alternate in this many rounds, so both meet the same load",
    )
    parser.add_argument(
        "--keep", type=Path, default=None, help="store file to build once and reuse"
    )
    args = parser.parse_args()

    db_path = args.keep or Path(tempfile.mkdtemp()) / "bench.duckdb"
    built = 0.0
    if not db_path.exists():
        t0 = time.perf_counter()
        build_store(db_path, args.pairs)
        built = time.perf_counter() - t0
    add_annotators(db_path, args.annotators)
    server = Server(db_path)
    load_before = os.getloadavg()[0]
    noop: list[float] = []
    vote: list[float] = []
    health: list[float] = []
    try:
        for _ in range(args.rounds):
            slice_s = args.seconds / args.rounds
            noop += run_clients(server.url, args.annotators, slice_s, "noop")
            vote += run_clients(server.url, args.annotators, slice_s, "vote")
            health += run_clients(server.url, args.annotators, slice_s, "health")
    finally:
        server.stop()
    result = {
        "bench": "label",
        "pairs": args.pairs,
        "annotators": args.annotators,
        "votes": len(vote),
        "p50_ms": round(statistics.median(vote), 2),
        "p95_ms": round(percentile(vote, 0.95), 2),
        "noop_p50_ms": round(statistics.median(noop), 2),
        "noop_p95_ms": round(percentile(noop, 0.95), 2),
        "ratio_vs_noop": round(percentile(vote, 0.95) / percentile(noop, 0.95), 2),
        "ratio_p50_vs_noop": round(statistics.median(vote) / statistics.median(noop), 2),
        "health_p50_ms": round(statistics.median(health), 2),
        "health_p95_ms": round(percentile(health, 0.95), 2),
        "votes_per_s": round(len(vote) / args.seconds, 1),
        "noop_per_s": round(len(noop) / args.seconds, 1),
        "health_per_s": round(len(health) / args.seconds, 1),
        "build_s": round(built, 1),
        # The machine's 1-minute load average before and after (other work shares the cores).
        "load_avg": [round(load_before, 1), round(os.getloadavg()[0], 1)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
