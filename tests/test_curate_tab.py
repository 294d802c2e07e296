"""The Curate tab: its table, plot and policy builders, the core calls behind them, and the tab
itself in a real browser against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.tabs.curate import (
    agreement_figure,
    agreement_summary,
    counts_markdown,
    flag_count_table,
    flagged_table,
    lengths_figure,
    policy_from,
)
from curation import import_paths
from curation.quality.agreement import annotator_agreement
from curation.quality.curate import curate
from curation.quality.flags import FLAG_KINDS, flagged_pairs
from curation.quality.length_stats import chosen_vs_rejected, response_lengths
from curation.snapshots.freeze import create_snapshot, preview_snapshot
from curation.snapshots.snapshot_policy import PolicyError
from tests.server_helpers import Server, log_in, make_store, needs_chromium

RECORDS = [
    {"prompt": "Say yes.", "chosen": "Yes.", "rejected": "YES."},
    {"prompt": "Capital of France?", "chosen": "Paris, the capital.", "rejected": "Lyon."},
    {"prompt": "<b>Bold</b>?", "chosen": "<img src=x onerror=alert(1)>", "rejected": "No."},
]
FORM = {
    "agreement": "majority",
    "min_votes": 1,
    "ties": "drop",
    "both_bad": "drop",
    "exclude_flags": ["identical"],
    "test_fraction": 0.0,
    "judge_key": " ",
    "judge_min_confidence": 0.8,
}


@pytest.fixture
def curated(store, write_jsonl):
    import_paths(store, [write_jsonl("r.jsonl", RECORDS)])
    curate(store)
    return store


def test_flag_tables_list_every_kind_and_the_flagged_pairs(curated):
    table = flag_count_table({"identical": 1})
    assert list(table.kind) == list(FLAG_KINDS) and table.set_index("kind").pairs["identical"] == 1
    rows = flagged_table(flagged_pairs(curated))
    assert list(rows.kind) == ["identical"] and rows.prompt[0] == "Say yes."


def test_length_tables_and_plots(curated):
    lengths = response_lengths(curated)
    assert sorted(lengths.role.unique()) == ["chosen", "rejected"] and len(lengths) == 6
    pairs = chosen_vs_rejected(curated)
    assert len(pairs) == 3 and (pairs.chosen >= pairs.rejected).sum() == 3
    assert lengths_figure(lengths).axes[0].get_xlabel() == "characters"


def test_agreement_plot_and_summary(curated):
    report = annotator_agreement(curated)
    assert "Fleiss' kappa" in agreement_summary(report)
    assert agreement_figure(report).axes  # a heat map even with a single annotator


def test_preview_matches_the_snapshot_it_announces(curated):
    policy = policy_from(FORM)
    assert policy.judge_key is None and policy.exclude_flags == ("identical",)
    preview = preview_snapshot(curated, policy)
    assert preview == create_snapshot(curated, "v1", policy).counts
    assert preview["train"]["dpo"] == 2 and preview["pairs"]["excluded_by_flags"] == 1
    assert "| train | 2 |" in counts_markdown(preview)
    with pytest.raises(PolicyError):
        policy_from({**FORM, "test_fraction": 2})


def wait_for_text(page, selector: str, text: str) -> None:
    """Wait until the element's visible text contains `text`."""
    page.wait_for_function(
        "([s, t]) => (document.querySelector(s)?.innerText || '').includes(t)", arg=[selector, text]
    )


@pytest.fixture
def served(tmp_path: Path):
    """A real `prefstudio serve` over a store holding RECORDS and the test accounts."""
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    make_store(tmp_path / "store.duckdb", [tmp_path / "pairs.jsonl"])
    server = Server(tmp_path / "store.duckdb")
    yield server
    server.stop()


@needs_chromium
def test_admin_curates_browses_excludes_and_snapshots_in_the_browser(served, browser) -> None:
    annotator = log_in(browser, served, "ann")
    assert not annotator.get_by_role("tab", name="Curate").is_visible()
    page = log_in(browser, served, "root")
    page.get_by_role("tab", name="Curate").click()
    page.click("#curate-run")
    page.wait_for_selector("#curate-job_status >> text=succeeded", timeout=60_000)
    wait_for_text(page, "#curate-job_status", "prompt: exact 0 / 0")
    page.click("#curate-browse")
    wait_for_text(page, "#curate-flagged", "identical")
    page.locator("#curate-flagged [role=gridcell]:visible", has_text="Say yes.").click()
    page.wait_for_function("() => document.querySelector('#curate-a textarea').value.length > 0")
    page.locator("#curate-selected label").first.click()
    page.click("#curate-exclude")
    page.wait_for_selector("#curate-action >> text=Excluded 1 pairs")
    page.fill("#snapshot-name textarea, #snapshot-name input", "from-ui")
    page.click("#snapshot-preview")
    page.wait_for_selector("#snapshot-out >> text=Pairs:")
    page.click("#snapshot-create")
    page.wait_for_selector("#snapshot-out >> text=Created")
    wait_for_text(page, "#snapshot-list", "from-ui")
