"""Labelling latency through the real HTTP path: vote -> next pair, against a no-op route,
under a judging job, and against Label Studio.

Builds (or reuses, with --keep) a store of N pairs, starts `prefstudio serve` in a subprocess,
and runs C annotators concurrently, each with its own account and keep-alive connection. Each
annotator calls GET /api/v1/me (authenticated, one account lookup: the baseline) for a while,
then votes with POST /api/v1/labels, whose reply carries the next pair; the two phases
alternate for a few rounds, so a change in the machine's load hits both alike. A third phase
calls GET /api/v1/health (no credentials, no store): the floor that the web framework and
this client set on this machine.

With --judge-phase, an admin then starts a judging job (POST /api/v1/jobs, the logit judge on
the embedded model) on the same server and, once its worker has judged a first chunk, the same
annotators vote while it runs; the job's progress is read before and after. Once the job is
cancelled and has ended, they vote as long again: a second baseline, on the store as the judge
phase left it and in one block as long as that phase (the idle phases are slices of a few
seconds). The store must hold enough pairs for every vote of the run. With --peer, Label
Studio (installed once into --peer-venv) serves the same pairs and the same annotators vote
there: submit an annotation, fetch the project's next task. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import partial
from pathlib import Path

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benches.label_studio_peer import LabelStudio, studio_annotator
from curation import Store, import_paths
from curation.labelling.accounts import add_user, list_users
from curation.labelling.queue import sync_queue
from tests.server_helpers import Server

PASSWORD = "bench-password"
ADMIN = "benchadmin"
# The read-only phases: the authenticated no-op, and the framework's floor (no login, no store).
READS = {"noop": "/me", "health": "/health"}
ACTIVE_JOB = ("queued", "running")

Vote = Callable[[], None]
# An annotator: given its number, a context (its connection, warmed up) yielding one timed step.
Annotator = Callable[[int], AbstractContextManager[Vote]]


def pair_texts(i: int) -> tuple[str, str, str]:
    """Pair i of the bench: its prompt and two responses (the same on both servers)."""
    return (
        f"Question {i}: how do I do task {i % 977}?",
        f"Answer one to {i}. " + "Some detail. " * 8,
        f"Answer two to {i}. " + "Other. " * 8,
    )


def build_store(path: Path, pairs: int) -> None:
    """A store with `pairs` unlabelled pairs (one prompt, two responses each)."""
    texts = [pair_texts(i) for i in range(pairs)]
    rows = pd.DataFrame(
        {"prompt": [t[0] for t in texts], "responses": [[t[1], t[2]] for t in texts]}
    )
    source = path.with_suffix(".parquet")
    rows.to_parquet(source)
    with Store(path) as store:
        import_paths(store, [source], format="responses")
        sync_queue(store)
    source.unlink()


def add_accounts(path: Path, annotators: int) -> None:
    """Accounts bench0..bench{annotators-1} and the admin, those a kept store lacks."""
    wanted = {f"bench{n}": "annotator" for n in range(annotators)} | {ADMIN: "admin"}
    with Store(path) as store:
        have = {account.name for account in list_users(store)}
        for name, role in wanted.items():
            if name not in have:
                add_user(store, name, role, PASSWORD)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load() -> float:
    """The machine's 1-minute load average (other work shares the cores)."""
    return round(os.getloadavg()[0], 1)


@contextmanager
def prefstudio_annotator(url: str, action: str, n: int) -> Iterator[Vote]:
    """Annotator n of prefstudio: yields one `action` (a GET of READS, or 'vote')."""
    with httpx.Client(
        base_url=f"{url}/api/v1", auth=(f"bench{n}", PASSWORD), timeout=120
    ) as client:
        pair = client.get("/next").json()  # warm-up: the first batch and the login cache
        client.get("/me").raise_for_status()

        def vote() -> None:
            nonlocal pair
            choice = random.choice("ab")
            reply = client.post("/labels", json={"pair_id": pair["pair_id"], "choice": choice})
            pair = reply.raise_for_status().json()["next"]
            if pair["done"]:
                raise RuntimeError("every pair is labelled: run with more --pairs")

        if action in READS:
            yield lambda: client.get(READS[action]).raise_for_status()
        else:
            yield vote


def run_clients(annotator: Annotator, annotators: int, seconds: float) -> list[float]:
    """Latencies (ms) of the steps of all annotators, started together, for `seconds`."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(annotators)

    def work(n: int) -> None:
        try:
            mine = timed_steps(n)
        except BaseException as error:  # reported by the main thread, once
            with lock:
                failures.append(error)
            start.abort()
            return
        with lock:
            latencies.extend(mine)

    def timed_steps(n: int) -> list[float]:
        mine = []
        with annotator(n) as step:
            start.wait()
            until = time.perf_counter() + seconds
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                step()
                mine.append((time.perf_counter() - t0) * 1000)
        return mine

    threads = [threading.Thread(target=work, args=(n,)) for n in range(annotators)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    real = [f for f in failures if not isinstance(f, threading.BrokenBarrierError)]
    if failures:
        raise SystemExit(f"bench_label: annotator request failed: {(real or failures)[0]}")
    return latencies


def summary(prefix: str, latencies: list[float], seconds: float) -> dict:
    """p50, p95 and rate of one phase's latencies, keys prefixed by `prefix`."""
    return {
        f"{prefix}p50_ms": round(statistics.median(latencies), 2),
        f"{prefix}p95_ms": round(percentile(latencies, 0.95), 2),
        f"{prefix}per_s": round(len(latencies) / seconds, 1),
    }


def idle_phases(url: str, args: argparse.Namespace) -> dict:
    """No-op, vote and health phases alternating in `args.rounds` rounds, nothing else running."""
    found: dict[str, list[float]] = {"noop": [], "vote": [], "health": []}
    for _ in range(args.rounds):
        for action in found:
            slice_s = args.seconds / args.rounds
            found[action] += run_clients(
                partial(prefstudio_annotator, url, action), args.annotators, slice_s
            )
    vote, noop = found["vote"], found["noop"]
    return {
        "votes": len(vote),
        "p50_ms": round(statistics.median(vote), 2),
        "p95_ms": round(percentile(vote, 0.95), 2),
        "votes_per_s": round(len(vote) / args.seconds, 1),
        **summary("noop_", noop, args.seconds),
        "ratio_vs_noop": round(percentile(vote, 0.95) / percentile(noop, 0.95), 2),
        "ratio_p50_vs_noop": round(statistics.median(vote) / statistics.median(noop), 2),
        **summary("health_", found["health"], args.seconds),
    }


def job_state(admin: httpx.Client, job_id: int) -> dict:
    """The job's status, the pairs its worker has judged, and the chunks stored so far."""
    job = admin.get(f"/jobs/{job_id}").raise_for_status().json()
    progress = job["progress"]
    return {
        "status": job["status"],
        "done": progress.get("done", 0),
        "total": progress.get("total"),
        "stored_chunks": job["chunks"],
        "error": job["error"],
        "worker_cpu_s": cpu_seconds(job["pid"]),
    }


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system, s) process `pid` has used so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until_judging(admin: httpx.Client, job_id: int, limit_s: float = 900) -> dict:
    """The job's state once its worker has judged a first chunk (the model is loaded and
    working); SystemExit when it ends or takes longer than `limit_s` before that."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        state = job_state(admin, job_id)
        if state["status"] not in ACTIVE_JOB:
            raise SystemExit(f"bench_label: the judge job ended before the phase: {state}")
        if state["done"] > 0:
            return state
        time.sleep(0.5)
    raise SystemExit(f"bench_label: the judge job judged nothing within {limit_s:.0f} s")


def wait_until_ended(admin: httpx.Client, job_id: int, limit_s: float = 120) -> None:
    """Return once the job has ended (its worker gone); SystemExit after `limit_s`."""
    deadline = time.monotonic() + limit_s
    while job_state(admin, job_id)["status"] in ACTIVE_JOB:
        if time.monotonic() > deadline:
            raise SystemExit(
                f"bench_label: job {job_id} still running {limit_s:.0f} s after cancel"
            )
        time.sleep(0.5)


def judge_phase(url: str, args: argparse.Namespace) -> dict:
    """The annotators vote while a judging job runs on the same server."""
    params = {"judge": "llm", "model": args.judge_model, "limit": args.judge_pairs}
    with httpx.Client(base_url=f"{url}/api/v1", auth=(ADMIN, PASSWORD), timeout=120) as admin:
        reply = admin.post("/jobs", json={"kind": "judge", "params": params})
        job_id = reply.raise_for_status().json()["id"]
        t0 = time.perf_counter()
        before = wait_until_judging(admin, job_id)
        start_s = time.perf_counter() - t0
        load_at = load()
        vote = run_clients(
            partial(prefstudio_annotator, url, "vote"), args.annotators, args.judge_seconds
        )
        load_end = load()
        after = job_state(admin, job_id)
        if after["status"] in ACTIVE_JOB:
            admin.post(f"/jobs/{job_id}/cancel").raise_for_status()
        wait_until_ended(admin, job_id)
        # The same vote phase once the job has ended, on the store as the judge phase left it.
        alone = run_clients(
            partial(prefstudio_annotator, url, "vote"), args.annotators, args.judge_seconds
        )
    return {
        "judge_pairs": args.judge_pairs,
        "judge_model": args.judge_model,
        "judge_start_s": round(start_s, 1),
        "judge_votes": len(vote),
        "judge_seconds": args.judge_seconds,
        **summary("judge_vote_", vote, args.judge_seconds),
        # The worker reports progress a chunk (32 pairs) at a time.
        "judged_during_phase": after["done"] - before["done"],
        "judge_worker_cpu_s_during_phase": round(after["worker_cpu_s"] - before["worker_cpu_s"], 1),
        "judge_chunks_stored_during_phase": after["stored_chunks"] - before["stored_chunks"],
        "judge_done_before_after": [before["done"], after["done"], before["total"]],
        "judge_job_still_running_at_end": after["status"] in ACTIVE_JOB,
        "judge_job_status_at_end": after["status"],
        "load_avg_judge_phase": [load_at, load_end],
        **summary("after_vote_", alone, args.judge_seconds),
        "judge_ratio_p95_vs_after": round(percentile(vote, 0.95) / percentile(alone, 0.95), 2),
    }


def peer_phase(args: argparse.Namespace, folder: Path) -> dict:
    """The same annotators, the same pairs (the first `args.peer_pairs`), on Label Studio."""
    studio = LabelStudio(args.peer_venv, folder, args.annotators)
    try:
        t0 = time.perf_counter()
        tasks = [
            dict(zip(("prompt", "a", "b"), pair_texts(i), strict=True))
            for i in range(args.peer_pairs)
        ]
        project = studio.create_project(tasks)
        import_s = time.perf_counter() - t0
        load_at = load()
        vote = run_clients(
            partial(studio_annotator, studio.url, project), args.annotators, args.seconds
        )
    finally:
        studio.stop()
    return {
        "peer": f"label-studio {studio.version} (label-studio start, SQLite, DEBUG=false)",
        "peer_pairs": args.peer_pairs,
        "peer_setup_s": round(studio.setup_s, 1),
        "peer_import_s": round(import_s, 1),
        "peer_votes": len(vote),
        **summary("peer_vote_", vote, args.seconds),
        "load_avg_peer_phase": [load_at, load()],
    }


def parse_args() -> argparse.Namespace:
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
    parser.add_argument(
        "--judge-phase", action="store_true", help="also vote while a judging job runs"
    )
    parser.add_argument("--judge-pairs", type=int, default=200, help="pairs the job judges")
    parser.add_argument(
        "--judge-seconds", type=float, default=None, help="length of that phase (--seconds)"
    )
    parser.add_argument("--judge-model", default="smollm2-135m")
    parser.add_argument("--peer", action="store_true", help="also drive Label Studio")
    parser.add_argument("--peer-pairs", type=int, default=100_000)
    parser.add_argument(
        "--peer-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "prefstudio-bench-label-studio",
        help="Label Studio's virtual environment, created and installed once",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    args.judge_seconds = args.judge_seconds or args.seconds
    folder = Path(tempfile.mkdtemp(prefix="bench-label-"))
    try:
        result = run_phases(args, folder)
    finally:
        shutil.rmtree(folder)
    print(json.dumps(result))


def run_phases(args: argparse.Namespace, folder: Path) -> dict:
    """Every phase asked for, one after the other, their figures in one dict."""
    db_path = args.keep or folder / "bench.duckdb"
    built = 0.0
    if not db_path.exists():
        t0 = time.perf_counter()
        build_store(db_path, args.pairs)
        built = time.perf_counter() - t0
    add_accounts(db_path, args.annotators)
    result: dict = {"bench": "label", "pairs": args.pairs, "annotators": args.annotators}
    load_before = load()
    server = Server(db_path)
    try:
        result |= idle_phases(server.url, args)
        result["load_avg_idle_phases"] = [load_before, load()]
        if args.judge_phase:
            result |= judge_phase(server.url, args)
            result["judge_ratio_p95_vs_idle"] = round(
                result["judge_vote_p95_ms"] / result["p95_ms"], 2
            )
    finally:
        server.stop()
    if args.peer:
        result |= peer_phase(args, folder)
        result["ratio_votes_per_s_vs_peer"] = round(
            result["votes_per_s"] / result["peer_vote_per_s"], 2
        )
    result["build_s"] = round(built, 1)
    result["cpus"] = os.cpu_count()
    return result


if __name__ == "__main__":
    main()
