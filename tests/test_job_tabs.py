"""The Judge and Generate tabs' handlers called directly with a real store: the role they
need, domain errors as one line, a job started, followed to its end and cancelled. The tests
call the watcher themselves, as the server's watcher thread would."""

from __future__ import annotations

import threading

import gradio as gr
import pytest

from app.context import AppContext
from app.tabs import generate, judge
from curation import import_paths
from curation.jobs.records import get_job, list_jobs
from curation.jobs.runner import wait_for_job
from curation.judging.judgments import get_suggestions
from curation.store.store import Store
from tests.chat_server import ChatServer, Reply, completion
from tests.conftest import PREFERENCES, table_counts
from tests.server_helpers import add_users
from tests.test_tab_handlers import as_user

ROOT = as_user("root")
FORM = {  # the Generate tab's form: two samples of each prompt from the model m
    "models": ["m"],
    "prompts": "all prompts",
    "prompt_file": None,
    "limit": None,
    "n": 2,
    "temperature": 0.7,
    "top_p": 0.95,
    "max_new_tokens": 16,
    "batch_size": 1,
    "base_url": "",
}


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
    assert set(ended) == {"summary", "followed", *judge.REPORT} and ended["followed"] is None
    assert "show" not in ended  # a switch the user has not saved yet stays as they left it
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


def test_generation_is_for_admins_and_a_bad_form_is_one_line(ctx):
    with pytest.raises(gr.Error, match="needs the admin role"):
        generate.start(ctx, as_user("ann"), FORM)
    with pytest.raises(gr.Error, match="needs the admin role"):
        generate.pair(ctx, as_user("ann"), ["m"], "within", 1)
    with pytest.raises(gr.Error, match="Choose at least one model"):
        generate.start(ctx, ROOT, {**FORM, "models": []})
    with pytest.raises(gr.Error) as raised:
        generate.start(ctx, ROOT, {**FORM, "base_url": "ftp://<server>/v1"})
    assert raised.value.message.startswith("base URL must start with http")
    assert "&lt;server&gt;" in raised.value.message and "\n" not in raised.value.message
    assert generate.follow(ctx, as_user("ann"), 1) is None  # the timer skips annotators
    assert list_jobs(ctx.store) == []


def test_a_generation_job_on_a_server_is_followed_to_its_report_then_paired(ctx):
    with ChatServer() as chat:
        started = generate.start(ctx, ROOT, {**FORM, "base_url": f" {chat.url} "})
        job_id = started["followed"]
        assert "generate job" in started["report"]
        assert wait_for_job(ctx.store, job_id, poll_seconds=0.1).status == "succeeded"
    shown = generate.follow(ctx, ROOT, job_id)["report"]
    assert "succeeded" in shown and "m: 4 new responses" in shown and chat.host in shown
    assert "2 of 2 prompts" in shown
    assert {body["model"] for _, body in chat.requests} == {"m"} and len(chat.requests) == 4
    assert generate.follow(ctx, ROOT, None) == {}
    paired = generate.pair(ctx, ROOT, ["m"], "within", 1)["pair_report"]
    assert "2 new within pairs queued" in paired


def test_cancel_ends_the_followed_generation_job(ctx):
    asked, release = threading.Event(), threading.Event()

    def held(body: dict, call: int) -> Reply:
        asked.set()
        release.wait(timeout=60)  # no answer until the job is cancelled
        return completion(body)

    with ChatServer(held) as chat:
        job_id = generate.start(ctx, ROOT, {**FORM, "base_url": chat.url})["followed"]
        try:
            assert asked.wait(timeout=60)
            shown = generate.cancel(ctx, ROOT, job_id)["report"]
        finally:
            release.set()
    assert "stopped early" in shown and get_job(ctx.store, job_id).status == "cancelled"
    assert table_counts(ctx.store)["responses"] == 4  # the two imported pairs' answers only
    assert generate.cancel(ctx, ROOT, job_id) == {}  # nothing left to cancel
