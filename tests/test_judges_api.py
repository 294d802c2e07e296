"""The API judge against a small OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from judges.api import ApiJudge
from judges.base import JudgeError, PairItem

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
GOOD, BAD = "Paris.", "Lyon, obviously."
Reply = tuple[int, dict]


def knows_paris(body: dict) -> Reply:
    """A judge model that answers the letter of the response naming Paris, with logprobs."""
    text = body["messages"][-1]["content"]
    first = re.search(r"\[Response A\]\n(.*?)\n\n\[Response B\]", text, re.S).group(1)
    letter, other = ("A", "B") if "Paris" in first else ("B", "A")
    top = [{"token": letter, "logprob": -0.2}, {"token": other, "logprob": -1.8}]
    return 200, {
        "choices": [
            {
                "message": {"role": "assistant", "content": letter},
                "logprobs": {"content": [{"token": letter, "logprob": -0.2, "top_logprobs": top}]},
            }
        ]
    }


def always(content: str) -> Callable[[dict], Reply]:
    """A judge model that writes `content` whatever it is asked, without logprobs."""
    return lambda body: (200, {"choices": [{"message": {"role": "assistant", "content": content}}]})


class FakeEndpoint:
    """A loopback chat-completions server; `answer` maps a request body to (status, JSON)."""

    def __init__(self, answer: Callable[[dict], Reply]) -> None:
        self.answer = answer
        self.requests: list[tuple[float, dict, dict]] = []  # (time, headers, body)
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append((time.monotonic(), dict(self.headers), body))
                status, payload = (
                    endpoint.answer(body) if self.path == "/v1/chat/completions" else (404, {})
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def judge(self, **options: object) -> ApiJudge:
        options.setdefault("requests_per_second", 200.0)
        return ApiJudge("judge-model", base_url=self.url, backoff_s=0.01, **options)


@pytest.fixture
def serve() -> Iterator[Callable[[Callable[[dict], Reply]], FakeEndpoint]]:
    started: list[FakeEndpoint] = []

    def start(answer: Callable[[dict], Reply]) -> FakeEndpoint:
        started.append(FakeEndpoint(answer))
        return started[-1]

    yield start
    for endpoint in started:
        endpoint.server.shutdown()
        endpoint.server.server_close()


def test_both_orders_are_asked_and_logprobs_give_the_probability(serve, monkeypatch) -> None:
    monkeypatch.setenv("JUDGE_KEY", "sk-test")
    endpoint = serve(knows_paris)
    judge = endpoint.judge(api_key_env="JUDGE_KEY")
    verdicts = judge.judge([PairItem("1", QUESTION, GOOD, BAD), PairItem("2", QUESTION, BAD, GOOD)])
    assert [v.choice for v in verdicts] == ["a", "b"]
    assert all(v.consistent for v in verdicts)
    p_letter = 1 / (1 + pow(2.718281828459045, -1.6))  # e^-0.2 / (e^-0.2 + e^-1.8)
    assert verdicts[0].p_a == pytest.approx(p_letter, abs=1e-6)
    assert verdicts[1].p_a == pytest.approx(1 - p_letter, abs=1e-6)
    shown = [
        re.search(r"\[Response A\]\n(.*?)\n", b["messages"][-1]["content"]).group(1)
        for _, _, b in endpoint.requests
    ]
    assert sorted(shown) == sorted([GOOD, BAD, BAD, GOOD])
    _, headers, body = endpoint.requests[0]
    assert headers["Authorization"] == "Bearer sk-test"
    assert body["model"] == "judge-model" and body["max_tokens"] == 1 and body["logprobs"] is True
    assert "sk-test" not in json.dumps(judge.describe())


def test_a_judge_that_always_answers_a_gives_inconsistent_ties(serve) -> None:
    verdicts = serve(always("A")).judge(logprobs=False).judge([PairItem("1", QUESTION, GOOD, BAD)])
    assert verdicts[0].choice == "tie" and verdicts[0].consistent is False
    assert verdicts[0].raw["orders"]["ab"]["raw"] == {"content": "A"}


def test_an_answer_that_is_no_letter_fails(serve) -> None:
    (verdict,) = serve(always("Both are fine")).judge().judge([PairItem("1", QUESTION, GOOD, BAD)])
    assert verdict.choice == "failed" and verdict.p_a is None
    assert verdict.raw["orders"]["ab"]["raw"]["error"] == "the answer is neither letter"


def test_transient_errors_are_retried(serve) -> None:
    calls = []

    def flaky(body: dict) -> Reply:
        calls.append(1)
        return (503, {}) if len(calls) <= 2 else knows_paris(body)

    endpoint = serve(flaky)
    (verdict,) = endpoint.judge(concurrency=1).judge([PairItem("1", QUESTION, GOOD, BAD)])
    assert verdict.choice == "a"
    assert len(endpoint.requests) == 4  # two refused, then one per order


def test_errors_that_persist_fail_the_verdict_after_the_retries(serve) -> None:
    endpoint = serve(lambda body: (500, {"error": "down"}))
    (verdict,) = endpoint.judge(max_retries=2).judge([PairItem("1", QUESTION, GOOD, BAD)])
    assert verdict.choice == "failed"
    assert verdict.raw["orders"]["ab"]["raw"]["error"] == "gave up after 3 tries: HTTP 500"
    assert len(endpoint.requests) == 6


def test_a_refused_key_stops_the_run_with_a_clear_error(serve) -> None:
    endpoint = serve(lambda body: (401, {"error": "bad key"}))
    with pytest.raises(JudgeError, match=r"refused the request \(HTTP 401\).*\$OPENAI_API_KEY"):
        endpoint.judge().judge([PairItem("1", QUESTION, GOOD, BAD)])


def test_requests_respect_the_rate_limit(serve) -> None:
    endpoint = serve(knows_paris)
    judge = endpoint.judge(requests_per_second=20, concurrency=4)
    judge.judge([PairItem(str(i), QUESTION, GOOD, BAD + str(i)) for i in range(3)])
    starts = sorted(t for t, _, _ in endpoint.requests)
    assert len(starts) == 6
    assert starts[-1] - starts[0] >= 5 * 0.05 * 0.9  # six starts, 1/20 s apart at least


def test_a_base_url_without_a_scheme_is_refused() -> None:
    with pytest.raises(JudgeError, match="base URL must start with http"):
        ApiJudge("m", base_url="localhost:8000")
