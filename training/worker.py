"""The training subprocess: `python -m training.worker RUN_DIR` trains the run its folder describes.

It reads `config.yaml` and the snapshot's Parquet files named there, scores the base model on
(at most `eval_pairs`) held-out pairs, trains with the method's TRL trainer (resuming from the
last checkpoint), saves the adapter or model, scores the trained model, and answers (at most
`sample_prompts`) held-out prompts with both. Each phase reports its progress (k of n) in
progress.json. It never opens the store: the sample answers become a result chunk (stored as
pairs to label) and the evaluation, with each phase's time, `result.json` (`{"eval": ...}`).
A bad setting or model fails with a `bad config:` line.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from curation.errors import PrefstudioError
from curation.jobs import files
from curation.jobs.pacing import start_pacing
from training import run_spec
from training.evaluate import preference_accuracy, reward_accuracy
from training.methods import get_method, trainer_class, trl_config
from training.metrics_log import metrics_callback
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


class Phases:
    """The worker's phases: each one's progress is the job's (in `folder`), its time goes to
    `seconds`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seconds: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str, total: int = 0) -> Iterator[Callable[[int], None]]:
        """Run a phase of `total` items; the block calls the yielded function with items done."""
        files.write_progress(self.folder, 0, total, name)
        started = time.time()
        yield lambda done: files.write_progress(self.folder, done, total, name)
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.time() - started, 2)


def score(
    spec: RunSpec, model: Any, tokenizer: Any, pairs: list[dict], phases: Phases, name: str
) -> float | None:
    """Held-out accuracy: reward accuracy for rm, log-likelihood preference accuracy otherwise."""
    accuracy = reward_accuracy if spec.method == "rm" else preference_accuracy
    settings = spec.settings
    with phases.phase(name, len(pairs)) as done:
        return accuracy(
            model,
            tokenizer,
            pairs,
            batch_size=settings.eval_batch_size,
            max_length=settings.max_length,
            on_batch=done,
        )


def answer(
    spec: RunSpec, model: Any, tokenizer: Any, prompts: list[dict], phases: Phases, name: str
) -> list[str]:
    """Greedy answers to the sample prompts, in their order."""
    from training.generate import SamplingSettings, generate_batches

    if not prompts:
        return []
    greedy = SamplingSettings(n=1, temperature=0, max_new_tokens=spec.settings.max_new_tokens)
    texts = [""] * len(prompts)
    with phases.phase(name, len(prompts)) as done:
        batches = generate_batches(
            model,
            tokenizer,
            [p["prompt"] for p in prompts],
            greedy,
            batch_size=spec.settings.eval_batch_size,
        )
        finished = 0
        for batch in batches:
            for index, samples in batch:
                texts[index] = samples[0].text
            finished += len(batch)
            done(finished)
    return texts


def evaluate_base(
    spec: RunSpec,
    run_dir: Path,
    model: Any,
    tokenizer: Any,
    pairs: list,
    prompts: list,
    phases: Phases,
) -> dict[str, Any]:
    """Score and sample the untrained model once; a resumed run reuses the saved result."""
    saved = files.read_json(run_dir / run_spec.EVAL_BEFORE_FILE)
    if saved is not None:
        return saved
    log(f"scoring the base model on {len(pairs)} held-out pairs")
    accuracy = score(spec, model, tokenizer, pairs, phases, "scoring base model")
    log(f"answering {len(prompts)} sample prompts with the base model")
    before = {
        "heldout_accuracy_before": accuracy,
        "base_answers": answer(spec, model, tokenizer, prompts, phases, "base model answers"),
    }
    files.write_json_atomically(run_dir / run_spec.EVAL_BEFORE_FILE, before)
    return before


def last_checkpoint(run_dir: Path) -> str | None:
    """The newest complete checkpoint folder of an interrupted run, if any.

    A run cancelled while saving leaves a folder without `trainer_state.json`; it is skipped.
    """
    folder = run_dir / run_spec.CHECKPOINTS_DIR
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
        args=trl_config(spec.method, spec.settings, str(run_dir / run_spec.CHECKPOINTS_DIR)),
        train_dataset=training_dataset(spec),
        processing_class=tokenizer,
        peft_config=spec.settings.lora_config(method.peft_task),
        callbacks=[metrics_callback(run_dir / files.METRICS_FILE, run_dir)],
    )


def write_answers(
    run_dir: Path, spec: RunSpec, prompts: list[dict], base: list[str], trained: list[str]
) -> None:
    """Write the base and trained model's answers to each sample prompt as the next chunk."""
    rows = [
        {**prompt, "base_model": spec.model, "base": base_text, "trained": trained_text}
        for prompt, base_text, trained_text in zip(prompts, base, trained, strict=True)
    ]
    files.write_chunk(run_dir, files.next_chunk_number(run_dir), rows)


def train_run(run_dir: Path) -> dict[str, Any]:
    """Train the run described by `run_dir/config.yaml`; return its evaluation (as written in
    result.json)."""
    phases = Phases(run_dir)
    with phases.phase("loading"):
        spec = read_spec(run_dir)
        log(f"run {spec.run_id}: {spec.method} on snapshot {spec.snapshot} from {spec.model}")
        pairs = read_rows(spec.data.get("eval_pairs"))[: spec.settings.eval_pairs]
        limit = 0 if spec.method == "rm" else spec.settings.sample_prompts
        prompts = sample_prompts(pairs, limit)
        model, tokenizer = load_model(spec)
    before = evaluate_base(spec, run_dir, model, tokenizer, pairs, prompts, phases)
    trainer = build_trainer(spec, run_dir, model, tokenizer)
    resume_from = last_checkpoint(run_dir)
    log(f"training{f' (resuming from {resume_from})' if resume_from else ''}")
    started = time.time()
    result = trainer.train(resume_from_checkpoint=resume_from)
    phases.seconds["training"] = round(time.time() - started, 2)
    if not trainer.accelerator.is_main_process:
        return {}
    state = trainer.state
    with phases.phase("saving"):
        trainer.save_model(str(run_dir / run_spec.MODEL_DIR))
        tokenizer.save_pretrained(str(run_dir / run_spec.MODEL_DIR))
    trained = trainer.accelerator.unwrap_model(trainer.model)
    log("scoring the trained model")
    after = score(spec, trained, tokenizer, pairs, phases, "scoring trained model")
    trained_answers = answer(spec, trained, tokenizer, prompts, phases, "trained model answers")
    results = {
        "method": spec.method,
        "heldout_pairs": len(pairs),
        "heldout_accuracy_before": before["heldout_accuracy_before"],
        "heldout_accuracy_after": after,
        "accuracy_measure": "reward score"
        if spec.method == "rm"
        else "length-normalized log-likelihood",
        "train_steps": state.global_step,
        "train_seconds": phases.seconds["training"],
        "train_loss": result.training_loss,
        "sample_prompts": len(prompts),
        "phase_seconds": phases.seconds,
        "model_dir": str(run_dir / run_spec.MODEL_DIR),
    }
    write_answers(run_dir, spec, prompts, before["base_answers"], trained_answers)
    files.write_json_atomically(run_dir / files.RESULT_FILE, {"eval": results})
    files.write_progress(run_dir, state.global_step, state.max_steps, "done")
    log(
        f"done in {phases.seconds['training']:.1f}s of training: held-out accuracy "
        f"{results['heldout_accuracy_before']} -> {results['heldout_accuracy_after']}"
    )
    return results


def main(argv: list[str] | None = None) -> int:
    """Entry point: train one run folder; on failure write error.json (a bad setting or model
    as a `bad config:` line) and return 1."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m training.worker RUN_DIR", file=sys.stderr)
        return 2
    run_dir = Path(args[0])
    start_pacing()
    try:
        train_run(run_dir)
    except Exception as error:
        traceback.print_exc()
        files.write_json_atomically(run_dir / files.ERROR_FILE, failure(error))
        return 1
    return 0


def failure(error: Exception) -> dict[str, Any]:
    """What error.json says of the exception a run failed with: its type and first line, as
    one `bad config:` line (`domain`) when a setting or the model was wrong."""
    message = (str(error).strip().splitlines() or [""])[0][:500]
    kind = type(error).__name__
    bad_config = isinstance(error, ValueError | TypeError | KeyError | PrefstudioError)
    if bad_config:
        return {"type": kind, "message": f"bad config: {kind}: {message}", "domain": True}
    return {"type": kind, "message": message}


if __name__ == "__main__":
    sys.exit(main())
