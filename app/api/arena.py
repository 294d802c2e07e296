"""API routes of the arena (admin): the model leaderboard, and pairing candidates for labelling."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from curation.arena.leaderboard import (
    DEFAULT_BOOTSTRAP,
    DEFAULT_PROVISIONAL_GAMES,
    store_leaderboard,
)
from curation.arena.pairing import STRATEGIES, pair_responses

router = APIRouter()


class PairBody(BaseModel):
    """Pairs to form: a strategy, the models, pairs per prompt and an optional queue priority."""

    model_config = ConfigDict(extra="forbid")

    strategy: str = Field(pattern=f"^({'|'.join(STRATEGIES)})$")
    models: list[str] = Field(min_length=1, max_length=50)
    per_prompt: int = Field(default=1, ge=1, le=100)
    priority: float | None = None


@router.get("/leaderboard")
def leaderboard(
    user: AdminUser,
    ctx: Context,
    judges: bool = False,
    bootstrap: int = Query(default=DEFAULT_BOOTSTRAP, ge=0, le=10_000),
    confidence: float = Query(default=0.95, gt=0, lt=1),
    seed: int = 0,
    provisional_games: int = Query(default=DEFAULT_PROVISIONAL_GAMES, ge=0, le=1_000_000),
) -> dict:
    """Models ranked by Bradley-Terry rating, with intervals, games (provisional below
    `provisional_games`), aliases and length control."""
    board = store_leaderboard(
        ctx.store,
        judges=judges,
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
        provisional_games=provisional_games,
    )
    return board.to_dict()


@router.post("/pairs")
def post_pairs(body: PairBody, user: AdminUser, ctx: Context) -> dict:
    """Pair candidate responses and queue the new pairs for labelling."""
    report = pair_responses(
        ctx.store, body.strategy, body.models, per_prompt=body.per_prompt, priority=body.priority
    )
    return report.to_dict()
