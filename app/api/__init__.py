"""The HTTP API under /api/v1: one router per area, assembled here."""

from __future__ import annotations

from fastapi import APIRouter

from app.api import labels

AREA_ROUTERS = [labels.router]


def api_router() -> APIRouter:
    """Every area's routes in one router, to be mounted at /api/v1."""
    router = APIRouter()
    for area in AREA_ROUTERS:
        router.include_router(area)
    return router
