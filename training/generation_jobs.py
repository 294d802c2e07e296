"""Generation as a job: choose the prompts here (the store is read), generate in a worker.

The parent picks the prompts each model answers and writes them into the job's folder; the
worker (`training.generate_worker`) writes batches of samples as chunks, and the watcher of
`curation.jobs.runner` stores them. The job's result is a generation report
(`GenerateReport.to_dict()`), raised chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job
from curation.store.store import Store
from training.generate import GenerateReport, GenerationError, SamplingSettings, select_prompts


def check_models(models: Sequence[str]) -> None:
    """Refuse a model folder that does not exist now, not in the worker (the embedded model
    is converted by the worker when needed)."""
    from training.models import EMBEDDED_MODEL, resolve_model

    if not models:
        raise GenerationError("name at least one model to generate with")
    for model in models:
        if model != EMBEDDED_MODEL:
            resolve_model(model)


def start_generation(
    store: Store,
    models: Sequence[str],
    *,
    prompts: str | Path = "unlabeled",
    limit: int | None = None,
    settings: SamplingSettings | None = None,
    batch_size: int = 8,
) -> JobRecord:
    """Queue a generation job for the chosen prompts of each model (as `generate_candidates`
    chooses them); it starts at once unless another generation job runs."""
    if batch_size < 1:
        raise GenerationError(f"batch size must be at least 1, not {batch_size}")
    check_models(models)
    settings = settings or SamplingSettings()
    chosen = select_prompts(store, models, prompts, limit)
    params: dict[str, Any] = {
        "models": list(models),
        "prompts": str(prompts),
        "limit": limit,
        "settings": asdict(settings),
        "batch_size": batch_size,
    }
    todo = {model: [asdict(p) for p in todo] for model, todo in chosen.items()}
    report = GenerateReport(
        list(models),
        sum(len(p) for p in chosen.values()),
        asdict(settings),
        per_model=dict.fromkeys(models, 0),
    )
    return create_job(store, "generate", params, {"todo": todo}, report.to_dict())
