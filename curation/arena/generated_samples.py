"""Which generated samples a model already has in the store, by prompt and sample index.

A generated response records its sample index in `meta.sample`; a rerun of the same
generation asks only for the (prompt, model, sample index) triples not stored yet.
"""

from __future__ import annotations

import json

from curation.arena.candidates import PromptToGenerate
from curation.store.store import Store


def stored_samples(store: Store, model: str, prompt_ids: list[str]) -> set[tuple[str, int]]:
    """The (prompt id, sample index) pairs of `model`'s responses to these prompts."""
    rows = store.con.execute(
        """SELECT DISTINCT prompt_id, TRY_CAST(meta->>'sample' AS INTEGER) AS sample
        FROM responses
        WHERE model = $model AND prompt_id IN (SELECT unnest($ids)) AND sample IS NOT NULL""",
        {"model": model, "ids": prompt_ids},
    ).fetchall()
    return {(prompt_id, sample) for prompt_id, sample in rows}


def prompts_missing_samples(
    store: Store, model: str, n: int, *, limit: int | None = None
) -> list[PromptToGenerate]:
    """Prompts in store order that lack one of the sample indexes 0 … n-1 from `model`."""
    rows = store.con.execute(
        """SELECT id, messages FROM prompts
        WHERE id NOT IN (
            SELECT prompt_id FROM responses
            WHERE model = $model AND TRY_CAST(meta->>'sample' AS INTEGER) BETWEEN 0 AND $n - 1
            GROUP BY prompt_id
            HAVING count(DISTINCT TRY_CAST(meta->>'sample' AS INTEGER)) = $n)
        ORDER BY created, id
        LIMIT $limit""",
        {"model": model, "n": n, "limit": limit},
    ).fetchall()
    return [PromptToGenerate(pid, json.loads(messages)) for pid, messages in rows]
