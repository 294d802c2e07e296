"""API routes for judges (admin): learning one from a snapshot, their agreement report, queue
priorities from their uncertainty, and whether annotators see a judge's verdicts as
suggestions."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from app.api.auth import AdminUser, Context
from curation.judging.judgments import get_suggestions
from judges.learn import LEARN_METHODS

router = APIRouter()


class LearnBody(BaseModel):
    """What `prefstudio judge learn` takes: method, snapshot (default: the newest), base model,
    and for the reward method at most how many training steps."""

    model_config = ConfigDict(extra="forbid")

    method: Literal[LEARN_METHODS] = "light"  # type: ignore[valid-type]
    snapshot: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=500)
    max_steps: int | None = Field(default=None, ge=1)


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
def post_learn(body: LearnBody, user: AdminUser, ctx: Context) -> dict:
    """Learn a judge from a snapshot's labels; its key and everyone's held-out figures."""
    from judges.learn import learn_judge
    from training.reward_model import train_reward_model

    result = learn_judge(ctx.store, **body.model_dump(), train_reward=train_reward_model)
    return result.to_dict()


@router.post("/judges/report")
def post_report(body: ReportBody, user: AdminUser, ctx: Context) -> dict:
    """Per judge: agreement with human labels, Cohen's kappa, position and length bias."""
    from judges.report import judge_report

    return judge_report(ctx.store, baselines=body.baselines)


@router.post("/judges/prioritize")
def post_prioritize(body: PrioritizeBody, user: AdminUser, ctx: Context) -> dict:
    """Put first in the labelling queue the unlabelled pairs judges are least sure of."""
    from judges.priorities import prioritize_uncertain_pairs

    return {"prioritized": prioritize_uncertain_pairs(ctx.store, include_rules=body.include_rules)}


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
