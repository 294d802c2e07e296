"""Bench: the light learned judge against the rule baselines on real human preferences.

Imports Anthropic HH-RLHF harmless pairs (read in place, never copied) into a temporary
store, freezes a snapshot split by prompt (near-duplicate prompts share a split; fixed
seed), and learns the light judge from the training split with `judge learn`'s own code,
twice: the first time reads every response through the base model, the second finds every
feature cached (the cost of retraining as labels arrive). Then it refits on the first 100
and 300 training pairs (a fixed shuffle) from the cached features. Prints one JSON line:
per rule baseline and per training size, held-out agreement with a 95% Wilson interval and
calibration error (raw, and after calibration fitted on the training split), the training
times and their ratio, and the margin over the best rule.

    python benches/bench_learned_judge.py [--data PATH] [--model smollm2-135m]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from pathlib import Path

import pandas as pd

from app.job_requests import start_job
from curation import Store, import_paths
from curation.jobs.runner import wait_for_job
from curation.judging.judge_reads import snapshot_pairs
from curation.snapshots.freeze import create_snapshot
from curation.snapshots.snapshot_policy import SnapshotPolicy
from judges.base import choice_from_p
from judges.features import ResponseFeatures
from judges.heldout import judge_figures
from judges.learn import items_of, learned_report
from judges.learned import LightClassifier, features_dir, pair_differences

DATA = Path("/work/shared/data/hh-harmless-dev.jsonl")
SIZES = (100, 300)
KEPT = ("n", "agreement", "interval", "ece", "calibrated_ece")


def rounded(figures: dict) -> dict:
    """The figures this bench reports, to 4 places."""
    out = {}
    for key in KEPT:
        value = figures[key]
        if isinstance(value, float):
            value = round(value, 4)
        elif isinstance(value, list):
            value = [round(v, 4) for v in value]
        out[key] = value
    return out


def timed_learn(store: Store, model: str) -> tuple[dict, float]:
    """One `judge learn --method light` on the snapshot (a job, followed until it ends, as the
    CLI does), and its seconds."""
    started = time.perf_counter()
    params = {"method": "light", "snapshot": "bench", "model": model}
    job = wait_for_job(store, start_job(store, "learn", params).id)
    if job.status != "succeeded":
        raise SystemExit(f"learning job {job.id} {job.status}: {job.error}")
    return learned_report(store, job.result), time.perf_counter() - started


def subset_figures(
    train_diffs, train_a, test_diffs, test: pd.DataFrame, size: int, seed: str
) -> tuple[dict, float]:
    """Held-out figures of the classifier fitted on `size` shuffled training pairs, and the
    seconds the fit took (features already computed)."""
    rows = random.Random(seed).sample(range(len(train_a)), min(size, len(train_a)))
    started = time.perf_counter()
    classifier = LightClassifier.fit(train_diffs[rows], train_a[rows])
    seconds = time.perf_counter() - started
    p_a = classifier.p_a(test_diffs)
    verdicts = test.assign(p_a=p_a, choice=[choice_from_p(p, 0.0) for p in p_a])
    return judge_figures(verdicts, (classifier.oof_p_a, classifier.oof_human_a)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="HH-RLHF pairs (JSON Lines)")
    parser.add_argument("--model", default="smollm2-135m", help="base model of the features")
    parser.add_argument("--test-fraction", type=float, default=0.2)
    parser.add_argument("--seed", default="bench-learned-judge", help="split and shuffle seed")
    args = parser.parse_args()

    import torch

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        import_paths(store, [args.data], format="hh", source="hh-harmless")
        policy = SnapshotPolicy(test_fraction=args.test_fraction, split_seed=args.seed)
        create_snapshot(store, "bench", policy)
        first, uncached_s = timed_learn(store, args.model)
        again, cached_s = timed_learn(store, args.model)
        assert again["judge_key"] == first["judge_key"], "same labels gave another judge"
        train = snapshot_pairs(store, "bench", "train")
        test = snapshot_pairs(store, "bench", "test")
        features = ResponseFeatures(args.model, features_dir(store.files_dir))
        train_diffs = pair_differences(features, items_of(train))
        test_diffs = pair_differences(features, items_of(test))
        assert features.computed == 0, "features were not all cached"
    train_a = (train["human"] == "a").to_numpy()
    baselines = {
        label: rounded(figures)
        for label, figures in first["heldout"].items()
        if figures["baseline"]
    }
    learned = {"all": rounded(first["heldout"][first["judge"]])}
    fit_seconds = {}
    for size in SIZES:
        figures, fit_seconds[size] = subset_figures(
            train_diffs, train_a, test_diffs, test, size, args.seed
        )
        learned[str(size)] = rounded(figures)
    best_rule = max(f["agreement"] or 0.0 for f in baselines.values())
    print(
        json.dumps(
            {
                "bench": "learned_judge",
                "data": str(args.data),
                "model": args.model,
                "threads": torch.get_num_threads(),
                "amx": bool(getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()),
                "load_average": [round(x, 2) for x in os.getloadavg()],
                "train_pairs": first["train_pairs"],
                "test_pairs": first["test_pairs"],
                "baselines": baselines,
                "learned": learned,
                "margin_over_best_rule": {
                    size: round(f["agreement"] - best_rule, 4) for size, f in learned.items()
                },
                "train_seconds_uncached": round(uncached_s, 2),
                "train_seconds_cached": round(cached_s, 2),
                "ratio_uncached_vs_cached": round(uncached_s / cached_s, 2),
                "fit_seconds": {str(size): round(s, 2) for size, s in fit_seconds.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
