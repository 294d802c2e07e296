"""The HTTP API under /api/v1: one router per area, assembled here."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from app.api import arena, curation, gold, judges, labels, runs, users
from curation.errors import NotFound, PrefstudioError

AREA_ROUTERS = [
    labels.router,
    curation.router,
    runs.router,
    arena.router,
    judges.router,
    users.router,
    gold.router,
]


def api_router() -> APIRouter:
    """Every area's routes in one router, to be mounted at /api/v1."""
    router = APIRouter()
    for area in AREA_ROUTERS:
        router.include_router(area)
    return router


def install_error_handlers(app: FastAPI) -> None:
    """Answer a prefstudio error with its one line: 404 when what the request names does not
    exist, else 400 (bad input, a refused label...)."""

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    async def bad_request(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=400)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(PrefstudioError, bad_request)
