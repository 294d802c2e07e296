"""A small arena in a store: two models' answers and reference answers, paired, and votes."""

from __future__ import annotations

import json
from pathlib import Path

from curation.arena.candidates import GeneratedResponse, add_generated_responses
from curation.arena.pairing import pair_responses
from curation.io.importer import import_paths
from curation.store.store import Store


def arena_store(store: Store, folder: Path, *, unpaired: int = 0) -> list[str]:
    """Three prompts (and `unpaired` more) with a reference answer each and answers by `good`
    (long) and `bad` (short); returns the ids of the good-bad pairs, then the bad-reference
    pairs, of the first three prompts."""
    prompts = [f"Question {i}?" for i in range(3 + unpaired)]
    refs = folder / "references.jsonl"
    refs.write_text(
        "".join(json.dumps({"prompt": p, "completion": f"Ref {p}"}) + "\n" for p in prompts)
    )
    import_paths(store, [refs], format="sft")
    ids = dict(
        store.con.execute(
            "SELECT json_extract_string(messages, '$[0].content'), id FROM prompts"
        ).fetchall()
    )

    def answers(chosen: list[str]) -> list[GeneratedResponse]:
        return [GeneratedResponse(ids[p], f"A careful answer to {p}", "good") for p in chosen] + [
            GeneratedResponse(ids[p], "No.", "bad") for p in chosen
        ]

    add_generated_responses(store, answers(prompts[:3]))
    across = pair_responses(store, "across", ["good", "bad"]).pair_ids
    reference = pair_responses(store, "reference", ["bad"]).pair_ids
    add_generated_responses(store, answers(prompts[3:]))
    return across + reference


def vote(store: Store, pair_id: str, annotator: str, model: str) -> None:
    """Store a vote for the side of `pair_id` written by `model`."""
    side_a = store.con.execute(
        "SELECT coalesce(r.model, 'reference') FROM pairs p "
        "JOIN responses r ON r.id = p.response_a WHERE p.id = ?",
        [pair_id],
    ).fetchall()[0][0]
    with store.transaction() as con:
        con.execute(
            "INSERT INTO labels (pair_id, annotator, choice) VALUES (?, ?, ?)",
            [pair_id, annotator, "a" if side_a == model else "b"],
        )
