"""The HTTP API under /api/v1: one router per area, assembled here."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api import actions, arena, curation, gold, jobs, judges, labels, runs, users
from curation.errors import NotFound, PrefstudioError

AREA_ROUTERS = [
    labels.router,
    curation.router,
    runs.router,
    jobs.router,
    arena.router,
    judges.router,
    users.router,
    gold.router,
    actions.router,
]


def api_router() -> APIRouter:
    """Every area's routes in one router, to be mounted at /api/v1."""
    router = APIRouter()
    for area in AREA_ROUTERS:
        router.include_router(area)
    return router


def install_error_handlers(app: FastAPI) -> None:
    """Answer a prefstudio error with its one line: 404 when what the request names does not
    exist, else 400 (bad input, a refused label...); a malformed request with 422 and one line
    naming each bad field."""

    async def not_found(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, status_code=404)

    async def bad_request(request: Request, error: Exception) -> JSONResponse:
        data = getattr(error, "data", None)
        return JSONResponse({"detail": str(error), **({"data": data} if data else {})}, 400)

    async def invalid(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": validation_line(error)}, status_code=422)

    app.add_exception_handler(NotFound, not_found)
    app.add_exception_handler(PrefstudioError, bad_request)
    app.add_exception_handler(RequestValidationError, invalid)


def validation_line(error: RequestValidationError) -> str:
    """A malformed request's problems on one line: `where: what` for each, `; ` between.

    >>> validation_line(RequestValidationError([
    ...     {"loc": ("body", "choice"), "msg": "Input should be 'a' or 'b'"},
    ...     {"loc": ("query", "format"), "msg": "Field required"},
    ... ]))
    "body.choice: Input should be 'a' or 'b'; query.format: Field required"
    """
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem.get("loc", ()))
        parts.append(f"{where}: {' '.join(str(problem.get('msg', 'invalid')).split())}")
    return "; ".join(parts)[:1000] or "malformed request"
