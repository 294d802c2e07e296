"""Generation speed: batched, length-sorted, left-padded generation vs one prompt at a time.

Takes the first N user prompts of the bundled sample (data/), then in the same run, with the
same model and greedy decoding to a fixed `max_new_tokens`, times
  * batched: `generate_batches` with `--batch-size` prompts per forward pass;
  * baseline: the same function with one prompt per call.
New tokens are counted up to each answer's end (EOS), not padding. Prints one JSON line:
tokens_per_s (batched), baseline_tokens_per_s, ratio_vs_unbatched, and how many answers came
out identical in both (greedy decoding, so all of them up to float rounding).

    python benches/bench_generate.py --prompts 32 --max-new-tokens 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from training.generate import Messages, SamplingSettings, as_messages, generate_batches
from training.models import DTYPES, EMBEDDED_MODEL, load_causal_lm, torch_dtype

DATA = Path(__file__).resolve().parent.parent / "data"


def sample_prompts(count: int) -> list[Messages]:
    """The first `count` distinct prompts of the bundled sample, as conversations."""
    prompts: dict[str, Messages] = {}
    for path in sorted(DATA.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            prompt = json.loads(line).get("prompt")
            if prompt is not None:
                messages = as_messages(prompt)
                prompts.setdefault(json.dumps(messages), messages)
    return list(prompts.values())[:count]


def timed_generation(
    model: Any, tokenizer: Any, prompts: list[Messages], settings: SamplingSettings, batch_size: int
) -> tuple[float, int, list[str]]:
    """Seconds taken, new tokens written, and the texts (in prompt order)."""
    texts = [""] * len(prompts)
    tokens = 0
    started = time.perf_counter()
    for batch in generate_batches(model, tokenizer, prompts, settings, batch_size=batch_size):
        for index, (sample,) in batch:
            texts[index] = sample.text
            tokens += sample.tokens
    return time.perf_counter() - started, tokens, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=EMBEDDED_MODEL)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument(
        "--dtype", choices=DTYPES, default="auto", help="weights' type (auto: as `generate` loads)"
    )
    args = parser.parse_args()

    model, tokenizer = load_causal_lm(args.model, dtype=torch_dtype(args.dtype))
    prompts = sample_prompts(args.prompts)
    settings = SamplingSettings(temperature=0, max_new_tokens=args.max_new_tokens)
    timed_generation(model, tokenizer, prompts[:2], settings, 2)  # warm-up
    seconds, tokens, texts = timed_generation(model, tokenizer, prompts, settings, args.batch_size)
    base_seconds, base_tokens, base_texts = timed_generation(model, tokenizer, prompts, settings, 1)
    rate, base_rate = tokens / seconds, base_tokens / base_seconds
    print(
        json.dumps(
            {
                "bench": "generate",
                "model": args.model,
                "device": str(model.device),
                "dtype": str(model.dtype).removeprefix("torch."),
                "threads": torch.get_num_threads(),
                "machine": platform.machine(),
                "prompts": len(prompts),
                "max_new_tokens": args.max_new_tokens,
                "batch_size": args.batch_size,
                "new_tokens": tokens,
                "seconds": round(seconds, 2),
                "tokens_per_s": round(rate, 1),
                "baseline_seconds": round(base_seconds, 2),
                "baseline_tokens_per_s": round(base_rate, 1),
                "ratio_vs_unbatched": round(rate / base_rate, 2),
                "same_texts": sum(a == b for a, b in zip(texts, base_texts, strict=True)),
            }
        )
    )


if __name__ == "__main__":
    main()
