"""Building a judge by kind name, as the CLI and the Judge tab ask for one."""

from __future__ import annotations

from typing import Any

from judges.base import Judge, JudgeError
from judges.rules import LongerJudge, RefusalJudge, ShorterJudge

JUDGE_KINDS = ("llm", "reward", "api", "longer", "shorter", "refusal")
KIND_ALIASES = {"length": "longer"}
RULE_KINDS = ("longer", "shorter", "refusal")


def build_judge(kind: str, model: str | None = None, **options: Any) -> Judge:
    """A judge of `kind` (llm, reward, api, longer/length, shorter, refusal).

    `model` is required for reward and api judges; llm defaults to the embedded model.
    `options` are the judge's keyword options; those left as None take their defaults.
    """
    kind = KIND_ALIASES.get(kind, kind)
    options = {name: value for name, value in options.items() if value is not None}
    if kind in RULE_KINDS:
        rules = {"longer": LongerJudge, "shorter": ShorterJudge, "refusal": RefusalJudge}
        if model is not None:
            raise JudgeError(f"the {kind} judge uses no model")
        return rules[kind](tie_margin=options.get("tie_margin", 0.0))
    if kind == "llm":
        from judges.llm import DEFAULT_MODEL, LogitJudge

        return LogitJudge(model or DEFAULT_MODEL, **options)
    if kind not in ("reward", "api"):
        raise JudgeError(f"unknown judge {kind!r}; choose from {', '.join(JUDGE_KINDS)}")
    if model is None:
        raise JudgeError(f"the {kind} judge needs a model (--model)")
    if kind == "reward":
        from judges.reward import RewardJudge

        return RewardJudge(model, **options)
    from judges.api import ApiJudge

    if "base_url" not in options:
        raise JudgeError("the api judge needs the endpoint's base URL (--base-url)")
    return ApiJudge(model, **options)
