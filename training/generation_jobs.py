"""Generation as a job: choose the prompts here (the store is read), generate in a worker.

The parent picks the prompts each model answers (or, on an OpenAI-compatible server, each
sample still to ask for) and writes them into the job's folder; the worker
(`training.generate_worker`) writes batches of samples as chunks, and the watcher of
`curation.jobs.runner` stores them. The job's result is a generation report
(`GenerateReport.to_dict()`), raised chunk by chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from curation.io.openai_client import endpoint_host
from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job
from curation.store.store import Store
from training.generate import GenerateReport, GenerationError, SamplingSettings, select_prompts
from training.generate_remote import RemoteGenerateReport, ServerOptions, pending_samples

Work = tuple[dict[str, Any], GenerateReport]  # what the worker reads, and the report to raise


def check_models(models: Sequence[str]) -> None:
    """Refuse a model folder that does not exist now, not in the worker (the embedded model
    is converted by the worker when needed)."""
    from training.models import EMBEDDED_MODEL, resolve_model

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
    server: ServerOptions | None = None,
) -> JobRecord:
    """Queue a generation job for the chosen prompts of each model (as `generate_candidates`
    chooses them), run here or, with `server`, asked of that OpenAI-compatible server; it
    starts at once unless another generation job runs."""
    if not models:
        raise GenerationError("name at least one model to generate with")
    if batch_size < 1:
        raise GenerationError(f"batch size must be at least 1, not {batch_size}")
    settings = settings or SamplingSettings()
    params: dict[str, Any] = {
        "models": list(models),
        "prompts": str(prompts),
        "limit": limit,
        "settings": asdict(settings),
        "batch_size": batch_size,
    }
    if server is None:
        work, report = _local_work(store, models, prompts, limit, settings)
    else:
        work, report = _server_work(store, models, server, prompts, limit, settings)
        params |= {"base_url": server.base_url, "server": server.options()}
    return create_job(store, "generate", params, work, report.to_dict())


def _local_work(
    store: Store,
    models: Sequence[str],
    prompts: str | Path,
    limit: int | None,
    settings: SamplingSettings,
) -> Work:
    """The prompts each model answers here ({model: [{id, messages}]}), and the report."""
    check_models(models)
    chosen = select_prompts(store, models, prompts, limit)
    todo = {model: [asdict(p) for p in todo] for model, todo in chosen.items()}
    report = GenerateReport(
        list(models),
        sum(len(p) for p in chosen.values()),
        asdict(settings),
        per_model=dict.fromkeys(models, 0),
    )
    return {"todo": todo}, report


def _server_work(
    store: Store,
    models: Sequence[str],
    server: ServerOptions,
    prompts: str | Path,
    limit: int | None,
    settings: SamplingSettings,
) -> Work:
    """The samples to ask the server for ([{model, prompt, index}]) and the report, which
    counts the samples of the selection already stored."""
    server.check()
    tasks, stored = pending_samples(store, models, prompts, limit, settings.n)
    todo = [{"model": t.model, "prompt": asdict(t.prompt), "index": t.index} for t in tasks]
    report = RemoteGenerateReport(
        list(models),
        len({(t.model, t.prompt.id) for t in tasks}),
        asdict(settings),
        per_model=dict.fromkeys(models, 0),
        endpoint=endpoint_host(server.base_url),
        already_stored=stored,
    )
    return {"todo": todo}, report
