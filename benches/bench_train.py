"""Training overhead: one DPO config through a prefstudio run and through a plain TRL script.

Both sides train the same model on the same snapshot file with the same LoRA and optimiser
settings, each in its own subprocess (alternating, `--repeats` times each, the first side
swapped every repeat). Prints one JSON line: seconds per step of each (best of the repeats),
`step_time_ratio_vs_plain_trl` (prefstudio / plain; goal <= 1.05), tokens per second, and
each side's peak memory (RSS).

    python benches/bench_train.py --steps 10 --max-length 128 --batch-size 2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LORA = {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.05}


def settings(args: argparse.Namespace) -> dict:
    """The one DPO config both sides train with."""
    return {
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch_size,
        "max_length": args.max_length,
        "learning_rate": 1e-4,
        "beta": 0.1,
        "logging_steps": 1,
        "save_steps": 10_000,  # no checkpoint inside the timed steps, as in the plain script
        "quantization": args.quantization,
        "sample_prompts": 0,
        **LORA,
    }


def plain_trl(config_path: str) -> None:
    """The baseline: TRL's DPOTrainer on the same data, written as a user would."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig
    from trl import DPOConfig, DPOTrainer

    config = json.loads(Path(config_path).read_text())
    values = config["settings"]
    cuda = torch.cuda.is_available()
    quantized = values["quantization"] != "none"
    model = AutoModelForCausalLM.from_pretrained(
        config["model_dir"],
        dtype=torch.bfloat16 if cuda else torch.float32,
        quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4")
        if quantized
        else None,
    )
    tokenizer = AutoTokenizer.from_pretrained(config["model_dir"])
    train = datasets.Dataset.from_parquet(config["train"]).select_columns(
        ["prompt", "chosen", "rejected"]
    )
    trainer = DPOTrainer(
        model=model,
        args=DPOConfig(
            output_dir=config["out"],
            max_steps=values["max_steps"],
            per_device_train_batch_size=values["per_device_train_batch_size"],
            max_length=values["max_length"],
            learning_rate=values["learning_rate"],
            beta=values["beta"],
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=not cuda,
            bf16=cuda and torch.cuda.is_bf16_supported(),
            activation_checkpointing=False,
            disable_tqdm=True,
            seed=42,
        ),
        train_dataset=train,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=values["lora_rank"],
            lora_alpha=values["lora_alpha"],
            lora_dropout=values["lora_dropout"],
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        ),
    )
    started = time.time()
    trainer.train()
    seconds = time.time() - started
    tokens = max((row.get("num_tokens", 0) for row in trainer.state.log_history), default=0)
    result = {"seconds": seconds, "steps": trainer.state.global_step, "tokens": tokens}
    if cuda:
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
    Path(config["out"], "result.json").write_text(json.dumps(result))


def run_child(command: list[str], log: Path) -> int:
    """Run a command to its end (output to `log`); return its peak resident memory in bytes."""
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{command[:4]} failed:\n{log.read_text()[-3000:]}")
    return usage.ru_maxrss * 1024  # Linux reports kilobytes


def prefstudio_side(store, snapshot: str, model: str, values: dict, workdir: Path, n: int) -> dict:
    """One prefstudio run: its worker subprocess, on a folder as a training job gets it."""
    from curation.jobs.files import read_json, read_metrics
    from training.run_spec import write_spec
    from training.runs import plan_run

    folder = workdir / f"prefstudio-{n}"
    folder.mkdir()
    write_spec(
        folder, plan_run(store, snapshot=snapshot, method="dpo", model=model, settings=values)
    )
    peak = run_child([sys.executable, "-m", "training.worker", str(folder)], folder / "log.txt")
    results = read_json(folder / "result.json")["eval"]
    rows = read_metrics(folder / "metrics.jsonl")
    tokens = max((row.get("num_tokens") or 0 for row in rows), default=0)
    return {
        "seconds": results["train_seconds"],
        "steps": results["train_steps"],
        "tokens": tokens,
        "peak_rss": peak,
    }


def plain_side(train_file: str, model_dir: str, values: dict, workdir: Path, n: int) -> dict:
    """One plain TRL run in its own subprocess."""
    out = workdir / f"plain-{n}"
    out.mkdir()
    config = out / "config.json"
    config.write_text(
        json.dumps(
            {"model_dir": model_dir, "train": train_file, "out": str(out), "settings": values}
        )
    )
    peak = run_child([sys.executable, __file__, "--plain", str(config)], out / "log.txt")
    return {**json.loads((out / "result.json").read_text()), "peak_rss": peak}


def best(results: list[dict]) -> dict:
    """The fastest repeat, with its seconds per step and tokens per second."""
    fastest = min(results, key=lambda r: r["seconds"] / r["steps"])
    return {
        "step_seconds": fastest["seconds"] / fastest["steps"],
        "tokens_per_s": fastest["tokens"] / fastest["seconds"],
        "peak_rss_mb": max(r["peak_rss"] for r in results) / 2**20,
        **(
            {"peak_gpu_mb": fastest["peak_gpu_bytes"] / 2**20}
            if "peak_gpu_bytes" in fastest
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--quantization", choices=["none", "4bit"], default="none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--plain", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plain:
        plain_trl(args.plain)
        return

    from curation import Store, import_paths
    from curation.snapshots.freeze import create_snapshot, snapshot_files
    from training.models import resolve_model

    values = settings(args)
    model_dir = resolve_model(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with Store(workdir / "bench.duckdb") as store:
            import_paths(store, [REPO / "data"])
            create_snapshot(store, "bench")
            train_file = str(snapshot_files(store, "bench")["dpo"]["train"])
            ours, plain = [], []
            for n in range(args.repeats):
                # Alternate, so a busy machine slows both alike, and swap which side goes
                # first, so neither always runs on the warmer machine.
                for side in ("ours", "plain") if n % 2 == 0 else ("plain", "ours"):
                    if side == "ours":
                        ours.append(prefstudio_side(store, "bench", args.model, values, workdir, n))
                    else:
                        plain.append(plain_side(train_file, model_dir, values, workdir, n))
    prefstudio, baseline = best(ours), best(plain)
    print(
        json.dumps(
            {
                "model": args.model,
                "steps": args.steps,
                "batch_size": args.batch_size,
                "max_length": args.max_length,
                "quantization": args.quantization,
                "prefstudio": prefstudio,
                "plain_trl": baseline,
                "step_time_ratio_vs_plain_trl": round(
                    prefstudio["step_seconds"] / baseline["step_seconds"], 3
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
