"""Starting a generation, judging, judge-learning, curation or training job from `{kind,
params}`: the one way the CLI (here or through a server) and the HTTP API start them, and the
UI starts generation, judging and curation. Parameters are checked here; a bad one is a 422 in
the API and one error line in the CLI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from curation.errors import BadInput
from curation.jobs.records import JobRecord
from curation.quality.curate_job import start_curation
from curation.quality.flags import FlagRules
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.store.store import Store
from judges.learn import LEARN_METHODS
from training.methods import METHODS
from training.presets import PRESETS

if TYPE_CHECKING:
    from training.generate_remote import ServerOptions


class ServerParams(BaseModel):
    """How a generation job asks an OpenAI-compatible server; an option left out keeps its
    default. The key is named by its environment variable, never given."""

    model_config = ConfigDict(extra="forbid")

    api_key_env: str | None = Field(
        default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=100
    )
    concurrency: int | None = Field(default=None, ge=1, le=256)
    rate_limit: float | None = Field(default=None, gt=0)  # requests per second
    max_retries: int | None = Field(default=None, ge=0, le=100)
    timeout: float | None = Field(default=None, gt=0)  # seconds for one answer


class GenerateParams(BaseModel):
    """A generation job: models, which prompts, how many, and how to sample; with a base URL,
    on that OpenAI-compatible server (`server`: how to ask it)."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(min_length=1, max_length=20)
    prompts: str = Field(default="unlabeled", min_length=1, max_length=4096)
    limit: int | None = Field(default=None, ge=1)
    n: int = Field(default=2, ge=1)
    temperature: float = Field(default=0.7, ge=0)
    top_p: float = Field(default=0.95, gt=0, le=1)
    max_new_tokens: int = Field(default=256, ge=1)
    batch_size: int = Field(default=8, ge=1)
    seed: int = 0
    base_url: str | None = Field(default=None, min_length=1, max_length=2000)
    server: ServerParams = Field(default_factory=ServerParams)

    @field_validator("server")
    @classmethod
    def _server_needs_a_base_url(cls, server: ServerParams, info: ValidationInfo) -> ServerParams:
        if info.data.get("base_url") is None and server.model_dump(exclude_none=True):
            raise PydanticCustomError("no_base_url", "server options only apply with a base_url")
        return server


class JudgeParams(BaseModel):
    """A judging job: the judge (a kind or a judge key), its model and options, which pairs."""

    model_config = ConfigDict(extra="forbid")

    judge: str = Field(min_length=1, max_length=200)
    model: str | None = Field(default=None, max_length=500)
    pairs: str = Field(default="unlabeled", min_length=1, max_length=300)
    limit: int | None = Field(default=None, ge=1)
    options: dict[str, Any] = Field(default_factory=dict)


class LearnParams(BaseModel):
    """A judge-learning job: the method, the snapshot (default: the labels given so far), the base model,
    and for the reward method at most how many training steps."""

    model_config = ConfigDict(extra="forbid")

    method: Literal[LEARN_METHODS] = "light"  # type: ignore[valid-type]
    snapshot: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=500)
    max_steps: int | None = Field(default=None, ge=1)


class CurateParams(BaseModel):
    """A curation job: its settings, as `prefstudio curate` takes them."""

    model_config = ConfigDict(extra="forbid")

    near_dup_threshold: float = Field(default=DEFAULT_THRESHOLD, gt=0, le=1)
    max_tokens: int = Field(default=FlagRules.max_tokens, ge=1)
    truncation_tokens: int = Field(default=FlagRules.truncation_tokens, ge=1)
    tokenizer: str | None = Field(default=None, min_length=1, max_length=500)


class RunOptions(BaseModel):
    """How a run trains: the base model, the preset its settings start from, `settings` over
    them, and at most how many steps (also the body of POST /api/v1/runs/one-click)."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(default=None, max_length=500)
    preset: Literal[tuple(PRESETS)] = "standard"  # type: ignore[valid-type]
    settings: dict[str, Any] = Field(default_factory=dict)
    max_steps: int | None = Field(default=None, ge=1)


class TrainParams(RunOptions):
    """A training run (a `train` job): a snapshot and a method; or `one_click`, DPO on a fresh
    snapshot; or `resume`, the id of a failed or cancelled run to go on with; and its options."""

    snapshot: str | None = Field(default=None, min_length=1, max_length=200)
    method: Literal[tuple(METHODS)] | None = None  # type: ignore[valid-type]
    one_click: bool = False
    resume: int | None = Field(default=None, ge=1)


class JobBody(BaseModel):
    """A job to start: its kind and its parameters."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["generate", "judge", "learn", "curate", "train"]
    params: dict[str, Any] = Field(default_factory=dict)


PARAMS: dict[str, type[BaseModel]] = {
    "generate": GenerateParams,
    "judge": JudgeParams,
    "learn": LearnParams,
    "curate": CurateParams,
    "train": TrainParams,
}


def start_job(store: Store, kind: str, params: dict[str, Any]) -> JobRecord:
    """Check `params` for `kind` and start the job; BadInput names the first bad field."""
    model = PARAMS[kind]
    try:
        checked = model.model_validate(params)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or "params"
        raise BadInput(where, problem["msg"]) from None
    if isinstance(checked, GenerateParams):
        return _start_generation(store, checked)
    if isinstance(checked, LearnParams):
        return _start_learning(store, checked)
    if isinstance(checked, CurateParams):
        return _start_curation(store, checked)
    if isinstance(checked, TrainParams):
        return _start_training(store, checked)
    return _start_judging(store, checked)


def _start_training(store: Store, params: TrainParams) -> JobRecord:
    """Start (or resume) the run `params` ask for; its job."""
    from curation.jobs.records import get_job
    from training.one_click import one_click_dpo
    from training.presets import preset_settings
    from training.runs import DEFAULT_MODEL, RunError, plan_run, resume_run, start_run

    given = [name for name in ("snapshot", "method") if getattr(params, name) is not None]
    if params.resume is not None:
        if given or params.one_click:
            raise RunError("a resumed run keeps its snapshot and method: name only the run")
        return get_job(store, resume_run(store, params.resume).job_id)
    options = {"model": params.model, "settings": params.settings, "max_steps": params.max_steps}
    if params.one_click:
        if params.snapshot is not None or params.method not in (None, "dpo"):
            raise RunError("one-click picks the snapshot and trains DPO: drop --snapshot/--method")
        run = one_click_dpo(store, preset=params.preset, **options).run
    elif len(given) < 2:
        raise RunError("name --snapshot and --method (or use --one-click, or --resume a run)")
    else:
        preset = preset_settings(params.model or DEFAULT_MODEL, params.preset)
        options["settings"] = {**preset, **params.settings}
        spec = plan_run(store, snapshot=params.snapshot, method=params.method, **options)
        run = start_run(store, spec)
    return get_job(store, run.job_id)


def _start_curation(store: Store, params: CurateParams) -> JobRecord:
    from training.models import resolve_model

    if params.tokenizer is not None:
        resolve_model(params.tokenizer)  # a missing folder is refused now, not in the worker
    return start_curation(store, **params.model_dump())


def _start_generation(store: Store, params: GenerateParams) -> JobRecord:
    from training.generate import SamplingSettings
    from training.generation_jobs import start_generation

    settings = SamplingSettings(
        n=params.n,
        temperature=params.temperature,
        top_p=params.top_p,
        max_new_tokens=params.max_new_tokens,
        seed=params.seed,
    )
    return start_generation(
        store,
        params.models,
        prompts=params.prompts,
        limit=params.limit,
        settings=settings,
        batch_size=params.batch_size,
        server=_server_options(params),
    )


def _server_options(params: GenerateParams) -> ServerOptions | None:
    """The server a generation job asks (None: its models run here)."""
    from training.generate_remote import ServerOptions

    if params.base_url is None:
        return None
    return ServerOptions(params.base_url, **params.server.model_dump(exclude_none=True))


def _start_judging(store: Store, params: JudgeParams) -> JobRecord:
    from judges.judge_jobs import start_judging

    return start_judging(
        store,
        params.judge,
        params.model,
        pairs=params.pairs,
        limit=params.limit,
        **params.options,
    )


def _start_learning(store: Store, params: LearnParams) -> JobRecord:
    from judges.learn import RewardTraining, start_learning
    from training.reward_model import check_reward_model, start_reward_model

    reward = RewardTraining(check_reward_model, start_reward_model)
    return start_learning(store, **params.model_dump(), reward=reward)


def stop_job(store: Store, job_id: int) -> JobRecord:
    """Cancel a job, and the training run it waits for when that run is still active."""
    from curation.jobs.records import get_job
    from curation.jobs.runner import cancel_job
    from curation.store.run_records import get_run
    from training.runs import cancel_run

    run_id = get_job(store, job_id).params.get("run_id")
    job = cancel_job(store, job_id)
    if run_id is not None and get_run(store, run_id).active:
        cancel_run(store, run_id)
    return job
