"""API routes for judges (admin): learning one from a snapshot (a job), held-out figures,
their agreement report, queue priorities from their uncertainty, and whether annotators see
a judge's verdicts as suggestions."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from app.job_requests import LearnParams, start_job
from curation.jobs.runner import job_view
from curation.judging.judgments import get_suggestions

router = APIRouter()


class ReportBody(BaseModel):
    """Whether to run the rule baselines on the judged pairs first (as the CLI does)."""

    model_config = ConfigDict(extra="forbid")

    baselines: bool = True


class PrioritizeBody(BaseModel):
    """Whether the rule baselines' verdicts count when finding uncertain pairs."""

    model_config = ConfigDict(extra="forbid")

    include_rules: bool = False


class SuggestionsBody(BaseModel):
    """Suggestions on (from the judge with this key) or off."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool
    judge_key: str | None = Field(default=None, max_length=200)


@router.post("/judges/learn")
def post_learn(body: LearnParams, user: AdminUser, ctx: Context) -> dict:
    """Start a job that learns a judge from a snapshot's labels (follow it under /jobs/<id>;
    then /judges/heldout gives every judge's figures on the snapshot's test pairs)."""
    return job_view(start_job(ctx.store, "learn", body.model_dump()))


@router.get("/judges/heldout")
def get_heldout(user: AdminUser, ctx: Context, snapshot: str | None = None) -> dict:
    """Every judge's figures on a snapshot's test pairs (default: the newest snapshot):
    n, agreement with its 95% interval, and calibration error before and after calibration."""
    from judges.heldout import heldout_report

    return heldout_report(ctx.store, snapshot).to_dict()


@router.post("/judges/report")
def post_report(body: ReportBody, user: AdminUser, ctx: Context) -> dict:
    """Per judge: agreement with human labels, Cohen's kappa, position and length bias."""
    from judges.report import judge_report

    return judge_report(ctx.store, baselines=body.baselines).to_dict()


@router.post("/judges/prioritize")
def post_prioritize(body: PrioritizeBody, user: AdminUser, ctx: Context) -> dict:
    """Put first in the labelling queue the unlabelled pairs judges are least sure of."""
    from judges.priorities import prioritize

    return prioritize(ctx.store, include_rules=body.include_rules).to_dict()


@router.get("/judges/suggestions")
def get_suggestion_setting(user: AdminUser, ctx: Context) -> dict:
    """Whether annotators see a judge's verdicts as suggestions, and whose."""
    return get_suggestions(ctx.store)


@router.put("/judges/suggestions")
def put_suggestion_setting(body: SuggestionsBody, user: AdminUser, ctx: Context) -> dict:
    """Turn suggestions on (naming a judge that has run on this store, or `best`: the best on
    held-out pairs) or off."""
    from judges.priorities import suggest

    return suggest(ctx.store, body.enabled, body.judge_key)
