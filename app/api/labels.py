"""API routes for labelling and data: health, stats, next pair, labels, import, export."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.auth import AnnotatorUser, Context
from curation import store_stats

router = APIRouter()


@router.get("/health")
def health() -> dict:
    """Whether the server is up (no credentials needed)."""
    return {"ok": True}


@router.get("/stats")
def stats(user: AnnotatorUser, ctx: Context) -> dict:
    """Counts over the store, as `prefstudio stats --json` prints them."""
    return store_stats(ctx.store)
