"""Generated candidates in the store: which prompts to generate for, and storing each batch.

A generated response's id hashes its prompt, text and model, so two models that happen to
write the same text each keep their own response (imported responses hash prompt and text).
Models are stored under their identity (`curation.arena.model_names`): a run's model folder as
`run:<id>`, with the name it was used under kept in the meta as `model_path`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from curation.arena.model_names import model_identities, model_identity
from curation.errors import BadInput
from curation.io.content_ids import response_id_sql
from curation.io.importer import import_paths
from curation.store.store import Store

PROMPT_CHOICES = ("unlabeled", "all")
GENERATED_SOURCE = "generate"


@dataclass(frozen=True)
class PromptToGenerate:
    """A prompt to write candidates for: its id and its conversation."""

    id: str
    messages: list[dict]


@dataclass(frozen=True)
class GeneratedResponse:
    """One generated text for a prompt, the model that wrote it and how (sampling settings)."""

    prompt_id: str
    text: str
    model: str
    meta: dict = field(default_factory=dict)


def prompts_to_generate(
    store: Store, model: str, *, which: str = "unlabeled", limit: int | None = None
) -> list[PromptToGenerate]:
    """Prompts in store order: `unlabeled` those with no response from `model` yet, or `all`."""
    if which not in PROMPT_CHOICES:
        raise BadInput("--prompts", f"expected one of {', '.join(PROMPT_CHOICES)} or a file")
    sql = "SELECT id, messages FROM prompts"
    params: list = []
    if which == "unlabeled":
        sql += " WHERE id NOT IN (SELECT prompt_id FROM responses WHERE model = ?)"
        params.append(model_identity(store, model))
    sql += " ORDER BY created, id"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = store.con.execute(sql, params).fetchall()
    return [PromptToGenerate(pid, json.loads(messages)) for pid, messages in rows]


def prompts_from_file(
    store: Store, path: str | Path, *, limit: int | None = None
) -> list[PromptToGenerate]:
    """The prompts of a file (a `prompt` field per record), imported into the store first.

    Returns them in file order, each once. Raises BadInput for a bad file, storing nothing.
    """
    report = import_paths(store, [path], format="prompts", list_prompts=True)
    ordered = list(dict.fromkeys(report.prompt_ids))[:limit]
    found = dict(
        store.con.execute(
            "SELECT id, messages FROM prompts WHERE id IN (SELECT unnest($ids))", {"ids": ordered}
        ).fetchall()
    )
    return [PromptToGenerate(pid, json.loads(found[pid])) for pid in ordered]


def add_generated_responses(store: Store, responses: list[GeneratedResponse]) -> int:
    """Store generated responses in one transaction; return how many were new."""
    if not responses:
        return 0
    identity = model_identities(store, [r.model for r in responses])
    table = pa.table(
        {
            "prompt_id": [r.prompt_id for r in responses],
            "text": [r.text for r in responses],
            "model": [identity[r.model] for r in responses],
            "meta": [
                json.dumps(
                    r.meta if identity[r.model] == r.model else {**r.meta, "model_path": r.model},
                    sort_keys=True,
                )
                for r in responses
            ],
        }
    )
    with store.transaction() as con:
        con.register("ps_generated", table)
        try:
            added = con.execute(
                f"""INSERT INTO responses (id, prompt_id, text, model, source, meta)
                SELECT DISTINCT ON (id) * FROM (
                    SELECT {response_id_sql("prompt_id", "text", "model")} AS id,
                           prompt_id, text, model, '{GENERATED_SOURCE}', meta::JSON
                    FROM ps_generated)
                WHERE id NOT IN (SELECT id FROM responses)"""
            ).fetchall()[0][0]
        finally:
            con.unregister("ps_generated")
    return int(added)
