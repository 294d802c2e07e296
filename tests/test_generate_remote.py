"""Generating on an OpenAI-compatible server: a real HTTP server on loopback, a real store."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from curation.arena.generated_samples import prompts_missing_samples
from curation.io.importer import import_paths
from curation.io.openai_client import OpenAIClient, TokenBucket, retry_after_seconds
from curation.store.store import Store
from tests.conftest import assert_one_error_line, table_counts
from tests.server_helpers import Server, add_users, log_in, needs_chromium, screenshot
from training.generate import GenerationError, SamplingSettings
from training.generate_remote import generate_remote

SECRET = "sk-remote-secret-4242"
SAMPLED = SamplingSettings(n=2, temperature=0.8, top_p=0.9, max_new_tokens=16, seed=5)
Reply = tuple[int, dict, dict[str, str]]  # status, JSON body, extra headers


def completion(body: dict) -> Reply:
    """A deterministic model: it repeats the question and the seed it was given."""
    question = body["messages"][-1]["content"]
    text = f"{body['model']} on {question!r}, seed {body.get('seed')}"
    return (
        200,
        {
            "choices": [
                {"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"completion_tokens": len(text.split())},
        },
        {},
    )


class ChatServer:
    """A loopback chat-completions server; `answer(body, call)` gives each reply (call from 1).

    It counts the requests in progress at once, and can hold the first `meet` requests at a
    barrier until that many are in progress together.
    """

    def __init__(self, answer: Callable[[dict, int], Reply], meet: int = 0) -> None:
        self.answer = answer
        self.requests: list[tuple[dict, dict]] = []  # (headers, body)
        self.in_flight = self.most_in_flight = 0
        self.barrier = threading.Barrier(meet) if meet else None
        lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with lock:
                    server.requests.append((dict(self.headers), body))
                    call = len(server.requests)
                    server.in_flight += 1
                    server.most_in_flight = max(server.most_in_flight, server.in_flight)
                try:
                    if server.barrier is not None and call <= server.barrier.parties:
                        server.barrier.wait(timeout=60)  # fails the run if requests never overlap
                    status, payload, headers = server.answer(body, call)
                except threading.BrokenBarrierError:
                    status, payload, headers = 500, {"error": "requests did not overlap"}, {}
                finally:
                    with lock:
                        server.in_flight -= 1
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.http.server_address[1]}"
        self.url = f"http://{self.host}/v1"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def client(self, **options: object) -> OpenAIClient:
        options.setdefault("backoff_s", 0.0)
        return OpenAIClient(self.url, **options)


@pytest.fixture
def serve() -> Iterator[Callable[..., ChatServer]]:
    started: list[ChatServer] = []

    def start(answer: Callable[[dict, int], Reply] = lambda body, call: completion(body), meet=0):
        started.append(ChatServer(answer, meet))
        return started[-1]

    yield start
    for server in started:
        server.http.shutdown()
        server.http.server_close()


def _add_prompts(store: Store, write_jsonl, count: int) -> list[str]:
    texts = [f"Question {i}?" for i in range(count)]
    import_paths(store, [write_jsonl("prompts.jsonl", [{"prompt": t} for t in texts])])
    return texts


def _stored(store: Store) -> list[tuple[str, str, dict]]:
    rows = store.con.execute("SELECT text, model, meta FROM responses ORDER BY text").fetchall()
    return [(text, model, json.loads(meta)) for text, model, meta in rows]


def test_samples_are_stored_chunk_by_chunk_with_model_host_and_settings(
    serve, store, write_jsonl
) -> None:
    server = serve()
    _add_prompts(store, write_jsonl, 3)
    stored_at_progress = []

    def progress(done: int, total: int) -> None:
        stored_at_progress.append((done, total, table_counts(store)["responses"]))

    report = generate_remote(
        store,
        ["org/Model-7B"],
        server.client(),
        settings=SAMPLED,
        concurrency=1,
        chunk_size=4,
        progress=progress,
    )
    assert (report.prompts, report.samples, report.responses_added, report.prompts_done) == (
        3,
        6,
        6,
        3,
    )
    assert report.endpoint == server.host and report.already_stored == 0 and not report.cancelled
    # Chunks of four: nothing stored before the fourth sample, the rest at the end.
    assert [stored for *_, stored in stored_at_progress] == [0, 0, 0, 4, 4, 4]
    assert table_counts(store)["responses"] == 6
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


def test_requests_overlap_up_to_the_concurrency(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 6)
    server = serve(meet=4)  # the first four requests wait until all four are in progress
    report = generate_remote(
        store, ["m"], server.client(max_retries=0), settings=SAMPLED, concurrency=4
    )
    assert report.samples == 12 and server.most_in_flight == 4


def test_one_request_at_a_time_without_concurrency(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve()
    generate_remote(store, ["m"], server.client(), settings=SAMPLED, concurrency=1)
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
    report = generate_remote(
        store, ["m"], client, settings=SamplingSettings(n=1, temperature=0), concurrency=1
    )
    assert waits == [7.0, 0.5]  # Retry-After, then the backoff of a second retry
    assert (report.retries, report.responses_added, len(server.requests)) == (2, 1, 3)


def test_a_request_without_an_answer_times_out_and_is_retried(serve, store, write_jsonl) -> None:
    release = threading.Event()

    def first_never_answers(body: dict, call: int) -> Reply:
        if call == 1:
            release.wait(timeout=60)  # no answer until the client has given up on it
        return completion(body)

    _add_prompts(store, write_jsonl, 1)
    server = serve(first_never_answers)
    try:
        report = generate_remote(
            store,
            ["m"],
            server.client(timeout_s=0.2),
            settings=SamplingSettings(n=1, temperature=0),
            concurrency=1,
        )
    finally:
        release.set()
    assert (report.retries, report.responses_added, len(server.requests)) == (1, 1, 2)


def test_stopping_keeps_the_samples_already_received(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 4)
    server = serve()
    done: list[int] = []
    report = generate_remote(
        store,
        ["m"],
        server.client(),
        settings=SAMPLED,
        concurrency=1,
        progress=lambda d, t: done.append(d),
        should_stop=lambda: len(done) >= 3,
    )
    assert report.cancelled and report.samples == 3 and len(server.requests) == 3
    assert table_counts(store)["responses"] == 3
    rest = generate_remote(store, ["m"], server.client(), settings=SAMPLED)
    # The prompt with both samples is not selected again; the one with one sample is completed.
    assert (rest.prompts, rest.already_stored, rest.samples, rest.cancelled) == (3, 1, 5, False)
    assert table_counts(store)["responses"] == 8


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


def test_resume_asks_only_for_missing_samples(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve()
    one = SamplingSettings(n=1, temperature=0.8, seed=5)
    generate_remote(store, ["m"], server.client(), settings=one, prompts="all")
    assert len(server.requests) == 3
    report = generate_remote(store, ["m"], server.client(), settings=SAMPLED)
    assert (report.already_stored, report.samples) == (3, 3)
    assert sorted(b["seed"] for _, b in server.requests[3:]) == [6, 6, 6]  # sample 1 only
    again = generate_remote(store, ["m"], server.client(), settings=SAMPLED, prompts="all")
    assert (again.prompts, again.samples, again.already_stored) == (0, 0, 6)
    assert len(server.requests) == 6
    other = generate_remote(store, ["other"], server.client(), settings=one)
    assert other.samples == 3  # another model name is another set of samples


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


def test_a_refused_key_stops_at_once_naming_the_variable(serve, store, write_jsonl) -> None:
    _add_prompts(store, write_jsonl, 3)
    server = serve(lambda body, call: (401, {"error": "no"}, {}))
    with pytest.raises(
        GenerationError, match=r"refused the request \(HTTP 401\).*\$OPENAI_API_KEY"
    ):
        generate_remote(store, ["m"], server.client(), settings=SAMPLED, concurrency=1)
    assert len(server.requests) == 1 and table_counts(store)["responses"] == 0


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


@needs_chromium
def test_the_generate_tab_asks_the_server_at_the_base_url_given(
    browser, serve, tmp_path, write_jsonl
) -> None:
    chat = serve()
    db_path = tmp_path / "ui.duckdb"
    with Store(db_path) as store:
        _add_prompts(store, write_jsonl, 2)
        add_users(store)
    app = Server(db_path)
    try:
        page = log_in(browser, app, "root", height=1200)
        page.get_by_role("tab", name="Generate").click()
        page.locator("#generate-base-url textarea").fill(chat.url)
        page.get_by_label("At most this many prompts per model").fill("2")
        page.click("#generate-start")
        page.wait_for_selector("#generate-report >> text=done", timeout=60_000)
        shown = page.locator("#generate-report").inner_text()
        screenshot(page, tmp_path, "generate-on-server")
        page.close()
    finally:
        app.stop()
    assert "2 of 2 prompts" in shown and "smollm2-135m: 4 samples received" in shown
    assert [b["model"] for _, b in chat.requests] == ["smollm2-135m"] * 4
