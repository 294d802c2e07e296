"""Judging as a job: build the judge and pick the pairs here, judge them in a worker.

The parent (holding the store) builds the judge (no model is loaded), records it, and writes
into the job's folder how to build it again and every pair it has no verdict for yet; the
worker (`judges.judge_worker`) writes verdicts in chunks, and the watcher of
`curation.jobs.runner` stores them. The job's result is a run summary
(`RunSummary.to_dict()`), raised chunk by chunk.
"""

from __future__ import annotations

from typing import Any

from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job
from curation.judging.judgments import pairs_to_judge, register_judge
from curation.store.store import Store
from judges.base import Judge
from judges.registry import (
    JUDGE_KINDS,
    KIND_ALIASES,
    build_judge,
    judge_for,
    judge_from_description,
)
from judges.runs import RunSummary

CHUNK_SIZE = 32  # pairs per chunk of verdicts


def judge_recipe(store: Store, kind_or_key: str, model: str | None, options: dict) -> dict:
    """How a worker builds the judge again: by kind, model and options, or (a judge named by
    its key) from its recorded description."""
    if KIND_ALIASES.get(kind_or_key, kind_or_key) in JUDGE_KINDS:
        given = {name: value for name, value in options.items() if value is not None}
        return {"kind": kind_or_key, "model": model, "options": given}
    judge = judge_for(store, kind_or_key)
    described = {**judge.describe(), "key": judge.key(), "label": judge.label}
    return {"description": described, "files_dir": str(store.files_dir)}


def judge_from_recipe(recipe: dict[str, Any]) -> Judge:
    """The judge a recipe (as `judge_recipe` writes it) stands for."""
    from pathlib import Path

    if "description" in recipe:
        return judge_from_description(Path(recipe["files_dir"]), recipe["description"])
    return build_judge(recipe["kind"], recipe["model"], **recipe["options"])


def start_judging(
    store: Store,
    kind_or_key: str,
    model: str | None = None,
    *,
    pairs: str = "unlabeled",
    limit: int | None = None,
    **options: Any,
) -> JobRecord:
    """Queue a judging job over the selected pairs this judge has no verdict for; it starts at
    once unless another judging job runs. Bad judges or selections are refused here."""
    judge = judge_for(store, kind_or_key, model, **options)
    recipe = judge_recipe(store, kind_or_key, model, options)
    key = judge.key()
    register_judge(store, key, judge.describe(), judge.label, judge.order_free)
    selection = pairs_to_judge(store, key, pairs, limit)
    params = {
        "judge": kind_or_key,
        "model": model,
        "pairs": pairs,
        "limit": limit,
        "options": recipe.get("options", {}),
        "judge_key": key,
    }
    work = {"recipe": recipe, "todo": selection.todo, "chunk_size": CHUNK_SIZE}
    summary = RunSummary(judge.label, key, selection.selected, selection.cached, 0)
    return create_job(store, "judge", params, work, summary.to_dict())
