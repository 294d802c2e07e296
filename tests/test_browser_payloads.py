"""A payload corpus in every field the UI shows, opened tab by tab in one real browser session:
no script runs, no style, image or link from data reaches the page, the browser asks no other
host for anything, and plots draw names with `$` in them."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest

from curation import Store, import_paths
from curation.arena.candidates import GeneratedResponse, add_generated_responses, prompts_from_file
from curation.arena.pairing import pair_responses
from curation.judging.judgments import register_judge, save_judgments, set_suggestions
from curation.labelling.guidelines import set_guidelines
from curation.labelling.queue import set_priorities
from curation.quality.flags import exclude_pairs
from tests.arena_helpers import vote
from tests.server_helpers import Server, add_users, log_in, needs_chromium

pytestmark = needs_chromium

EVIL = "evil.example"  # every address in the corpus; the browser must never ask it for anything
PAYLOADS = [
    "<script>window.__pwned='script'</script>",
    "<img src=x onerror=\"window.__pwned='img'\">",
    '<div style="position:fixed;inset:0;z-index:9999;background:red;--payload:1">Expired</div>',
    "<style>body{--pwned:1}</style>",
    f"![tracker](http://{EVIL}/pixel.png)",
    f'<a href="http://{EVIL}/login">log in again</a>',
    f"[log in](http://{EVIL}/login) <http://{EVIL}/auto>",
    "[click](javascript:window.__pwned='js')",
    "<svg onload=\"window.__pwned='svg'\"></svg>",
    "$x$ and $$\\frac{1}{2}$$",
]
CORPUS = " ".join(PAYLOADS)
MODELS = [
    "$x$ <img src=x onerror=\"window.__pwned='model'\">",
    'cost $5 and $6 <b style="--payload:1">B</b>',
    f"$\\frac{{$ [m](http://{EVIL}/m)",
]
JUDGE = f"judge $p$ <script>window.__pwned='judge'</script> ![j](http://{EVIL}/j.png)"
SOURCE = "$src$ <i>source</i>"
QUESTIONS = [f"Question {i}?" for i in range(3)]
# Checked in the page once every tab has been opened.
PAGE_CHECKS = """() => ({
  pwned: window.__pwned ?? null,
  styled: document.querySelectorAll('[style*="payload"]').length,
  style_sheet: getComputedStyle(document.body).getPropertyValue('--pwned').trim(),
  anchors: [...document.querySelectorAll('a')]
    .map(a => a.getAttribute('href') || '')
    .filter(href => href.includes('evil.example') || /^\\s*javascript:/i.test(href)),
  images: [...document.querySelectorAll('img, svg image')]
    .map(i => i.getAttribute('src') || i.getAttribute('href') || '')
    .filter(src => src === 'x' || src.includes('evil.example')),
  svgs_with_handlers: document.querySelectorAll('svg[onload]').length,
})"""


def seed(store: Store, folder: Path) -> None:
    """Accounts, and the corpus in a prompt, responses, model names, a judge's label and
    verdict, guidelines, an import source (an annotator's name) and an exclusion reason."""
    add_users(store)
    prompts = folder / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in [*QUESTIONS, CORPUS]))
    ids = prompts_from_file(store, prompts)
    questions, corpus_prompt = ids[:3], ids[3]
    add_generated_responses(
        store,
        [GeneratedResponse(p.id, f"A careful answer. {CORPUS}", MODELS[0]) for p in questions]
        + [GeneratedResponse(p.id, f"No. {CORPUS}", MODELS[1]) for p in questions],
    )
    games = pair_responses(store, "across", MODELS[:2]).pair_ids
    for pair_id in games:
        vote(store, pair_id, "alice", MODELS[0])
    add_generated_responses(
        store, [GeneratedResponse(corpus_prompt.id, f"{m}: {CORPUS}", m) for m in MODELS]
    )
    shown = pair_responses(store, "across", MODELS[:2]).pair_ids
    set_priorities(store, pd.DataFrame({"pair_id": shown, "priority": 9.0, "reason": "corpus"}))
    register_judge(store, "corpus-judge", {"name": "llm", "model": JUDGE}, JUDGE, False)
    raw = json.dumps({"text": CORPUS})
    verdicts = pd.DataFrame(
        {"pair_id": shown, "p_a": 0.8, "choice": "a", "consistent": True, "raw": raw}
    )
    save_judgments(store, "corpus-judge", verdicts)
    set_suggestions(store, True, "corpus-judge")
    set_guidelines(store, f"Guidelines: {CORPUS}")
    preferences = folder / "preferences.jsonl"
    rows = [{"prompt": q, "chosen": f"Yes. {CORPUS}", "rejected": "No."} for q in QUESTIONS]
    preferences.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_paths(store, [preferences], source=SOURCE)
    exclude_pairs(store, games[:1], by="root", reason=f"reason: {CORPUS}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("payloads")
    db_path = folder / "store.duckdb"
    with Store(db_path) as store:
        seed(store, folder)
    running = Server(db_path)
    yield running
    running.stop()


def open_tab(page, name: str, ready: str) -> None:
    page.get_by_role("tab", name=name).click()
    page.wait_for_selector(ready, state="visible", timeout=60_000)


def wait_for_text(page, selector: str, text: str) -> str:
    """The inner text of `selector` once it contains `text`."""
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)",
        arg=[selector, text],
        timeout=60_000,
    )
    return page.locator(selector).inner_text()


def assert_nothing_from_data_acts(page, hosts: list[str]) -> None:
    """No script ran, and no style, image or link from data is in the page; the page asked
    no host but the server for anything."""
    assert page.evaluate(PAGE_CHECKS) == {
        "pwned": None,
        "styled": 0,
        "style_sheet": "",
        "anchors": [],
        "images": [],
        "svgs_with_handlers": 0,
    }
    others = sorted(set(hosts) - {"127.0.0.1"})
    assert others == [], f"the page asked other hosts: {others}"


def test_payloads_show_as_text_in_every_tab(browser, server, tmp_path):
    page = log_in(browser, server, "root", height=1400)
    hosts: list[str] = []
    page.on("request", lambda request: hosts.append(urlsplit(request.url).hostname or ""))
    page.reload()  # everything the page asks for from here on is seen
    page.wait_for_selector("#whoami >> text=Logged in as", timeout=60_000)

    # Label tab: prompt, both responses, the judge's suggestion, guidelines; thumbs; rank.
    wait_for_text(page, "#response-b", "Expired")  # shown however markup is handled
    assert_nothing_from_data_acts(page, hosts)
    sides = page.locator("#response-a").inner_text() + page.locator("#response-b").inner_text()
    for payload in PAYLOADS:
        assert payload in sides.replace("\n", "") or "](" in payload  # raw HTML shows as written
    assert f"[image: tracker] (http://{EVIL}/pixel.png)" in sides
    assert f"log in (http://{EVIL}/login)" in sides
    wait_for_text(page, "#prompt", "window.__pwned='img'")
    assert "judge $p$ <script>" in wait_for_text(page, "#suggestion", "Suggestion from judge")
    page.get_by_text("Guidelines", exact=True).click()
    wait_for_text(page, "#guidelines", "<svg onload=")
    page.locator("#mode").get_by_text("Thumbs").click()
    wait_for_text(page, "#thumb-text", "<style>body")
    page.locator("#mode").get_by_text("Rank").click()
    assert "Response 3" in wait_for_text(page, "#rank-list", "$$\\frac{1}{2}$$")
    assert_nothing_from_data_acts(page, hosts)

    # Admin tab: an upload whose field names are markup; the failed import job's line shows
    # them as text.
    upload = tmp_path / "fields.jsonl"
    upload.write_text(json.dumps({PAYLOADS[5]: 1, PAYLOADS[2]: 2}) + "\n")
    open_tab(page, "Admin", "#import-button")
    page.set_input_files("#import-files input[type=file]", str(upload))
    page.click("#import-button")
    failed = wait_for_text(page, "#import-report", "cannot tell the format")
    assert_nothing_from_data_acts(page, hosts)
    assert PAYLOADS[5] in failed

    # Leaderboard: names with `$` in the table and on both plots' axes.
    open_tab(page, "Leaderboard", "#leaderboard-refresh")
    page.click("#leaderboard-refresh")
    wait_for_text(page, "#leaderboard-summary", "3 games between 2 models")
    for plot in ("#leaderboard-ratings", "#leaderboard-matrix"):
        page.wait_for_selector(f"{plot} img", timeout=60_000)
    assert MODELS[0] in page.locator("#leaderboard-table").inner_text()

    # Judge tab: the judge's label in the report; Curate: names, flags and exclusion reasons.
    open_tab(page, "Judge", "#judge-run")
    wait_for_text(page, "#judge-report", "judge $p$ <script>")
    open_tab(page, "Curate", "#curate-browse")
    page.click("#curate-refresh")
    assert f"import:{SOURCE}" in wait_for_text(page, "#curate-agreement", "import:")
    page.click("#curate-browse")
    wait_for_text(page, "#curate-flagged", "reason: <script>")
    wait_for_text(page, "#curate-selected", "excluded by root")
    open_tab(page, "Generate", "#generate-start")
    open_tab(page, "Train", "#train-status")
    page.screenshot(path=str(tmp_path / "payloads.png"), full_page=True)
    assert_nothing_from_data_acts(page, hosts)
    page.close()
