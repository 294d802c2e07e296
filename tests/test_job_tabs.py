"""The Judge and Generate tabs' handlers called directly with a real store: the role they
need, domain errors as one line, a job started, followed to its end and cancelled. The tests
call the watcher themselves, as the server's watcher thread would."""

from __future__ import annotations

import gradio as gr
import pytest

from app.context import AppContext
from app.tabs import judge
from curation import import_paths
from curation.jobs.records import get_job, list_jobs
from curation.jobs.runner import wait_for_job
from curation.judging.judgments import get_suggestions
from curation.store.store import Store
from tests.conftest import PREFERENCES
from tests.server_helpers import add_users
from tests.test_tab_handlers import as_user

ROOT = as_user("root")


@pytest.fixture
def ctx(store: Store, write_jsonl) -> AppContext:
    """The app's context over a store with two labelled pairs, an annotator and an admin."""
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    add_users(store)
    return AppContext(store)


def judging(ctx: AppContext, kind: str) -> dict:
    """Start a judging job of `kind` over all pairs from the Judge tab."""
    return judge.run(ctx, ROOT, kind, " ", "all", 0, "")


def test_judging_is_for_admins_and_a_bad_judge_is_one_line(ctx):
    with pytest.raises(gr.Error, match="needs the admin role"):
        judge.run(ctx, as_user("ann"), "longer", "", "all", 0, "")
    with pytest.raises(gr.Error) as raised:
        judging(ctx, "<oracle>")
    assert "&lt;oracle&gt;" in raised.value.message and "\n" not in raised.value.message
    assert judge.follow(ctx, as_user("ann"), 1) is None  # the timer skips annotators
    assert list_jobs(ctx.store) == []


def test_a_judging_job_is_followed_to_its_summary_and_the_report(ctx):
    started = judging(ctx, "longer")
    job_id = started["followed"]
    assert "judge job" in started["summary"]
    assert set(judge.follow(ctx, ROOT, job_id)) == {"summary"}  # running: its progress only
    assert wait_for_job(ctx.store, job_id, poll_seconds=0.1).status == "succeeded"
    ended = judge.follow(ctx, ROOT, job_id)
    assert set(ended) == {"summary", "followed", *judge.OVERVIEW} and ended["followed"] is None
    assert "2 judged now" in ended["summary"] and "longer" in list(ended["table"].judge)
    assert judge.follow(ctx, ROOT, None) == {}
    key = get_job(ctx.store, job_id).params["judge_key"]
    assert judge.save_suggestions(ctx, ROOT, True, key) == {}
    assert get_suggestions(ctx.store) == {"enabled": True, "judge_key": key}
    assert judge.prioritize_pairs(ctx, ROOT) == {}


def test_cancel_ends_the_followed_judging_job(ctx):
    first = judging(ctx, "longer")["followed"]
    queued = judging(ctx, "length")["followed"]  # one judging job at a time: this one waits
    assert get_job(ctx.store, queued).status == "queued"
    assert "cancelled" in judge.cancel(ctx, ROOT, queued)["summary"]
    assert get_job(ctx.store, queued).status == "cancelled"
    assert judge.cancel(ctx, ROOT, queued) == {}  # nothing left to cancel
    assert judge.cancel(ctx, ROOT, None) == {}
    with pytest.raises(gr.Error, match="needs the admin role"):
        judge.cancel(ctx, as_user("ann"), first)
    assert wait_for_job(ctx.store, first, poll_seconds=0.1).status == "succeeded"
