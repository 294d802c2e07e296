"""`serve` and `demo` say they are starting, and print their address only once it answers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from app.commands.serve import DEMO_LOGIN_MESSAGE
from app.server import LOGIN_MESSAGE
from tests.server_helpers import free_port


@contextmanager
def started(*args: str) -> Iterator[tuple[list[str], str]]:
    """Run `prefstudio ARGS --port P`; yield the lines printed up to the one with the address,
    and that address. The process is stopped on the way out."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", *args, "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if "http://" in line:
                break
        assert lines and "http://" in lines[-1], "\n".join(lines)
        yield lines, f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stdout.close()


def test_serve_prints_the_address_only_once_the_server_answers(tmp_path: Path) -> None:
    with started("serve", "--db", str(tmp_path / "store.duckdb")) as (lines, url):
        # Asked at once, with no retry: the address was printed after the server came up.
        assert httpx.get(f"{url}/api/v1/health", timeout=10).json() == {"ok": True}
        page = httpx.get(f"{url}/", timeout=10)
    assert page.status_code == 200 and LOGIN_MESSAGE in page.text
    starting, ready = lines[-2], lines[-1]
    assert starting.startswith("starting prefstudio on 127.0.0.1:") and "http://" not in starting
    assert ready == f"prefstudio serving {tmp_path / 'store.duckdb'} at {url} (Ctrl+C stops it)"


def test_the_demo_login_page_says_the_passwords_are_in_the_terminal(tmp_path: Path) -> None:
    with started("demo", "--dir", str(tmp_path / "demo")) as (lines, url):
        page = httpx.get(f"{url}/", timeout=10)
        config = httpx.get(f"{url}/config", timeout=10)
    assert sum(line.strip().startswith("log in as") for line in lines) == 2
    assert page.status_code == 200 and DEMO_LOGIN_MESSAGE in page.text
    assert config.status_code == 401
    assert config.json()["detail"]["auth_message"] == DEMO_LOGIN_MESSAGE
