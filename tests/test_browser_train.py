"""The Train tab in a real browser (Debian's chromium) against a real server and a real run."""

from __future__ import annotations

import httpx
import pytest

from curation import Store
from tests.models import build_tiny_causal_lm
from tests.server_helpers import USERS, Server, add_users, log_in, needs_chromium, screenshot
from tests.training_helpers import make_snapshot

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def setup(tmp_path_factory, browser):
    folder = tmp_path_factory.mktemp("train")
    db_path = folder / "store.duckdb"
    with Store(db_path) as store:
        make_snapshot(store, folder)
        add_users(store)
    model = build_tiny_causal_lm(folder / "lm")
    server = Server(db_path)
    yield {"server": server, "browser": browser, "model": model}
    server.stop()


def choose(page, selector: str, value: str) -> None:
    field = page.locator(f"{selector} input").first
    field.fill(value)
    field.press("Enter")


def test_admin_previews_launches_follows_and_reattaches_to_a_run(setup, tmp_path):
    page = log_in(setup["browser"], setup["server"], "root", height=1400)
    page.get_by_role("tab", name="Train").click()
    choose(page, "#train-model", str(setup["model"]))
    choose(page, "#train-preset", "smoke")
    page.wait_for_function(
        "document.querySelector('#train-settings').innerText.includes('max_steps: 3')",
        timeout=60_000,
    )
    page.click("#train-preview")
    page.wait_for_selector("#train-command >> text=training.worker", timeout=60_000)
    command = page.locator("#train-command").inner_text()
    assert "jobs/<id>" in command and "method: dpo" in command
    runs = httpx.get(f"{setup['server'].url}/api/v1/runs", auth=("root", USERS["root"][1]))
    assert runs.json()["runs"] == []  # preview wrote nothing

    page.click("#train-launch")
    page.wait_for_selector("#train-status >> text=succeeded", timeout=240_000)
    status = page.locator("#train-status").inner_text()
    assert "Held-out accuracy" in status and "→" in status
    assert "done in" in page.locator("#train-log textarea").input_value()
    assert "succeeded" in page.locator("#train-runs").inner_text()
    screenshot(page, tmp_path, "train")

    page.reload()  # a new page follows the newest run again
    page.wait_for_selector("#whoami >> text=Logged in as", timeout=60_000)
    page.get_by_role("tab", name="Train").click()
    page.wait_for_selector("#train-status >> text=Run 1", timeout=60_000)
    page.close()


def test_annotator_cannot_see_the_train_tab(setup):
    page = log_in(setup["browser"], setup["server"], "ann")
    assert page.get_by_role("tab", name="Train").count() == 0
    page.close()
