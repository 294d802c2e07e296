"""The generation worker: `python -m training.generate_worker DIR`.

Reads DIR/params.json (models, the prompts to answer per model, sampling settings, batch size),
generates batch by batch and writes each batch as a chunk of samples; it never opens the
store. Started again on the same folder it skips the prompts its chunks already answer. A job
with a base URL asks that OpenAI-compatible server instead (`generate_on_server_job`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from curation.arena.candidates import PromptToGenerate
from curation.jobs.files import (
    chunk_numbers,
    worker_main,
    write_chunk,
    write_progress,
    written_rows,
)
from training.generate import SamplingSettings, batch_responses, generate_batches
from training.generate_remote import generate_on_server_job


def generate_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """Answer every prompt of `params["todo"]` ({model: [{id, messages}]}) not yet in a chunk."""
    if params.get("base_url"):
        return generate_on_server_job(folder, params)
    from training.models import inference_dtype, load_causal_lm

    settings = SamplingSettings(**params["settings"])
    answered = {(row["model"], row["prompt_id"]) for row in written_rows(folder)}
    total = sum(len(prompts) for prompts in params["todo"].values())
    done = len(answered)
    number = max(chunk_numbers(folder), default=0)
    for model_name, prompts in params["todo"].items():
        todo = [
            PromptToGenerate(p["id"], p["messages"])
            for p in prompts
            if (model_name, p["id"]) not in answered
        ]
        if not todo:
            continue
        write_progress(folder, done, total, f"loading {model_name}")
        model, tokenizer = load_causal_lm(model_name, dtype=inference_dtype())
        write_progress(folder, done, total, f"generating with {model_name}")
        messages = [p.messages for p in todo]
        for batch in generate_batches(
            model, tokenizer, messages, settings, batch_size=params["batch_size"]
        ):
            number += 1
            rows = batch_responses(todo, model_name, settings, batch)
            write_chunk(folder, number, [asdict(row) for row in rows])
            done += len(batch)
            write_progress(folder, done, total, f"generating with {model_name}")
        del model, tokenizer  # free this model before loading the next
    write_progress(folder, done, total, "finished")
    return {}


if __name__ == "__main__":
    worker_main(generate_job)
