"""API routes for gold pairs (admin): mark, list and unmark them, their rate, and accuracy."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from curation.labelling.gold import add_gold, gold_listing, remove_gold, set_gold_every
from curation.labelling.gold_scores import gold_score_listing

router = APIRouter()


class GoldBody(BaseModel):
    """A pair to mark as gold and its expected answer (a, b, tie or both_bad, as stored)."""

    model_config = ConfigDict(extra="forbid")

    pair_id: str = Field(min_length=1, max_length=64)
    answer: str = Field(max_length=20)


class RateBody(BaseModel):
    """One in how many served pairs is gold (0: none)."""

    model_config = ConfigDict(extra="forbid")

    every: int


@router.get("/gold")
def get_gold(user: AdminUser, ctx: Context) -> dict:
    """Every gold pair with its answer, and the rate they are served at."""
    return gold_listing(ctx.store).to_dict()


@router.post("/gold")
def post_gold(body: GoldBody, user: AdminUser, ctx: Context) -> dict:
    """Mark a pair as gold; an unknown pair is a 404, a bad answer a 400."""
    return add_gold(ctx.store, body.pair_id, body.answer, user).to_dict()


@router.delete("/gold/{pair_id}")
def delete_gold(pair_id: str, user: AdminUser, ctx: Context) -> dict:
    """Unmark a gold pair (its labels stay); 404 when it is not gold."""
    return remove_gold(ctx.store, pair_id).to_dict()


@router.put("/gold/rate")
def put_gold_rate(body: RateBody, user: AdminUser, ctx: Context) -> dict:
    """Set one in how many served pairs is gold; out of range is a 400."""
    return set_gold_every(ctx.store, body.every).to_dict()


@router.get("/gold/accuracy")
def get_gold_accuracy(user: AdminUser, ctx: Context) -> dict:
    """Each annotator's gold answers, correct answers and accuracy."""
    return gold_score_listing(ctx.store).to_dict()
