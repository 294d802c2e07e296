"""Generating candidates on an OpenAI-compatible server (vLLM, SGLang, llama.cpp, a hosted API).

The process holding the store picks the samples still to ask for (`pending_samples`); a
generation job's worker asks for them (`generate_on_server_job`): each sample is one
chat-completions request, requests run concurrently through the shared client (rate limit,
retries), and the samples are written as chunks of whole prompts that the watcher stores. A
cancelled or failed job keeps what was written; resumed, it asks only for the rest, and a new
job skips every (prompt, model, sample index) triple already stored.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from curation.arena.candidates import GeneratedResponse, PromptToGenerate
from curation.arena.generated_samples import prompts_missing_samples, stored_samples
from curation.io.openai_client import EndpointError, OpenAIClient
from curation.jobs.files import chunk_numbers, write_chunk, write_progress, written_rows
from curation.store.store import Store
from training.generate import GenerateReport, GenerationError, SamplingSettings, select_prompts

Received = Callable[["SampleTask", GeneratedResponse], None]


@dataclass(frozen=True)
class SampleTask:
    """One sample to ask for: the model, the prompt and the sample's index."""

    model: str
    prompt: PromptToGenerate
    index: int

    @property
    def key(self) -> tuple[str, str, int]:
        """(model, prompt id, sample index): what names a sample, stored or written."""
        return self.model, self.prompt.id, self.index


@dataclass
class RemoteGenerateReport(GenerateReport):
    """A generation report with the server's host, samples skipped as stored, and the
    requests retried (by the job's last attempt)."""

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

    def options(self) -> dict[str, Any]:
        """Everything but the base URL, as a job's parameters keep it: the key's variable is
        named, the key itself never written."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "base_url"}

    def check(self) -> None:
        """Refuse what the client would refuse, and a base URL holding credentials (a job
        writes its base URL down)."""
        self.client()
        parts = urlsplit(self.base_url)
        if parts.username or parts.password:
            raise GenerationError(
                "the base URL must not hold credentials; put the key in an environment "
                "variable and name it (api_key_env)"
            )

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
    may_submit: Callable[[], bool],
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


def ask_server(
    client: OpenAIClient,
    tasks: Sequence[SampleTask],
    settings: SamplingSettings,
    received: Received,
    *,
    concurrency: int = 8,
) -> None:
    """Ask `client`'s server for every task, `concurrency` requests at once; `received(task,
    response)` sees each answer in this thread as it comes.

    A response keeps the model name as given, with the sampling settings, the sample index,
    the completion tokens, the finish reason and the server's host in `meta`. A request that
    fails for good starts no new request; once those in flight are received, a
    GenerationError names the prompt, the sample and the last status.
    """
    if concurrency < 1:
        raise GenerationError("concurrency must be at least 1")
    failure: list[str] = []
    count = 0

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

    with client, ThreadPoolExecutor(concurrency) as pool:
        for task, future in _in_flight(pool, ask, iter(tasks), concurrency, lambda: not failure):
            try:
                response = future.result()
            except EndpointError as error:
                failure.append(_failure_line(task, error, client.host))
                continue
            received(task, response)
            count += 1
    if failure:
        raise GenerationError(
            f"{failure[0]}; {count} samples finished before it are stored, and running the "
            "same command again (or resuming the job) asks only for the rest"
        )


class PromptChunks:
    """Samples written as chunks of `size` prompts, a prompt's samples together once all of
    them have come; progress (samples done of `total`) written as each comes."""

    def __init__(self, folder: Path, size: int, tasks: Sequence[SampleTask], total: int) -> None:
        self.folder, self.size, self.total = folder, size, total
        self.left = Counter((task.model, task.prompt.id) for task in tasks)
        self.waiting: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        self.ready: list[dict[str, Any]] = []
        self.prompts_ready = 0
        self.number = max(chunk_numbers(folder), default=0)
        self.done = total - len(tasks)

    def add(self, task: SampleTask, response: GeneratedResponse) -> None:
        """Take one sample in; write a chunk once `size` prompts have all their samples."""
        prompt = (task.model, task.prompt.id)
        self.waiting[prompt].append(asdict(response))
        self.left[prompt] -= 1
        if not self.left[prompt]:
            self.ready += self.waiting.pop(prompt)
            self.prompts_ready += 1
            if self.prompts_ready == self.size:
                self.write(self.ready)
        self.done += 1
        write_progress(self.folder, self.done, self.total, f"asking {task.model}")

    def write_rest(self) -> None:
        """Write every sample taken in and not written yet (after a failure, some prompts'
        samples are not all there: the resumed job asks for the rest)."""
        rest = self.ready + [row for rows in self.waiting.values() for row in rows]
        self.waiting.clear()
        if rest:
            self.write(rest)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """Write `rows` as the next chunk; nothing is ready after it."""
        self.number += 1
        write_chunk(self.folder, self.number, rows)
        self.ready, self.prompts_ready = [], 0


def generate_on_server_job(folder: Path, params: dict[str, Any]) -> dict[str, Any]:
    """A generation job's work on a server: ask for every sample of `params["todo"]` ({model,
    prompt: {id, messages}, index}) not yet in a chunk; the requests retried."""
    settings = SamplingSettings(**params["settings"])
    server = ServerOptions(params["base_url"], **params["server"])
    todo = [
        SampleTask(row["model"], PromptToGenerate(**row["prompt"]), row["index"])
        for row in params["todo"]
    ]
    written = {(r["model"], r["prompt_id"], r["meta"]["sample"]) for r in written_rows(folder)}
    tasks = [task for task in todo if task.key not in written]
    chunks = PromptChunks(folder, params["batch_size"], tasks, len(todo))
    client = server.client()
    try:
        ask_server(client, tasks, settings, chunks.add, concurrency=server.concurrency)
    finally:
        chunks.write_rest()
    write_progress(folder, chunks.done, len(todo), "finished")
    return {"retries": client.retries}
