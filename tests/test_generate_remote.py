"""Generating on an OpenAI-compatible server: a real HTTP server on loopback, a real store, and
the generation job's worker process that asks it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.job_requests import start_job
from curation.arena.generated_samples import prompts_missing_samples
from curation.errors import BadInput
from curation.io.importer import import_paths
from curation.io.openai_client import TokenBucket, retry_after_seconds
from curation.jobs import files
from curation.jobs.runner import cancel_job, job_progress, resume_job, wait_for_job
from curation.store.store import Store
from tests.chat_server import ChatServer, Reply, completion
from tests.conftest import assert_one_error_line, table_counts
from tests.server_helpers import USERS, Server, log_in, make_store, needs_chromium, screenshot
from training.generate import GenerationError, SamplingSettings
from training.generate_remote import SampleTask, ServerOptions, ask_server, pending_samples
from training.generation_jobs import start_generation

SECRET = "sk-remote-secret-4242"
SAMPLED = SamplingSettings(n=2, temperature=0.8, top_p=0.9, max_new_tokens=16, seed=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., ChatServer]]:
    started: list[ChatServer] = []

    def start(answer: Callable[[dict, int], Reply] = lambda body, call: completion(body), meet=0):
        started.append(ChatServer(answer, meet))
        return started[-1]

    yield start
    for server in started:
        server.close()


def _prompts_file(write_jsonl, count: int) -> Path:
    return write_jsonl("prompts.jsonl", [{"prompt": f"Question {i}?"} for i in range(count)])


def _add_prompts(store: Store, write_jsonl, count: int) -> list[str]:
    import_paths(store, [_prompts_file(write_jsonl, count)])
    return [f"Question {i}?" for i in range(count)]


def _stored(store: Store) -> list[tuple[str, str, dict]]:
    rows = store.con.execute("SELECT text, model, meta FROM responses ORDER BY text").fetchall()
    return [(text, model, json.loads(meta)) for text, model, meta in rows]


def _tasks(store: Store, n: int = 2) -> list[SampleTask]:
    return pending_samples(store, ["m"], "unlabeled", None, n)[0]


def _ask(client, tasks: list[SampleTask], settings: SamplingSettings, concurrency: int) -> list:
    """The responses the server gives for `tasks`, as they come."""
    received: list = []
    ask_server(
        client, tasks, settings, lambda task, row: received.append(row), concurrency=concurrency
    )
    return received


def _on_server(server: ChatServer, **options) -> ServerOptions:
    return ServerOptions(server.url, **options)


def test_requests_overlap_up_to_the_concurrency(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 6)
    server = serve(meet=4)  # the first four requests wait until all four are in progress
    received: list = []
    ask_server(
        server.client(max_retries=0),
        _tasks(store),
        SAMPLED,
        lambda task, row: received.append(row),
        concurrency=4,
    )
    assert len(received) == 12 and server.most_in_flight == 4


def test_one_request_at_a_time_without_concurrency(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve()
    assert len(_ask(server.client(), _tasks(store), SAMPLED, concurrency=1)) == 6
    assert len(server.requests) == 6 and server.most_in_flight == 1


def test_429_and_500_are_retried_honouring_retry_after(serve, store, write_jsonl) -> None:
    def flaky(body: dict, call: int) -> Reply:
        if call == 1:
            return 429, {"error": "slow down"}, {"Retry-After": "7"}
        if call == 2:
            return 500, {"error": "oops"}, {}
        return completion(body)

    _add_prompts(store, write_jsonl, 1)
    server = serve(flaky)
    waits: list[float] = []
    client = server.client(backoff_s=0.25, sleep=waits.append)
    greedy = SamplingSettings(n=1, temperature=0)
    assert len(_ask(client, _tasks(store, n=1), greedy, concurrency=1)) == 1
    assert waits == [7.0, 0.5]  # Retry-After, then the backoff of a second retry
    assert (client.retries, len(server.requests)) == (2, 3)


def test_a_request_without_an_answer_times_out_and_is_retried(serve, store, write_jsonl) -> None:
    release = threading.Event()

    def first_never_answers(body: dict, call: int) -> Reply:
        if call == 1:
            release.wait(timeout=60)  # no answer until the client has given up on it
        return completion(body)

    _add_prompts(store, write_jsonl, 1)
    server = serve(first_never_answers)
    client = server.client(timeout_s=0.2)
    try:
        received = _ask(client, _tasks(store, n=1), SamplingSettings(n=1, temperature=0), 1)
    finally:
        release.set()
    assert (client.retries, len(received), len(server.requests)) == (1, 1, 2)


def test_a_refused_key_stops_at_once_naming_the_variable(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve(lambda body, call: (401, {"error": "no"}, {}))
    with pytest.raises(
        GenerationError, match=r"refused the request \(HTTP 401\).*\$OPENAI_API_KEY"
    ):
        _ask(server.client(), _tasks(store), SAMPLED, concurrency=1)
    assert len(server.requests) == 1


def test_retry_after_as_a_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("later", now) is None


def test_the_token_bucket_spaces_requests_after_its_burst() -> None:
    now = [0.0]
    waits: list[float] = []
    bucket = TokenBucket(4, burst=2, clock=lambda: now[0], sleep=waits.append)
    for _ in range(4):
        bucket.acquire()
    assert waits == [0.25, 0.5]  # two at once, then one every quarter second
    now[0] = 10.0
    bucket.acquire()
    assert waits == [0.25, 0.5]  # refilled while idle


def test_a_job_asks_the_server_and_stores_chunks_of_whole_prompts(
    serve, store, write_jsonl
) -> None:
    server = serve()
    _add_prompts(store, write_jsonl, 3)
    on_server = _on_server(server, concurrency=1, api_key_env="GEN_KEY")
    job = start_generation(
        store, ["org/Model-7B"], settings=SAMPLED, batch_size=2, server=on_server
    )
    assert job.status == "running" and job.pid != os.getpid()
    assert job.params["base_url"] == server.url and job.params["server"]["api_key_env"] == "GEN_KEY"
    job = wait_for_job(store, job.id, poll_seconds=0.1)
    assert job.status == "succeeded", job.error
    report = job.result
    assert (report["prompts"], report["samples"], report["responses_added"]) == (3, 6, 6)
    assert report["prompts_done"] == 3 and report["per_model"] == {"org/Model-7B": 6}
    assert (report["endpoint"], report["already_stored"], report["retries"]) == (server.host, 0, 0)
    # two prompts' samples in the first chunk, the last prompt's in the second
    chunks = [files.read_chunk(job.folder, n) for n in files.chunk_numbers(job.folder)]
    assert [len(rows) for rows in chunks] == [4, 2]
    assert [len({row["prompt_id"] for row in rows}) for rows in chunks] == [2, 1]
    progress = job_progress(job)
    assert (progress["done"], progress["total"], progress["phase"]) == (6, 6, "finished")
    rows = _stored(store)
    assert {model for _, model, _ in rows} == {"org/Model-7B"}
    _, _, meta = rows[0]
    assert meta["endpoint"] == server.host and meta["finish_reason"] == "stop"
    assert (meta["temperature"], meta["top_p"], meta["max_new_tokens"]) == (0.8, 0.9, 16)
    assert sorted(m["sample"] for _, _, m in rows) == [0, 0, 0, 1, 1, 1]
    assert all(m["new_tokens"] == len(t.split()) for t, _, m in rows)
    bodies = [body for _, body in server.requests]
    assert sorted(b["seed"] for b in bodies) == [5, 5, 5, 6, 6, 6]  # seed + sample index
    assert all(b["max_tokens"] == 16 and b["top_p"] == 0.9 for b in bodies)


def test_a_job_held_mid_way_is_cancelled_and_resumed_asking_only_for_the_rest(
    serve, store, write_jsonl
) -> None:
    asked, release = threading.Event(), threading.Event()

    def second_waits(body: dict, call: int) -> Reply:
        if call == 2:  # the first prompt's chunk is written before this request is sent
            asked.set()
            release.wait(timeout=60)
        return completion(body)

    questions = _add_prompts(store, write_jsonl, 4)
    server = serve(second_waits)
    greedy = SamplingSettings(n=1, temperature=0)
    job = start_generation(
        store, ["m"], settings=greedy, batch_size=1, server=_on_server(server, concurrency=1)
    )
    try:
        assert asked.wait(timeout=60)
        worker = job.pid
        job = cancel_job(store, job.id, grace_seconds=0.5)
    finally:
        release.set()
    assert job.status == "cancelled" and job.result["cancelled"] and job.error is None
    with pytest.raises(ProcessLookupError):
        os.kill(worker, 0)
    assert table_counts(store)["responses"] == job.result["responses_added"] == 1
    first = server.requests[0][1]["messages"][-1]["content"]

    job = wait_for_job(store, resume_job(store, job.id).id, poll_seconds=0.1)
    assert job.status == "succeeded", job.error
    assert table_counts(store)["responses"] == job.result["responses_added"] == 4
    resumed = [body["messages"][-1]["content"] for _, body in server.requests[2:]]
    assert sorted(resumed) == sorted(set(questions) - {first})  # the written one is not asked
    written = [row["prompt_id"] for row in files.written_rows(job.folder)]
    assert len(written) == len(set(written)) == 4


def test_a_new_job_asks_only_for_the_samples_not_stored(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve()

    def generate(settings: SamplingSettings, model: str = "m", prompts: str = "unlabeled"):
        job = start_generation(
            store, [model], settings=settings, prompts=prompts, server=_on_server(server)
        )
        return wait_for_job(store, job.id, poll_seconds=0.1).result

    one = SamplingSettings(n=1, temperature=0.8, seed=5)
    generate(one, prompts="all")
    assert len(server.requests) == 3
    report = generate(SAMPLED)
    assert (report["already_stored"], report["samples"]) == (3, 3)
    assert sorted(b["seed"] for _, b in server.requests[3:]) == [6, 6, 6]  # sample 1 only
    again = generate(SAMPLED, prompts="all")
    assert (again["prompts"], again["samples"], again["already_stored"]) == (0, 0, 6)
    assert len(server.requests) == 6
    assert generate(one, model="other")["samples"] == 3  # another model: other samples


def _cli(db_path: Path, server: ChatServer, *args: str):
    return CliRunner().invoke(
        main,
        ["generate", "--db", str(db_path), "--base-url", server.url, "--model", "m", *args],
    )


def test_exhausted_retries_end_with_one_line_and_keep_what_was_done(
    serve, db_path, write_jsonl
) -> None:
    with Store(db_path) as store:
        _add_prompts(store, write_jsonl, 5)
        last = prompts_missing_samples(store, "m", 1)[-1]  # the last one asked for
    question = last.messages[-1]["content"]

    def last_one_fails(body: dict, call: int) -> Reply:
        if body["messages"][-1]["content"] == question:
            return 503, {"error": "overloaded"}, {"Retry-After": "0"}
        return completion(body)

    failing = serve(last_one_fails)
    result = _cli(db_path, failing, "--n", "1", "--concurrency", "1", "--max-retries", "2")
    assert result.exit_code == 1
    line = assert_one_error_line(result.stderr)
    assert f"prompt {last.id} ({question!r})" in line
    assert "gave up after 3 tries: HTTP 503" in line
    assert "4 samples finished before it are stored" in line
    assert len(failing.requests) == 4 + 3
    with Store(db_path) as store:
        assert table_counts(store)["responses"] == 4

    healthy = serve()
    again = _cli(db_path, healthy, "--n", "1", "--json")
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert (report["samples"], report["already_stored"], report["responses_added"]) == (1, 0, 1)
    assert [b["messages"][-1]["content"] for _, b in healthy.requests] == [question]


def test_the_api_key_is_sent_as_bearer_and_never_stored_or_printed(
    serve, db_path, write_jsonl, monkeypatch
) -> None:
    monkeypatch.setenv("GEN_KEY", SECRET)
    with Store(db_path) as store:
        _add_prompts(store, write_jsonl, 2)
        files_dir = store.files_dir
    server = serve()
    result = _cli(db_path, server, "--api-key-env", "GEN_KEY", "--json")
    assert result.exit_code == 0, result.output
    assert {h["Authorization"] for h, _ in server.requests} == {f"Bearer {SECRET}"}
    assert SECRET not in result.stdout + result.stderr
    with Store(db_path) as store:
        tables = store.con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        for (table,) in tables:
            dump = json.dumps(store.con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
            assert SECRET not in dump
        assert table_counts(store)["responses"] == 4

    def echo_headers(body: dict, call: int) -> Reply:
        return 400, {"error": "bad request", "headers": echoing.requests[-1][0]}, {}

    echoing = serve(echo_headers)
    refused = _cli(db_path, echoing, "--api-key-env", "GEN_KEY", "--n", "3")
    line = assert_one_error_line(refused.stderr)
    assert "HTTP 400" in line and "Bearer ***" in line and SECRET not in refused.output
    written = [path for path in files_dir.rglob("*") if path.is_file()]
    assert len(written) > 4 and not [p for p in written if SECRET in p.read_text(errors="replace")]


def test_server_options_without_a_base_url_are_refused(db_path) -> None:
    result = CliRunner().invoke(
        main, ["generate", "--db", str(db_path), "--model", "m", "--concurrency", "2"]
    )
    assert result.exit_code == 1
    assert "--concurrency only apply with --base-url" in assert_one_error_line(result.stderr)


def test_rate_limit_accepts_requests_per_second(serve, db_path, write_jsonl) -> None:
    with Store(db_path) as store:
        _add_prompts(store, write_jsonl, 1)
    server = serve()
    assert _cli(db_path, server, "--rate-limit", "500/s", "--n", "1").exit_code == 0
    bad = _cli(db_path, server, "--rate-limit", "fast")
    assert bad.exit_code == 2 and "expected requests per second" in bad.stderr


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    url=st.text(min_size=1, max_size=30).filter(
        lambda u: not u.startswith(("http://", "https://", "-"))
    )
)
def test_a_base_url_without_a_scheme_is_one_error_line_and_changes_nothing(
    url, db_path, write_jsonl
) -> None:
    if not db_path.exists():
        with Store(db_path) as store:
            _add_prompts(store, write_jsonl, 1)
    result = CliRunner().invoke(
        main, ["generate", "--db", str(db_path), "--model", "m", "--base-url", url]
    )
    assert result.exit_code == 1
    assert "base URL must start with http" in assert_one_error_line(result.stderr)
    with Store(db_path) as store:
        assert table_counts(store)["responses"] == 0
        assert store.con.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"server": {"concurrency": 2}}, "server: server options only apply with a base_url"),
        ({"base_url": "http://x/v1", "server": {"api_key_env": SECRET}}, "api_key_env"),
        ({"base_url": "http://x/v1", "server": {"api_key": "k"}}, "server.api_key: Extra"),
        ({"base_url": "http://x/v1", "server": {"concurrency": 0}}, "server.concurrency"),
    ],
)
def test_a_jobs_server_options_are_checked(store, params, refused) -> None:
    with pytest.raises(BadInput, match=re.escape(refused)):
        start_job(store, "generate", {"models": ["m"], **params})
    assert store.con.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_a_base_url_with_credentials_is_refused(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 1)
    server = serve()
    with pytest.raises(GenerationError, match="must not hold credentials"):
        start_generation(store, ["m"], server=ServerOptions(f"http://me:{SECRET}@{server.host}/v1"))
    assert store.con.execute("SELECT count(*) FROM jobs").fetchone() == (0,)


def test_generate_on_a_server_through_the_running_server(
    serve, tmp_path, write_jsonl, monkeypatch
) -> None:
    chat = serve()
    db = tmp_path / "store.duckdb"
    make_store(db, [_prompts_file(write_jsonl, 2)])
    monkeypatch.setenv("GEN_KEY", SECRET)
    app = Server(db)  # the key is in the server's environment, not in the command's
    try:
        made = subprocess.run(
            [sys.executable, "-m", "app.cli", "generate", "--db", str(db), "--json",
             "--base-url", chat.url, "--model", "m", "--n", "1", "--api-key-env", "GEN_KEY"],
            capture_output=True, text=True, timeout=300,
            env={k: v for k, v in os.environ.items() if k != "GEN_KEY"},
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        report = json.loads(made.stdout)
        assert (report["responses_added"], report["endpoint"]) == (2, chat.host)
        admin = ("root", USERS["root"][1])
        (job,) = httpx.get(f"{app.url}/api/v1/jobs", auth=admin).json()["jobs"]
        assert job["params"]["base_url"] == chat.url and job["result"] == report
        assert job["params"]["server"]["api_key_env"] == "GEN_KEY" and SECRET not in str(job)
    finally:
        app.stop()
    assert {h["Authorization"] for h, _ in chat.requests} == {f"Bearer {SECRET}"}
    assert SECRET not in made.stdout + made.stderr


@needs_chromium
def test_the_generate_tab_asks_the_server_at_the_base_url_given(
    browser, serve, tmp_path, write_jsonl
) -> None:
    chat = serve()
    db_path = tmp_path / "ui.duckdb"
    make_store(db_path, [_prompts_file(write_jsonl, 2)])
    app = Server(db_path)
    try:
        page = log_in(browser, app, "root", height=1200)
        page.get_by_role("tab", name="Generate").click()
        page.locator("#generate-base-url textarea").fill(chat.url)
        page.get_by_label("At most this many prompts per model").fill("2")
        page.click("#generate-start")
        page.wait_for_selector("#generate-report >> text=new responses", timeout=60_000)
        shown = page.locator("#generate-report").inner_text()
        screenshot(page, tmp_path, "generate-on-server")
        page.close()
    finally:
        app.stop()
    assert "2 of 2 prompts" in shown and "smollm2-135m: 4 new responses" in shown
    assert [b["model"] for _, b in chat.requests] == ["smollm2-135m"] * 4
