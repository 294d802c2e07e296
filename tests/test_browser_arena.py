"""The Leaderboard and Generate tabs in a real browser (Debian's chromium) against a real server."""

from __future__ import annotations

import pytest

from curation import Store
from tests.arena_helpers import arena_store, vote
from tests.server_helpers import Server, add_users, log_in, needs_chromium, screenshot

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("arena")
    db_path = folder / "store.duckdb"
    with Store(db_path) as store:
        pair_ids = arena_store(store, folder, unpaired=2)
        for pair_id in pair_ids[:3]:
            vote(store, pair_id, "alice", "good")
        for pair_id in pair_ids[3:]:
            vote(store, pair_id, "alice", "reference")
        add_users(store)
    running = Server(db_path)
    yield running
    running.stop()


def set_number(page, selector: str, value: str) -> None:
    """Type `value` into a slider's or a number's box, again until the component holds it (a
    slider's handle moves too): a tab just opened may still be setting its first values."""
    from playwright.sync_api import expect

    box = page.locator(f"{selector} input[type=number]").first
    held = page.locator(f"{selector} input").last  # a slider's range, else the box itself
    for _ in range(3):
        box.fill(value)
        box.press("Enter")
        try:
            expect(held).to_have_value(value, timeout=10_000)
            return
        except AssertionError:
            continue
    expect(held).to_have_value(value)


def test_admin_sees_the_leaderboard_with_intervals_and_plots(browser, server, tmp_path):
    page = log_in(browser, server, "root", height=1200)
    page.get_by_role("tab", name="Leaderboard").click()
    page.click("#leaderboard-refresh")
    page.wait_for_selector("#leaderboard-summary >> text=6 games between 3 models", timeout=60_000)
    table = page.locator("#leaderboard-table").inner_text()
    assert table.index("reference") < table.index("bad") and table.index("good") < table.index(
        "bad"
    )
    assert "LC win rate" in table
    for plot in ("#leaderboard-ratings", "#leaderboard-matrix"):
        page.wait_for_selector(f"{plot} img", timeout=30_000)
    screenshot(page, tmp_path, "leaderboard")
    page.close()


def test_admin_generates_with_the_embedded_model_and_pairs_two_models(browser, server, tmp_path):
    page = log_in(browser, server, "root", height=1200)
    page.get_by_role("tab", name="Generate").click()
    set_number(page, "#generate-n", "1")
    set_number(page, "#generate-temp", "0")
    set_number(page, "#generate-max", "4")
    page.get_by_label("At most this many prompts per model").fill("2")
    page.click("#generate-start")
    page.wait_for_selector("#generate-report >> text=new responses", timeout=180_000)
    assert "smollm2-135m: 2 new responses" in page.locator("#generate-report").inner_text()

    models = page.locator("#pair-models input")
    for name in ("good", "bad"):
        models.fill(name)
        models.press("Enter")
    page.click("#pair-start")
    page.wait_for_selector("#pair-report >> text=queued", timeout=60_000)
    assert "2 new across pairs" in page.locator("#pair-report").inner_text()
    screenshot(page, tmp_path, "generate")
    page.close()


def test_annotators_do_not_see_the_arena_tabs(browser, server):
    page = log_in(browser, server, "ann")
    page.wait_for_timeout(1000)
    assert not page.get_by_role("tab", name="Leaderboard").is_visible()
    assert not page.get_by_role("tab", name="Generate").is_visible()
    page.close()
