"""The gold pairs panel of the Admin tab: mark and unmark gold pairs, set how often they are
served, and list them."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.safe_text import info
from app.tabs.handlers import Outputs, handler, named, wire
from curation.labelling.gold import (
    GOLD_ANSWERS,
    MAX_GOLD_EVERY,
    add_gold,
    list_gold,
    remove_gold,
    set_gold_every,
)
from curation.labelling.gold_mix import get_gold_every
from curation.labelling.gold_scores import gold_table
from curation.store.store import Store

GOLD_COLUMNS = ["pair_id", "answer", "marked_by", "created"]


def gold_pairs_table(store: Store) -> pd.DataFrame:
    """Every gold pair as a table, oldest mark first."""
    return pd.DataFrame([g.to_dict() for g in list_gold(store)], columns=GOLD_COLUMNS)


def gold_overview(store: Store) -> Outputs:
    """The gold pairs and the gold rate, for the Admin tab's overview."""
    return {"gold_pairs": gold_pairs_table(store), "gold_every": get_gold_every(store)}


def _changed(ctx: AppContext, message: str) -> Outputs:
    """After marking or unmarking: `message` shown, the gold pairs and accuracy anew."""
    info(message)
    return {"gold_pairs": gold_pairs_table(ctx.store), "gold": gold_table(ctx.store)}


@handler("admin")
def mark_gold(ctx: AppContext, user: str, pair_id: str, answer: str) -> Outputs:
    """Mark a pair as gold with its expected answer (replacing an earlier answer)."""
    return _changed(ctx, add_gold(ctx.store, pair_id.strip(), answer, user).text())


@handler("admin")
def unmark_gold(ctx: AppContext, user: str, pair_id: str) -> Outputs:
    """Unmark a gold pair; its labels stay."""
    return _changed(ctx, remove_gold(ctx.store, pair_id.strip()).text())


@handler("admin")
def save_gold_every(ctx: AppContext, user: str, every: int | None) -> Outputs:
    """Serve one gold pair in every `every` pairs an annotator labels (0: none)."""
    info(set_gold_every(ctx.store, every).text())
    return {}


def _gold_forms() -> dict[str, Any]:
    """The mark/unmark form, the gold rate and the list of gold pairs, by name."""
    c: dict[str, Any] = {}
    gr.Markdown("### Gold pairs")
    with gr.Row():
        with gr.Column():
            c["gold_pair_id"] = gr.Textbox(label="Pair id", elem_id="gold-pair-id")
            c["gold_answer"] = gr.Radio(
                list(GOLD_ANSWERS),
                value="a",
                label="Expected answer (relative to the stored response_a/response_b)",
                elem_id="gold-answer",
            )
            with gr.Row():
                c["mark_gold"] = gr.Button("Mark as gold", elem_id="gold-mark")
                c["unmark_gold"] = gr.Button("Unmark", elem_id="gold-unmark")
        with gr.Column():
            c["gold_every"] = gr.Number(
                label=f"One gold pair in every N served (0: none; up to {MAX_GOLD_EVERY})",
                precision=0,
                elem_id="gold-every",
            )
            c["save_gold_every"] = gr.Button("Save gold rate", elem_id="gold-every-save")
    c["gold_pairs"] = gr.Dataframe(label="Gold pairs", interactive=False, elem_id="gold-pairs")
    return c


def create_gold_panel(ctx: AppContext, accuracy: gr.Dataframe) -> dict[str, Any]:
    """Build the panel; every handler checks the admin role on the server, and marking or
    unmarking refreshes the list and `accuracy`, the gold accuracy table. Returns the list and
    the rate by name, for the Admin tab's overview to fill."""
    c = {**_gold_forms(), "gold": accuracy}
    changed = named(c, "gold_pairs", "gold")
    wire(ctx, c["mark_gold"].click, mark_gold, [c["gold_pair_id"], c["gold_answer"]], changed)
    wire(ctx, c["unmark_gold"].click, unmark_gold, [c["gold_pair_id"]], changed)
    wire(ctx, c["save_gold_every"].click, save_gold_every, [c["gold_every"]], {})
    return named(c, "gold_pairs", "gold_every")
