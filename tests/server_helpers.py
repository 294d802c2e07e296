"""Running a real `prefstudio serve` in a subprocess on a free port, for browser and crash tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from curation import Store, import_paths
from curation.labelling.accounts import add_user

USERS = {"ann": ("annotator", "ann-password"), "root": ("admin", "root-password")}
CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="BROWSER TEST NOT RUN: Debian's chromium is missing at /usr/bin/chromium "
    "(apt-get install chromium)",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_store(db_path: Path, data: list[Path]) -> None:
    """A store with `data` imported and the USERS accounts; closed again for the server."""
    with Store(db_path) as store:
        import_paths(store, data)
        add_users(store)


def add_users(store: Store) -> None:
    """Create the USERS accounts (an annotator and an admin)."""
    for name, (role, password) in USERS.items():
        add_user(store, name, role, password)


class Server:
    """`prefstudio serve` on a free port over `db_path`; stop() ends it (kill() with SIGKILL)."""

    def __init__(self, db_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = db_path.with_suffix(".log").open("w")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "app.cli",
                "serve",
                "--db",
                str(db_path),
                "--port",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/api/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("server did not start within 90 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()

    def kill(self) -> None:
        self.process.kill()  # SIGKILL: no clean shutdown
        self.process.wait(timeout=30)
        self.log.close()


@contextmanager
def launch_chromium() -> Iterator:
    """Debian's chromium driven by Playwright (no downloaded browser builds)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(browser, server: Server, name: str, *, height: int = 1000):
    """A new page logged in as `name` (one of USERS), once the app has said who is logged in."""
    page = browser.new_page(viewport={"width": 1300, "height": height})
    page.goto(server.url + "/")
    page.fill("input[type=text]", name)
    page.fill("input[type=password]", USERS[name][1])
    page.keyboard.press("Enter")
    page.wait_for_selector("#whoami >> text=Logged in as", timeout=60_000)
    return page


def screenshot(page, folder: Path, name: str) -> None:
    """Save a full-page screenshot as <folder>/<name>.png (a test's tmp_path: pytest keeps the
    last runs' folders, and the checkout stays clean)."""
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
