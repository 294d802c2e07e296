"""Generating candidates on an OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API).

Each sample is one chat-completions request; requests run concurrently through the shared
client (rate limit, retries). Finished samples are stored in chunks, each in one transaction,
so an interrupted or failed run keeps what was done, and a rerun of the same command asks
only for the (prompt, model, sample index) triples not stored yet.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from curation.arena.candidates import GeneratedResponse, PromptToGenerate
from curation.arena.candidates import add_generated_responses as store_chunk
from curation.arena.generated_samples import prompts_missing_samples, stored_samples
from curation.io.openai_client import EndpointError, OpenAIClient
from curation.store.store import Store
from training.generate import (
    GenerateReport,
    GenerationError,
    Progress,
    SamplingSettings,
    ShouldStop,
    select_prompts,
)


@dataclass(frozen=True)
class SampleTask:
    """One sample to ask for: the model, the prompt and the sample's index."""

    model: str
    prompt: PromptToGenerate
    index: int


@dataclass
class RemoteGenerateReport(GenerateReport):
    """A generation report with the server's host, samples skipped as stored, and retries.

    `per_model` counts the samples received from each model (`responses_added` leaves out
    texts already stored for the same prompt and model).
    """

    endpoint: str = ""
    already_stored: int = 0
    retries: int = 0


@dataclass(frozen=True)
class ServerOptions:
    """How to reach a server: its base URL, the key's variable, and the request discipline."""

    base_url: str
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    rate_limit: float | None = None  # requests per second; None: no limit
    max_retries: int = 5
    timeout: float = 120.0  # seconds for one answer

    def client(self) -> OpenAIClient:
        """A client for this server (the key is read when it opens)."""
        return OpenAIClient(
            self.base_url,
            api_key_env=self.api_key_env,
            requests_per_second=self.rate_limit,
            max_retries=self.max_retries,
            timeout_s=self.timeout,
            connections=self.concurrency,
        )


def request_body(task: SampleTask, settings: SamplingSettings) -> dict[str, Any]:
    """The chat-completions request for one sample; sample k is seeded with `seed + k`."""
    body: dict[str, Any] = {
        "model": task.model,
        "messages": task.prompt.messages,
        "max_tokens": settings.max_new_tokens,
        "temperature": settings.temperature,
        "seed": settings.seed + task.index,
    }
    if not settings.greedy:
        body["top_p"] = settings.top_p
    return body


def read_completion(payload: dict[str, Any]) -> tuple[str, int | None, str | None]:
    """(text, completion tokens if reported, finish reason) of a chat-completions answer."""
    try:
        choice = payload["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise EndpointError(f"not a chat-completions response: {str(payload)[:200]}") from None
    tokens = (payload.get("usage") or {}).get("completion_tokens")
    return text.strip(), tokens, choice.get("finish_reason")


def pending_samples(
    store: Store,
    models: Sequence[str],
    prompts: str | Path,
    limit: int | None,
    n: int,
) -> tuple[list[SampleTask], int]:
    """The samples still to ask for, and how many of the selection are stored already.

    `unlabeled` takes the prompts that lack one of the `n` samples from a model; `all` and a
    file take their prompts as the local path does. Stored triples are skipped either way.
    """
    if str(prompts) == "unlabeled":
        chosen = {m: prompts_missing_samples(store, m, n, limit=limit) for m in models}
    else:
        chosen = select_prompts(store, models, prompts, limit)
    tasks: list[SampleTask] = []
    skipped = 0
    for model, todo in chosen.items():
        done = stored_samples(store, model, [p.id for p in todo])
        for prompt in todo:
            for index in range(n):
                if (prompt.id, index) in done:
                    skipped += 1
                else:
                    tasks.append(SampleTask(model, prompt, index))
    return tasks, skipped


def _failure_line(task: SampleTask, error: EndpointError, host: str) -> str:
    """One line naming the prompt, sample and model that failed, and why."""
    words = " ".join(str(task.prompt.messages[-1].get("content", "")).split())
    preview = words if len(words) <= 40 else words[:39] + "…"
    return (
        f"prompt {task.prompt.id} ({preview!r}), sample {task.index} of {task.model} "
        f"at {host}: {error}"
    )


def _in_flight(
    pool: ThreadPoolExecutor,
    ask: Any,
    tasks: Iterator[SampleTask],
    window: int,
    may_submit: ShouldStop,
) -> Iterator[tuple[SampleTask, Future]]:
    """Submit tasks keeping at most `window` in flight; yield each as it finishes.

    With `window` at the pool's size no task waits in the pool's queue, so once
    `may_submit()` is false nothing new starts; the tasks already running still finish.
    """
    pending: dict[Future, SampleTask] = {}
    while True:
        while len(pending) < window and may_submit():
            task = next(tasks, None)
            if task is None:
                break
            pending[pool.submit(ask, task)] = task
        if not pending:
            return
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            yield pending.pop(future), future


def generate_remote(
    store: Store,
    models: Sequence[str],
    client: OpenAIClient,
    *,
    prompts: str | Path = "unlabeled",
    limit: int | None = None,
    settings: SamplingSettings,
    concurrency: int = 8,
    chunk_size: int = 32,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
) -> RemoteGenerateReport:
    """Ask `client`'s server for `settings.n` samples per prompt from each model; store them.

    Responses keep the model name as given, with the sampling settings, the sample index, the
    completion tokens, the finish reason and the server's host in `meta`. `progress(done,
    total)` counts samples. Once `should_stop()` is true no new request starts; those in
    flight are stored. A request that fails for good ends the run with a GenerationError
    naming the prompt and the status, after storing every sample that did finish.
    """
    if not models:
        raise GenerationError("name at least one model to generate with")
    if concurrency < 1 or chunk_size < 1:
        raise GenerationError("concurrency and chunk size must be at least 1")
    tasks, skipped = pending_samples(store, models, prompts, limit, settings.n)
    left = Counter((t.model, t.prompt.id) for t in tasks)
    report = RemoteGenerateReport(
        list(models),
        len(left),
        asdict(settings),
        per_model=dict.fromkeys(models, 0),
        endpoint=client.host,
        already_stored=skipped,
    )
    failure: list[str] = []
    chunk: list[GeneratedResponse] = []
    started = time.perf_counter()

    def ask(task: SampleTask) -> GeneratedResponse:
        text, tokens, reason = read_completion(client.chat(request_body(task, settings)))
        meta = {
            **asdict(settings),
            "sample": task.index,
            "new_tokens": tokens,
            "finished": reason == "stop",
            "finish_reason": reason,
            "endpoint": client.host,
        }
        return GeneratedResponse(task.prompt.id, text, task.model, meta)

    def flush() -> None:
        added = store_chunk(store, chunk)
        report.responses_added += added
        for row in chunk:
            report.per_model[row.model] += 1
        chunk.clear()

    def may_submit() -> bool:
        return not failure and not (should_stop and should_stop())

    with client, ThreadPoolExecutor(concurrency) as pool:
        for task, future in _in_flight(pool, ask, iter(tasks), concurrency, may_submit):
            try:
                row = future.result()
            except EndpointError as error:
                failure.append(_failure_line(task, error, client.host))
                continue
            chunk.append(row)
            report.samples += 1
            report.new_tokens += row.meta["new_tokens"] or 0
            left[task.model, task.prompt.id] -= 1
            report.prompts_done += int(left[task.model, task.prompt.id] == 0)
            if len(chunk) >= chunk_size:
                flush()
            if progress:
                progress(report.samples, len(tasks))
        flush()
    report.retries = client.retries
    report.seconds = round(time.perf_counter() - started, 3)
    report.cancelled = report.samples < len(tasks) and not failure
    if failure:
        raise GenerationError(
            f"{failure[0]}; {report.samples} samples finished before it are stored, "
            "and running the same command again asks only for the rest"
        )
    return report


def generate_on_server(
    store: Store, models: Sequence[str], server: ServerOptions, **run: Any
) -> RemoteGenerateReport:
    """`generate_remote` with a client for `server` at its concurrency (`run`: the rest)."""
    return generate_remote(store, models, server.client(), concurrency=server.concurrency, **run)
