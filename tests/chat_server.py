"""A loopback OpenAI-compatible chat-completions server for tests of remote generation."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from curation.io.openai_client import OpenAIClient

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
    barrier until that many are in progress together. Use it as a context manager, or close().
    """

    def __init__(
        self, answer: Callable[[dict, int], Reply] = lambda body, call: completion(body), meet=0
    ) -> None:
        self.answer = answer
        self.requests: list[tuple[dict, dict]] = []  # (headers, body)
        self.in_flight = self.most_in_flight = 0
        self.barrier = threading.Barrier(meet) if meet else None
        self.lock = threading.Lock()
        self.http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.host = f"127.0.0.1:{self.http.server_address[1]}"
        self.url = f"http://{self.host}/v1"
        threading.Thread(target=self.http.serve_forever, args=(0.05,), daemon=True).start()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status, payload, headers = server.reply(dict(self.headers), body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def reply(self, headers: dict, body: dict) -> Reply:
        """Record a request and answer it, counting the requests in progress."""
        with self.lock:
            self.requests.append((headers, body))
            call = len(self.requests)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.barrier is not None and call <= self.barrier.parties:
                self.barrier.wait(timeout=60)  # fails the run if requests never overlap
            return self.answer(body, call)
        except threading.BrokenBarrierError:
            return 500, {"error": "requests did not overlap"}, {}
        finally:
            with self.lock:
                self.in_flight -= 1

    def client(self, **options: object) -> OpenAIClient:
        options.setdefault("backoff_s", 0.0)
        return OpenAIClient(self.url, **options)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
