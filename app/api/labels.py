"""API routes for labelling and data: health, stats, guidelines, next pair, labels, undo, import,
export."""

from __future__ import annotations

import asyncio
import shutil
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, File, Query, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, AnnotatorUser, Context
from app.transfer import export_to_file, start_import
from curation import EXPORT_FORMATS, IMPORT_FORMATS, Store, store_stats
from curation.jobs.runner import job_view
from curation.judging.judgments import shown_suggestion
from curation.labelling.guidelines import (
    MAX_GUIDELINES,
    Guidelines,
    get_guidelines,
    set_guidelines,
)
from curation.labelling.queue import next_pair_for, queue_for
from curation.labelling.queue_reads import ServedPair
from curation.labelling.votes import MAX_RATIONALE, submit_label, undo_last

router = APIRouter()


class LabelBody(BaseModel):
    """A vote on the pair served by /next; a and b are the sides as served."""

    model_config = ConfigDict(extra="forbid")

    pair_id: str = Field(min_length=1, max_length=64)
    choice: Literal["a", "b", "tie", "both_bad", "skip"]
    strength: Literal["slight", "clear"] | None = None
    rationale: str | None = Field(default=None, max_length=MAX_RATIONALE)


class GuidelinesBody(BaseModel):
    """New labelling guidelines (Markdown; empty removes them)."""

    model_config = ConfigDict(extra="forbid")

    guidelines: str = Field(max_length=MAX_GUIDELINES)


def _pair_or_done(store: Store, pair: ServedPair | None) -> dict:
    """A served pair's public fields, or {pair_id: null, done: true} when none is left.

    When an admin turned suggestions on, `suggestion` holds the judge's verdict in the sides
    as served (choice a, b or tie; p_a the chance that a is better).
    """
    if pair is None:
        return {"pair_id": None, "done": True}
    suggestion = shown_suggestion(store, pair)
    return {**pair.public(), **({"suggestion": suggestion} if suggestion else {}), "done": False}


async def _next_pair(store: Store, user: str) -> dict:
    """The user's next pair, from the queue's memory or after awaiting a refill."""
    return _pair_or_done(store, await queue_for(store).next_pair_async(user))


@router.get("/health")
async def health() -> dict:
    """Whether the server is up (no credentials needed)."""
    return {"ok": True}


@router.get("/me")
def me(user: AnnotatorUser, ctx: Context) -> dict:
    """Who the credentials belong to, and their role."""
    return {"name": user, "role": ctx.role_of(user) or "admin"}


@router.get("/stats")
def stats(user: AnnotatorUser, ctx: Context) -> dict:
    """Counts over the store, as `prefstudio stats --json` prints them."""
    return store_stats(ctx.store)


@router.get("/guidelines")
def guidelines(user: AnnotatorUser, ctx: Context) -> dict:
    """The labelling guidelines as Markdown ("" when none were written)."""
    return Guidelines(get_guidelines(ctx.store)).to_dict()


@router.put("/guidelines")
def put_guidelines(body: GuidelinesBody, user: AdminUser, ctx: Context) -> dict:
    """Replace the labelling guidelines (admin)."""
    return Guidelines(set_guidelines(ctx.store, body.guidelines), saved=True).to_dict()


@router.get("/next")
async def next_pair(user: AnnotatorUser, ctx: Context) -> dict:
    """The pair this user should label now: {pair_id, prompt (messages), a, b, done}."""
    return await _next_pair(ctx.store, user)


@router.post("/labels")
async def post_label(body: LabelBody, user: AnnotatorUser, ctx: Context) -> dict:
    """Record the user's vote (committed before the reply) and return their next pair.

    The vote joins the label writer's next group commit; this waits for it without holding a
    worker thread.
    """
    committed = submit_label(
        ctx.store,
        user,
        body.pair_id,
        body.choice,
        strength=body.strength,
        rationale=body.rationale,
    )
    label = await asyncio.wrap_future(committed)
    return {"label_id": label.label_id, "next": await _next_pair(ctx.store, user)}


@router.post("/undo")
def undo(user: AnnotatorUser, ctx: Context) -> dict:
    """Retract the user's latest label; returns that pair to label again (null if none)."""
    pair = undo_last(ctx.store, user)
    return {
        "undone": pair is not None,
        "next": _pair_or_done(ctx.store, pair or next_pair_for(ctx.store, user)),
    }


@router.post("/import")
def import_file(
    user: AdminUser,
    ctx: Context,
    file: Annotated[
        list[UploadFile], File(description="one or more JSONL, JSON, CSV or Parquet files")
    ],
    format: Annotated[Literal[IMPORT_FORMATS], Query()] = "auto",  # type: ignore[valid-type]
    source: Annotated[str | None, Query(max_length=200)] = None,
    gold: Annotated[bool, Query()] = False,
) -> dict:
    """Start an import job of the uploaded files (admin) and answer with the job at once; its
    worker reads them, and the server stores them all in one transaction, as `prefstudio
    import` does with several paths. `source` names where they came from (default: each
    file's name); with `gold`, their labelled pairs become gold pairs.

    Follow it at GET /api/v1/jobs/{id}: once `succeeded`, its `result` is the import report
    (`files`, `added`, and `gold`: how many pairs were marked); `failed` stores nothing and
    `error` is the one line naming the file, line and field. A bad file name or format is
    refused at once (400, 422)."""
    uploads = [(upload.filename, upload.file) for upload in file]
    return job_view(start_import(ctx.store, uploads, format=format, source=source, gold=gold))


@router.get("/export")
def export(
    user: AdminUser,
    ctx: Context,
    background: BackgroundTasks,
    format: Annotated[Literal[EXPORT_FORMATS], Query()],  # type: ignore[valid-type]
    as_: Annotated[Literal["jsonl", "parquet"], Query(alias="as")] = "jsonl",
) -> FileResponse:
    """Download an export in a TRL format (admin); the row count is in X-Rows."""
    path, report = export_to_file(ctx.store, format, as_)
    background.add_task(shutil.rmtree, path.parent, ignore_errors=True)
    return FileResponse(path, filename=path.name, headers={"X-Rows": str(report.rows)})
