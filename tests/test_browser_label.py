"""The Label tab in a real browser (Debian's chromium) against a real server subprocess."""

from __future__ import annotations

import base64
import json

import pandas as pd
import pytest

from curation import Store
from curation.labelling.guidelines import set_guidelines
from curation.labelling.queue import set_priorities
from tests.server_helpers import Server, log_in, make_store, needs_chromium, screenshot

pytestmark = needs_chromium
XSS = (
    "Sure.<img src=x onerror=\"window.__pwned=1;document.title='pwned'\">"
    "<script>window.__pwned=2;document.title='pwned'</script>\n\n```python\nprint('code')\n```"
)
GUIDELINES = 'Prefer **honest** answers.<img src=g onerror="window.__pwned=4">'
PAIRS = [
    {
        "prompt": 'Say something <b>bold</b><img src=y onerror="window.__pwned=3">',
        "responses": [XSS, "Something **bold**."],
    },
    *(
        {"prompt": f"Question {i}?", "responses": [f"Good answer {i}.", f"Bad answer {i}."]}
        for i in range(5)
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    data = folder / "pairs.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    db_path = folder / "store.duckdb"
    make_store(db_path, [data])
    with Store(db_path) as store:  # serve the XSS pair first
        xss_pair = store.con.execute(
            "SELECT p.id FROM pairs p JOIN responses r ON r.id IN (p.response_a, p.response_b) "
            "WHERE r.text LIKE 'Sure.%'"
        ).fetchone()[0]
        set_priorities(
            store, pd.DataFrame({"pair_id": [xss_pair], "priority": [9.0], "reason": ["t"]})
        )
        set_guidelines(store, GUIDELINES)
    running = Server(db_path)
    running.db_path = db_path
    yield running
    running.stop()


def press_and_wait(page, key: str, done: int) -> None:
    page.keyboard.press(key)
    page.wait_for_function(
        "n => document.querySelector('#progress').innerText.startsWith(n + ' done')", arg=done
    )


def test_label_by_keyboard_undo_edit_and_no_script_runs(browser, server, tmp_path):
    page = log_in(browser, server, "ann")
    page.wait_for_selector("#progress >> text=assigned")
    page.wait_for_selector("text=Sure.")
    page.wait_for_selector("#prompt >> text=Say something")
    page.get_by_text("Guidelines", exact=True).click()  # closed until opened
    page.wait_for_selector("#guidelines strong >> text=honest")
    page.wait_for_timeout(500)
    assert page.title() != "pwned"
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#response-a code, #response-b code").count() >= 1  # code block renders
    screenshot(page, tmp_path, "label_tab_xss_pair")

    page.locator("body").click(position={"x": 5, "y": 5})
    for done, key in enumerate(["1", "2", "3"], start=1):
        press_and_wait(page, key, done)
    press_and_wait(page, "u", 2)
    page.keyboard.press("e")
    page.wait_for_selector("#edit-text textarea")
    page.fill("#edit-text textarea", "A much better, edited answer.")
    page.click("#edit-save")
    page.wait_for_selector("text=Edit saved")
    screenshot(page, tmp_path, "label_tab")
    page.close()

    server.stop()
    with Store(server.db_path) as store:
        votes = store.con.execute(
            "SELECT choice FROM current_labels WHERE annotator = 'ann' AND rationale IS DISTINCT "
            "FROM 'edited' ORDER BY id"
        ).fetchall()
        retractions = store.con.execute(
            "SELECT count(*) FROM labels WHERE annotator = 'ann' AND choice IS NULL"
        ).fetchone()[0]
        edited = store.con.execute(
            "SELECT count(*) FROM responses WHERE source = 'human-edit' "
            "AND text = 'A much better, edited answer.'"
        ).fetchone()[0]
    assert len(votes) == 2 and retractions == 1 and edited == 1
    assert votes[0][0] in ("a", "b")


def page_request_me(page, server):
    """GET /api/v1/me as ann, through the page's request context."""
    credentials = base64.b64encode(b"ann:ann-password").decode()
    return page.request.get(
        server.url + "/api/v1/me", headers={"Authorization": f"Basic {credentials}"}
    )


def test_annotator_cannot_reach_admin(browser, tmp_path):
    db_path = tmp_path / "store.duckdb"
    data = tmp_path / "p.jsonl"
    data.write_text(json.dumps(PAIRS[1]) + "\n")
    make_store(db_path, [data])
    server = Server(db_path)
    try:
        page = log_in(browser, server, "ann")
        page.wait_for_selector("#progress >> text=assigned")
        assert not page.get_by_role("tab", name="Admin").is_visible()
        assert not page.get_by_text("Guidelines", exact=True).is_visible()  # none written
        assert (
            page.locator("#export-button").count() == 0
            or not page.locator("#export-button").is_visible()
        )
        credentials = base64.b64encode(b"ann:ann-password").decode()
        response = page.request.get(
            server.url + "/api/v1/export?format=dpo",
            headers={"Authorization": f"Basic {credentials}"},
        )
        assert response.status == 403
        page.close()
        admin = log_in(browser, server, "root")
        admin.get_by_role("tab", name="Admin").click()
        admin.wait_for_selector("#export-button", state="visible")
        upload = tmp_path / "more.jsonl"
        upload.write_text(json.dumps({"prompt": "Q?", "chosen": "Yes.", "rejected": "No."}) + "\n")
        admin.set_input_files("#import-files input[type=file]", str(upload))
        admin.click("#import-button")
        admin.wait_for_selector("text=more.jsonl: 1 records as preference")
        admin.wait_for_selector("text=1 prompts, 2 responses, 1 pairs, 1 labels")
        admin.fill("#guidelines-text textarea", "Prefer answers that **explain** why.")
        admin.click("#guidelines-save")
        admin.wait_for_selector("text=saved the guidelines")
        screenshot(admin, tmp_path, "admin_tab")
        admin.click("#account-pick input")
        admin.fill("#account-pick input", "ann")
        admin.keyboard.press("Enter")
        admin.click("#account-disable")
        admin.wait_for_selector("text=ann: disabled")
        me = page_request_me(admin, server)
        assert me.status == 401  # disabled: the API refuses the same password at once
        admin.click("#account-enable")
        admin.wait_for_selector("text=ann: enabled")
        assert page_request_me(admin, server).status == 200
        admin.fill("#account-pick input", "root")
        admin.keyboard.press("Enter")
        admin.click("#account-disable")  # the last admin: refused, and the page says why
        admin.wait_for_selector("text=cannot disable root: it is the last admin who can log in")
        admin.close()
        annotator = log_in(browser, server, "ann")  # a new page shows the new guidelines
        annotator.get_by_text("Guidelines", exact=True).click()
        annotator.wait_for_selector("#guidelines strong >> text=explain")
        annotator.close()
    finally:
        server.stop()
