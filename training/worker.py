"""The training subprocess: `python -m training.worker RUN_DIR` trains the run its folder describes.

It reads `config.yaml` and the snapshot's Parquet files named there, scores the base model on
the held-out pairs, trains with the method's TRL trainer (resuming from the last checkpoint),
saves the adapter or model, scores the trained model, and answers held-out prompts with both.
It never opens the store: everything it learns goes into files of the run folder.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from training import run_spec as files
from training.evaluate import preference_accuracy, reward_accuracy
from training.methods import get_method, trainer_class, trl_config
from training.metrics_log import metrics_callback, read_json, write_json_atomically, write_progress
from training.run_spec import RunSpec, read_spec

TRAIN_COLUMNS = {
    "dpo": ("prompt", "chosen", "rejected"),
    "kto": ("prompt", "completion", "label"),
    "sft": ("prompt", "completion"),
}


def log(message: str) -> None:
    """One timestamped line on stdout (the parent sends it to log.txt)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_rows(path: str | None) -> list[dict[str, Any]]:
    """The rows of a snapshot Parquet file as plain dicts (none for a missing path)."""
    if not path or not Path(path).is_file():
        return []
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def training_dataset(spec: RunSpec) -> Any:
    """The training split as a `datasets.Dataset` with only the columns the trainer reads."""
    import datasets
    import pyarrow.parquet as pq

    table = pq.read_table(spec.data["train"])
    fmt = get_method(spec.method).snapshot_format
    columns = TRAIN_COLUMNS[fmt]
    if fmt == "sft" and "messages" in table.column_names and "completion" not in table.column_names:
        columns = ("messages",)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(f"{spec.data['train']} lacks column(s) {', '.join(missing)} for {fmt}")
    if table.num_rows == 0:
        raise ValueError(f"{spec.data['train']} has no rows to train on")
    return datasets.Dataset(table.select(list(columns)))


def sample_prompts(pairs: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` distinct held-out prompts, with their store ids when the snapshot has them."""
    seen: dict[str, dict[str, Any]] = {}
    for row in pairs:
        key = row.get("prompt_id") or json.dumps(row["prompt"], sort_keys=True)
        if key not in seen and len(seen) < limit:
            seen[key] = {"prompt_id": row.get("prompt_id"), "prompt": row["prompt"]}
    return list(seen.values())


def load_model(spec: RunSpec) -> tuple[Any, Any]:
    """The base model and tokenizer for the method (a causal LM, or a classifier for rm)."""
    from training.models import load_causal_lm, load_sequence_classifier

    settings = spec.settings
    quantization = None if settings.quantization == "none" else settings.quantization
    load = (
        load_sequence_classifier
        if get_method(spec.method).model_kind == "classifier"
        else load_causal_lm
    )
    return load(spec.model, quantization=quantization, trust_remote_code=settings.trust_remote_code)


def score(spec: RunSpec, model: Any, tokenizer: Any, pairs: list[dict]) -> float | None:
    """Held-out accuracy: reward accuracy for rm, log-likelihood preference accuracy otherwise."""
    accuracy = reward_accuracy if spec.method == "rm" else preference_accuracy
    settings = spec.settings
    return accuracy(
        model,
        tokenizer,
        pairs,
        batch_size=settings.eval_batch_size,
        max_length=settings.max_length,
    )


def answer(spec: RunSpec, model: Any, tokenizer: Any, prompts: list[dict]) -> list[str]:
    """Greedy answers to the sample prompts."""
    from training.generate import SamplingSettings, generate_texts

    if not prompts:
        return []
    greedy = SamplingSettings(n=1, temperature=0, max_new_tokens=spec.settings.max_new_tokens)
    texts = generate_texts(
        model,
        tokenizer,
        [p["prompt"] for p in prompts],
        greedy,
        batch_size=spec.settings.eval_batch_size,
    )
    return [samples[0] for samples in texts]


def evaluate_base(
    spec: RunSpec, run_dir: Path, model: Any, tokenizer: Any, pairs: list, prompts: list
) -> dict[str, Any]:
    """Score and sample the untrained model once; a resumed run reuses the saved result."""
    saved = read_json(run_dir / files.EVAL_BEFORE_FILE)
    if saved is not None:
        return saved
    write_progress(run_dir / files.PROGRESS_FILE, "evaluating base model")
    log(f"scoring the base model on {len(pairs)} held-out pairs")
    before = {
        "heldout_accuracy_before": score(spec, model, tokenizer, pairs),
        "base_answers": answer(spec, model, tokenizer, prompts),
    }
    write_json_atomically(run_dir / files.EVAL_BEFORE_FILE, before)
    return before


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint folder of an interrupted run, if any.

    A run cancelled while saving leaves a folder without `trainer_state.json`; it is skipped.
    """
    folder = run_dir / files.CHECKPOINTS_DIR
    complete = [
        path
        for path in folder.glob("checkpoint-*")
        if path.name.split("-")[-1].isdigit() and (path / "trainer_state.json").is_file()
    ]
    if not complete:
        return None
    return str(max(complete, key=lambda path: int(path.name.split("-")[-1])))


def build_trainer(spec: RunSpec, run_dir: Path, model: Any, tokenizer: Any) -> Any:
    """The method's TRL trainer over the training split, logging to metrics.jsonl.

    With LoRA, DPO and KTO get no reference model: TRL uses the base with the adapter disabled.
    """
    method = get_method(spec.method)
    return trainer_class(spec.method)(
        model=model,
        args=trl_config(spec.method, spec.settings, str(run_dir / files.CHECKPOINTS_DIR)),
        train_dataset=training_dataset(spec),
        processing_class=tokenizer,
        peft_config=spec.settings.lora_config(method.peft_task),
        callbacks=[metrics_callback(run_dir / files.METRICS_FILE, run_dir / files.PROGRESS_FILE)],
    )


def write_generations(
    run_dir: Path, spec: RunSpec, prompts: list[dict], base: list[str], trained: list[str]
) -> None:
    """Write the base and trained model's answers to each sample prompt, one JSON line each."""
    with open(run_dir / files.GENERATIONS_FILE, "w", encoding="utf-8") as out:
        for prompt, base_text, trained_text in zip(prompts, base, trained, strict=True):
            row = {**prompt, "base_model": spec.model, "base": base_text, "trained": trained_text}
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def train_run(run_dir: Path) -> dict[str, Any]:
    """Train the run described by `run_dir/config.yaml`; return what is written to eval.json."""
    progress = run_dir / files.PROGRESS_FILE
    write_progress(progress, "loading")
    spec = read_spec(run_dir)
    log(f"run {spec.run_id}: {spec.method} on snapshot {spec.snapshot} from {spec.model}")
    pairs = read_rows(spec.data.get("eval_pairs"))
    prompts = [] if spec.method == "rm" else sample_prompts(pairs, spec.settings.sample_prompts)
    model, tokenizer = load_model(spec)
    before = evaluate_base(spec, run_dir, model, tokenizer, pairs, prompts)
    trainer = build_trainer(spec, run_dir, model, tokenizer)
    resume_from = last_checkpoint(run_dir)
    log(f"training{f' (resuming from {resume_from})' if resume_from else ''}")
    started = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    train_seconds = time.time() - started
    if not trainer.accelerator.is_main_process:
        return {}
    write_progress(progress, "saving", trainer.state.global_step, trainer.state.max_steps)
    trainer.save_model(str(run_dir / files.MODEL_DIR))
    tokenizer.save_pretrained(str(run_dir / files.MODEL_DIR))
    trained = trainer.accelerator.unwrap_model(trainer.model)
    write_progress(progress, "evaluating trained model", trainer.state.global_step)
    log("scoring the trained model")
    results = {
        "method": spec.method,
        "heldout_pairs": len(pairs),
        "heldout_accuracy_before": before["heldout_accuracy_before"],
        "heldout_accuracy_after": score(spec, trained, tokenizer, pairs),
        "accuracy_measure": "reward score"
        if spec.method == "rm"
        else "length-normalized log-likelihood",
        "train_steps": trainer.state.global_step,
        "train_seconds": round(train_seconds, 2),
        "train_loss": result.training_loss,
        "sample_prompts": len(prompts),
        "model_dir": str(run_dir / files.MODEL_DIR),
    }
    write_generations(
        run_dir, spec, prompts, before["base_answers"], answer(spec, trained, tokenizer, prompts)
    )
    write_json_atomically(run_dir / files.EVAL_FILE, results)
    write_progress(progress, "done", trainer.state.global_step, trainer.state.max_steps)
    log(
        f"done in {train_seconds:.1f}s: held-out accuracy {results['heldout_accuracy_before']} "
        f"-> {results['heldout_accuracy_after']}"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: train one run folder; on failure write error.json and return 1."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m training.worker RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    try:
        train_run(run_dir)
    except Exception as error:
        traceback.print_exc()
        write_json_atomically(
            run_dir / files.ERROR_FILE,
            {
                "type": type(error).__name__,
                "message": (str(error).strip().splitlines() or [""])[0][:500],
            },
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
