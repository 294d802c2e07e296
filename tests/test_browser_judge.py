"""The Judge tab in a real browser (Debian's chromium) against a real server subprocess."""

from __future__ import annotations

import json
from pathlib import Path

from tests.server_helpers import Server, log_in, make_store, needs_chromium, screenshot

pytestmark = needs_chromium

PAIRS = [
    {
        "prompt": f"Question {i}?",
        "responses": [f"A good, full answer {i}.", f"Bad {i}."],
        "scores": [1, 0],
    }
    for i in range(3)
]


def choose(page, elem_id: str, value: str) -> None:
    """Pick a value in a Gradio dropdown by typing it."""
    field = page.locator(f"#{elem_id} input")
    field.click()
    field.fill(value)
    page.keyboard.press("Enter")


def test_admin_runs_a_judge_and_reads_the_report(tmp_path: Path, browser) -> None:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    db_path = tmp_path / "store.duckdb"
    make_store(db_path, [data])
    server = Server(db_path)
    try:
        annotator = log_in(browser, server, "ann")
        assert not annotator.get_by_role("tab", name="Judge").is_visible()
        annotator.close()
        page = log_in(browser, server, "root")
        page.get_by_role("tab", name="Judge").click()
        page.wait_for_selector("#judge-run", state="visible")
        choose(page, "judge-kind", "longer")
        choose(page, "judge-pairs", "all")
        page.click("#judge-run")
        page.wait_for_selector("#judge-summary >> text=judged now", timeout=60_000)
        summary = page.locator("#judge-summary").inner_text()
        assert "longer" in summary and "3 judged now (3 a)" in summary
        report = page.locator("#judge-report").inner_text().split()
        n_failed_ties_agreement = report[report.index("longer") + 1 :][:4]
        assert n_failed_ties_agreement == ["3", "0", "0", "1"]
        screenshot(page, tmp_path, "judge_tab")
        page.close()
    finally:
        server.stop()
