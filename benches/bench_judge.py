"""Bench: the logit LLM judge against a generate-and-parse judge on the same model and pairs.

Both judge the same labelled pairs of the bundled sample (imported into a temporary store) in
both orders, with the same model loaded once; the generate-and-parse judge writes a short
explanation and a `[[A]]`/`[[B]]` verdict. Prints one JSON line: pairs per second of each,
their ratio, and each judge's agreement (and kappa) with the human labels.

    python benches/bench_judge.py --pairs 20
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from curation import Store, import_paths
from judges.base import Judge, PairItem
from judges.generative import GenerateJudge
from judges.llm import LogitJudge
from judges.report import judge_report
from judges.runs import run_judge
from training.models import DTYPES

SAMPLE = Path(__file__).resolve().parent.parent / "data"
WARM_UP = PairItem("warm-up", [{"role": "user", "content": "What is 2+2?"}], "4.", "5.")


def timed_run(store: Store, judge: Judge, pairs: int) -> float:
    """Seconds one judge takes over the first `pairs` labelled pairs (none cached)."""
    start = time.perf_counter()
    summary = run_judge(store, judge, pairs="labeled", limit=pairs)
    elapsed = time.perf_counter() - start
    assert summary.judged == summary.selected == pairs, summary
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20, help="labelled pairs to judge")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=96, help="for the generate judge")
    parser.add_argument(
        "--dtype", choices=DTYPES, default="auto", help="weights of the model both judges share"
    )
    args = parser.parse_args()

    import torch

    logit = LogitJudge(args.model, batch_size=args.batch_size, dtype=args.dtype)
    loaded = logit.lm  # loaded once, shared by both judges
    generate = GenerateJudge(
        args.model,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
        dtype=args.dtype,
        loaded=loaded,
    )
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.duckdb") as store:
        import_paths(store, [SAMPLE])
        for judge in (logit, generate):  # warm-up, not timed
            judge.judge([WARM_UP])
        logit_s = timed_run(store, logit, args.pairs)
        generate_s = timed_run(store, generate, args.pairs)
        report = judge_report(store, baselines=False).judges
    llm, gen = report[logit.label], report[generate.label]
    print(
        json.dumps(
            {
                "bench": "judge",
                "model": args.model,
                "device": str(loaded[0].device),
                "dtype": str(loaded[0].dtype).removeprefix("torch."),
                "threads": torch.get_num_threads(),
                "pairs": args.pairs,
                "pairs_per_s": round(args.pairs / logit_s, 3),
                "generate_pairs_per_s": round(args.pairs / generate_s, 3),
                "ratio_vs_generate": round(generate_s / logit_s, 2),
                "agreement": llm["agreement"],
                "agreement_n": llm["agreement_n"],
                "kappa": llm["kappa"],
                "p_agreement": llm["p_agreement"],
                "p_agreement_n": llm["p_agreement_n"],
                "generate_agreement": gen["agreement"],
                "generate_agreement_n": gen["agreement_n"],
                "generate_kappa": gen["kappa"],
                "generate_p_agreement": gen["p_agreement"],
                "generate_p_agreement_n": gen["p_agreement_n"],
                "generate_failed": gen["failed"],
                "max_new_tokens": args.max_new_tokens,
            }
        )
    )


if __name__ == "__main__":
    main()
