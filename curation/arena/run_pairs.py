"""A training run's sample answers in the store: base vs trained answers as new pairs to label.

Each answer becomes a generated response (the base model's under its name, the trained one's
under `run:<id>`), and each prompt's two answers one pair with origin `run:<id>`, queued for
labelling. Identical answers (after normalizing case and spaces) make no pair.
"""

from __future__ import annotations

import pyarrow as pa

from curation.arena.candidates import GeneratedResponse, add_generated_responses
from curation.arena.model_names import model_identity, run_model_name
from curation.arena.pairing import queue_pairs
from curation.io.content_ids import pair_id_sql, response_id_sql
from curation.store.store import Store

RUN_PAIR_PRIORITY = 1.0
_NORMALIZED = "lower(regexp_replace(trim({}), '\\s+', ' ', 'g'))"


def add_run_pairs(store: Store, run_id: int, base_model: str, rows: list[dict]) -> int:
    """Store each row's `base` and `trained` answers to prompt `prompt_id`, paired; return new pairs.

    Rows without a `prompt_id` (a prompt the store does not know) are left out.
    """
    trained_model = run_model_name(run_id)
    rows = [r for r in rows if r.get("prompt_id")]
    if not rows:
        return 0
    meta = {"run": run_id, "decoding": "greedy"}
    add_generated_responses(
        store,
        [GeneratedResponse(r["prompt_id"], r["base"], base_model, meta) for r in rows]
        + [GeneratedResponse(r["prompt_id"], r["trained"], trained_model, meta) for r in rows],
    )
    answers = pa.table(
        {
            "prompt_id": [r["prompt_id"] for r in rows],
            "base": [r["base"] for r in rows],
            "trained": [r["trained"] for r in rows],
        }
    )
    with store.transaction() as con:
        con.register("ps_run_answers", answers)
        try:
            new_ids = con.execute(
                f"""INSERT INTO pairs (id, prompt_id, response_a, response_b, origin)
                SELECT DISTINCT ON (pair_id) pair_id, prompt_id, ra, rb, $origin FROM (
                    SELECT prompt_id, ra, rb, {pair_id_sql("ra", "rb")} AS pair_id
                    FROM (SELECT prompt_id, {response_id_sql("prompt_id", "base", "$base")} AS ra,
                                 {response_id_sql("prompt_id", "trained", "$trained")} AS rb
                          FROM ps_run_answers
                          WHERE {_NORMALIZED.format("base")} <> {_NORMALIZED.format("trained")}))
                WHERE pair_id NOT IN (SELECT id FROM pairs)
                RETURNING id""",
                {
                    "origin": trained_model,
                    "base": model_identity(store, base_model),  # as the response was stored
                    "trained": trained_model,
                },
            ).fetchall()
        finally:
            con.unregister("ps_run_answers")
    pair_ids = [row[0] for row in new_ids]
    queue_pairs(store, pair_ids, RUN_PAIR_PRIORITY, reason=f"{trained_model} vs {base_model}")
    return len(pair_ids)
