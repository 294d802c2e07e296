"""A CLI command sent to a server that holds the store but does not listen yet waits for it;
one whose server ended says so in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from app.commands import remote
from app.server_info import ServerInfo
from curation.errors import PrefstudioError


class Health(BaseHTTPRequestHandler):
    """Answers GET /api/v1/health, as a started server does."""

    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/v1/health" else 404)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_command_waits_for_a_server_that_holds_the_store_but_does_not_listen_yet(monkeypatch):
    port = free_port()
    server = ServerInfo(url=f"http://127.0.0.1:{port}", pid=os.getpid(), token="t")
    refused_once = threading.Event()
    monkeypatch.setattr(remote.time, "sleep", lambda seconds: refused_once.set())
    outcome: list[object] = []
    waiting = threading.Thread(
        target=lambda: outcome.append(remote.wait_until_answering(server)), daemon=True
    )
    waiting.start()
    assert refused_once.wait(timeout=60)  # it found nothing listening, and polls again
    listening = HTTPServer(("127.0.0.1", port), Health)
    threading.Thread(target=listening.serve_forever, daemon=True).start()
    try:
        waiting.join(timeout=60)
        assert outcome == [None]
    finally:
        listening.shutdown()
        listening.server_close()


def test_a_command_whose_server_ended_before_listening_says_so_in_one_line():
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    server = ServerInfo(url=f"http://127.0.0.1:{free_port()}", pid=int(ended.stdout), token="t")
    with pytest.raises(PrefstudioError, match="ended before it answered") as raised:
        remote.wait_until_answering(server)
    assert "\n" not in str(raised.value)
