"""What a chunk of each job kind adds to the store, and to the job's report.

A generation chunk holds one batch of samples ({prompt_id, text, model, meta}); a judging
chunk holds verdicts ({pair_id, p_a, choice, consistent, raw}); a learning chunk holds one
judge ({judge: key, description, label, order_free}) then its verdicts; an import's one
chunk names the Parquet file of its staged records ({staged, files}); a curation's one chunk
names the Parquet files of its text groups and token counts ({groups, tokens}); a training
run's chunk holds the base and trained model's answers to its sample prompts ({prompt_id,
prompt, base_model, base, trained}). Each is stored by the same core function that in-process
generation, judging and import use, and returns the counts it adds to the job's report.

A kind may have a gate: a queued job of it launches only once its gate lets it (a reward-model
judge waits for the training run that makes its model).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from curation.arena.candidates import GeneratedResponse, add_generated_responses
from curation.arena.run_pairs import add_run_pairs
from curation.errors import PrefstudioError
from curation.io.importer import FileImport, load_staged_parquet
from curation.judging.judgments import register_judge, save_judgments
from curation.labelling.gold import mark_imported_gold
from curation.quality.curate import curate
from curation.quality.flags import FlagRules
from curation.store.run_records import ACTIVE_STATUSES, get_run
from curation.store.store import Store

Rows = list[dict[str, Any]]
# What a queued job still waits for (None: it may launch), from its parameters.
Gate = Callable[[Store, dict[str, Any]], str | None]


class JobBlocked(PrefstudioError):
    """A queued job can never launch: what it waited for failed."""


@dataclass(frozen=True)
class JobKind:
    """A kind of job: the worker module it runs, how one of its chunks is stored, and what a
    queued job of it waits for before it launches (nothing without a gate)."""

    worker: str
    store_chunk: Callable[[Store, dict[str, Any], Rows], dict[str, Any]]
    gate: Gate | None = None


def store_samples(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Store a batch of generated samples; the counts of new responses, samples and prompts."""
    per_model = {}
    for model in dict.fromkeys(row["model"] for row in rows):
        batch = [GeneratedResponse(**row) for row in rows if row["model"] == model]
        per_model[model] = add_generated_responses(store, batch)
    return {
        "responses_added": sum(per_model.values()),
        "per_model": per_model,
        "samples": len(rows),
        "new_tokens": sum(row["meta"].get("new_tokens", 0) for row in rows),
        "prompts_done": len({(row["model"], row["prompt_id"]) for row in rows}),
    }


def store_verdicts(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Store a chunk of verdicts under the job's judge key; the counts of pairs and choices."""
    frame = pd.DataFrame(rows, columns=["pair_id", "p_a", "choice", "consistent", "raw"])
    frame["raw"] = frame["raw"].map(lambda raw: json.dumps(raw, default=str))
    save_judgments(store, params["judge_key"], frame)
    return {"judged": len(rows), "choices": dict(Counter(row["choice"] for row in rows))}


def store_judge_verdicts(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Register the judge of the chunk's first row and store the verdicts after it."""
    judge, verdicts = rows[0]["judge"], rows[1:]
    register_judge(store, judge["key"], judge["description"], judge["label"], judge["order_free"])
    store_verdicts(store, {"judge_key": judge["key"]}, verdicts)
    return {"judged": len(verdicts)}


def store_import(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Load an import's staged records and, for a gold import, mark its labelled pairs as gold
    (in the chunk's one transaction); the import's report: files, added (and gold)."""
    staged = rows[0]
    files = [FileImport(**file) for file in staged["files"]]
    report = load_staged_parquet(store, Path(staged["staged"]), files, list_prompts=params["gold"])
    counts = report.to_dict()
    if params["gold"]:
        counts["gold"] = mark_imported_gold(store, report)
    return counts


def store_curation(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Run the curation pass on the worker's text groups and token counts (in the chunk's one
    transaction); its report, as `curate --json` prints it."""
    staged = rows[0]
    groups = {subject: pq.read_table(path) for subject, path in staged["groups"].items()}
    tokens = pq.read_table(staged["tokens"]) if staged["tokens"] else None
    rules = FlagRules(
        max_tokens=params["max_tokens"], truncation_tokens=params["truncation_tokens"]
    )
    threshold = params["near_dup_threshold"]
    report = curate(store, near_dup_threshold=threshold, rules=rules, groups=groups, tokens=tokens)
    return report.to_dict()


def store_run_answers(store: Store, params: dict[str, Any], rows: Rows) -> dict[str, Any]:
    """Store a training run's sample answers as candidate pairs, base against trained (the
    trained model named `run:<id>`); how many pairs are new."""
    return {"imported_pairs": add_run_pairs(store, params["run_id"], params["model"], rows)}


def training_run_done(store: Store, params: dict[str, Any]) -> str | None:
    """None once the job's training run (`run_id`, if any) succeeded; what it waits for while
    the run is queued or running; JobBlocked when the run failed or was cancelled."""
    if params.get("run_id") is None:
        return None
    run = get_run(store, params["run_id"])
    if run.status == "succeeded":
        return None
    if run.status in ACTIVE_STATUSES:
        return f"waiting for training run {run.id} ({run.status})"
    raise JobBlocked(f"training run {run.id} {run.status}: {run.error or 'no cause recorded'}")


KINDS = {
    "generate": JobKind("training.generate_worker", store_samples),
    "judge": JobKind("judges.judge_worker", store_verdicts),
    "learn": JobKind("judges.learn_worker", store_judge_verdicts, gate=training_run_done),
    "import": JobKind("curation.io.import_worker", store_import),
    "curate": JobKind("training.curate_worker", store_curation),
    "train": JobKind("training.worker", store_run_answers),
}


def add_counts(report: dict[str, Any], counts: dict[str, Any]) -> dict[str, Any]:
    """The report with `counts` added: numbers summed, nested counts merged key by key.

    >>> add_counts({"n": 1, "by": {"a": 1}, "name": "x"}, {"n": 2, "by": {"a": 1, "b": 3}})
    {'n': 3, 'by': {'a': 2, 'b': 3}, 'name': 'x'}
    """
    merged = dict(report)
    for key, value in counts.items():
        if isinstance(value, dict):
            merged[key] = add_counts(merged.get(key) or {}, value)
        else:
            merged[key] = merged.get(key, 0) + value
    return merged
