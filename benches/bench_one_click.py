"""One-click DPO on the bundled sample: how much of its wall time is training, and what it learns.

Imports `data/` into a fresh store, labels nothing more, and runs one-click DPO (the newest
snapshot, or a new one; the preset's settings for the model) until the run ends, as
`prefstudio train --one-click` does. Prints one JSON line: the wall time from the click to the
recorded result, the training steps' time alone, `wall_over_training` (goal <= 1.5 at the
standard preset), each phase's seconds, and the held-out preference accuracy before and after.

    python benches/bench_one_click.py --preset standard
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--data", type=Path, default=REPO / "data")
    args = parser.parse_args()

    from curation import Store, import_paths
    from training.one_click import one_click_dpo
    from training.runs import wait_for_run

    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        import_paths(store, [args.data])
        clicked = time.perf_counter()
        started = one_click_dpo(store, model=args.model, preset=args.preset)
        run = wait_for_run(store, started.run.id, poll_seconds=0.5)
        wall = time.perf_counter() - clicked
        if run.status != "succeeded":
            raise SystemExit(f"run {run.id} {run.status}: {run.error}")
        phases = run.eval["phase_seconds"]
        print(
            json.dumps(
                {
                    "bench": "one_click",
                    "preset": args.preset,
                    "model": args.model,
                    "snapshot": started.snapshot,
                    "settings": {
                        k: run.config["settings"][k]
                        for k in (
                            "max_steps",
                            "learning_rate",
                            "per_device_train_batch_size",
                            "max_length",
                            "eval_pairs",
                            "sample_prompts",
                            "max_new_tokens",
                        )
                    },
                    "wall_seconds": round(wall, 1),
                    "training_seconds": phases["training"],
                    "wall_over_training": round(wall / phases["training"], 3),
                    "phase_seconds": phases,
                    "heldout_pairs": run.eval["heldout_pairs"],
                    "heldout_accuracy_before": run.eval["heldout_accuracy_before"],
                    "heldout_accuracy_after": run.eval["heldout_accuracy_after"],
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
                }
            )
        )


if __name__ == "__main__":
    main()
