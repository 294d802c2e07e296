"""Building a judge by kind name, as the CLI and the Judge tab ask for one."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any

from curation import Store
from curation.judging.judge_reads import judge_description
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
    if kind not in JUDGE_KINDS:
        raise JudgeError(f"unknown judge {kind!r}; choose from {', '.join(JUDGE_KINDS)}")
    judge_class = _judge_class(kind)
    accepted = inspect.signature(judge_class.__init__).parameters
    for name in options:
        if name not in accepted or name == "loaded":
            raise JudgeError(f"option {name.replace('_', '-')} does not apply to the {kind} judge")
    if kind in RULE_KINDS:
        if model is not None:
            raise JudgeError(f"the {kind} judge uses no model")
        return judge_class(**options)
    if kind == "llm":
        from judges.llm import DEFAULT_MODEL

        return judge_class(model or DEFAULT_MODEL, **options)
    if model is None:
        raise JudgeError(f"the {kind} judge needs a model (--model)")
    if kind == "api" and "base_url" not in options:
        raise JudgeError("the api judge needs the endpoint's base URL (--base-url)")
    return judge_class(model, **options)


def _judge_class(kind: str) -> type[Judge]:
    """The class of a judge kind, imported only when asked for."""
    if kind == "llm":
        from judges.llm import LogitJudge

        return LogitJudge
    if kind == "reward":
        from judges.reward import RewardJudge

        return RewardJudge
    if kind == "api":
        from judges.api import ApiJudge

        return ApiJudge
    return {"longer": LongerJudge, "shorter": ShorterJudge, "refusal": RefusalJudge}[kind]


def judge_from_key(store: Store, key: str) -> Judge:
    """The judge that a key (or a prefix only one key has) of this store stands for, built
    again from its recorded description: a learned judge, a reward model trained here, any
    judge that has run. JudgeError when no judge has that key or it cannot be rebuilt.
    """
    found = judge_description(store, key)
    if found is None:
        raise JudgeError(
            f"unknown judge {key!r}: not a kind ({', '.join(JUDGE_KINDS)}) "
            "nor the key of a judge that has run on this store (see `prefstudio judge report`)"
        )
    return judge_from_description(store.files_dir, found)


def judge_from_description(files_dir: Path, found: dict[str, Any]) -> Judge:
    """The judge a recorded description (key, name, label, model, template, settings) stands
    for, built without the store (a learned judge reads its file under `files_dir`)."""
    if found["name"] == "learned":
        from judges.learned import LearnedJudge

        judge = LearnedJudge.from_settings(files_dir, found["model"], found["settings"])
    elif found["name"] in JUDGE_KINDS:
        accepted = inspect.signature(_judge_class(found["name"]).__init__).parameters
        described = {**found["settings"], "template": found["template"]}
        options = {k: v for k, v in described.items() if k in accepted and k != "loaded"}
        judge = build_judge(found["name"], found["model"], **options)
    else:
        raise JudgeError(f"judge {found['label']} ({found['name']}) cannot be built by key")
    if judge.key() != found["key"]:
        raise JudgeError(f"judge {found['label']} cannot be rebuilt from its recorded settings")
    return judge


def judge_for(store: Store, kind_or_key: str, model: str | None = None, **options: Any) -> Judge:
    """A judge by kind (as `build_judge`), or else by the key of a judge of this store."""
    if KIND_ALIASES.get(kind_or_key, kind_or_key) in JUDGE_KINDS:
        return build_judge(kind_or_key, model, **options)
    if model is not None or any(value is not None for value in options.values()):
        raise JudgeError("a judge named by its key takes no model or options")
    return judge_from_key(store, kind_or_key)


class LastJudge:
    """Keeps the judge built last, so asking again for the same one reuses its loaded model.

    One slot only: a server holds at most one judge model in memory. Safe across threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._judge: Judge | None = None

    def get(self, kind: str, model: str | None = None, **options: Any) -> Judge:
        """The judge `build_judge(kind, model, **options)` gives, built again only when the
        arguments differ from the last call's."""
        key = (kind, model, tuple(sorted(options.items())))
        with self._lock:
            if key != self._key or self._judge is None:
                self._judge, self._key = None, None  # let the old model go first
                self._judge, self._key = build_judge(kind, model, **options), key
            return self._judge
