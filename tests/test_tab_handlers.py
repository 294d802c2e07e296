"""The UI's handlers called directly with a real store: what they return by output name, the
role each needs, and domain errors as one escaped line; and their wiring as Gradio sees it."""

from __future__ import annotations

import time

import gradio as gr
import pytest
from gradio.helpers import special_args

from app.context import AppContext
from app.tabs import accounts, admin, curate, label
from app.tabs.guidelines import show_guidelines
from app.tabs.handlers import handler
from app.tabs.leaderboard import show_leaderboard
from app.ui import build_ui
from curation import import_paths
from curation.errors import PrefstudioError
from curation.jobs.records import get_job
from curation.jobs.runner import wait_for_job
from curation.labelling.accounts import list_users
from curation.labelling.guidelines import MAX_GUIDELINES, get_guidelines, set_guidelines
from curation.labelling.queue import get_overlap
from curation.snapshots.freeze import list_snapshots
from tests.conftest import PREFERENCES, table_counts
from tests.server_helpers import add_users
from tests.test_curate_tab import FORM as POLICY


@pytest.fixture
def ctx(store) -> AppContext:
    """The app's context over a fresh store with an annotator (ann) and an admin (root)."""
    add_users(store)
    return AppContext(store)


def as_user(name: str | None) -> gr.Request:
    """A Gradio request from `name` (None: nobody logged in)."""
    return gr.Request(username=name)


@handler("admin")
def echo(ctx: AppContext, user: str, text: str, *, suffix: str = "") -> dict:
    """Returns its input, or fails with a domain error naming it."""
    if text.startswith("<"):
        raise PrefstudioError(f"bad value {text}\nsecond line")
    return {"out": f"{user}:{text}{suffix}"}


@handler("admin")
def slow(ctx: AppContext, user: str, rows: list, progress=gr.Progress()) -> dict:  # noqa: B008
    return {"out": len(rows), "other": type(progress).__name__}


@handler("admin")
def selected(ctx: AppContext, user: str, rows: list, event: gr.SelectData) -> dict:
    return {"out": rows[event.index[0]]}


@handler("admin", passive=True)
def on_open(ctx: AppContext, user: str) -> dict:
    return {"out": user}


def test_a_handler_runs_as_the_user_of_the_request(ctx):
    assert echo(ctx, as_user("root"), "hi") == {"out": "root:hi"}
    assert echo(ctx, as_user("root"), "hi", suffix="!") == {"out": "root:hi!"}


@pytest.mark.parametrize(
    ("who", "message"),
    [(None, "Log in first."), ("ann", "This needs the admin role; ann does not have it.")],
)
def test_the_wrong_role_is_refused_with_one_line(ctx, who, message):
    with pytest.raises(gr.Error) as refused:
        echo(ctx, as_user(who), "hi")
    assert refused.value.message == message


def test_a_domain_error_is_one_escaped_line(ctx):
    with pytest.raises(gr.Error) as raised:
        echo(ctx, as_user("root"), "<script>")
    assert raised.value.message == "bad value &lt;script&gt; second line"


def test_a_passive_handler_skips_the_wrong_role(ctx):
    event = on_open.event(ctx, ["out", "more"])
    assert on_open(ctx, as_user("ann")) is None
    assert event(as_user("ann")) == [gr.skip(), gr.skip()]
    assert event(as_user("root")) == ["root", gr.skip()]


def test_gradio_injects_the_request_progress_and_event_data(ctx):
    event = slow.event(ctx, ["out", "other"])
    inputs, progress_at, _, _ = special_args(event, [[1, 2]], request=as_user("root"))
    assert progress_at == 2 and event(*inputs) == [2, "Progress"]

    event = selected.event(ctx, ["out"])
    data = gr.SelectData(None, {"index": [1, 0], "value": "b"})
    inputs, _, data_at, _ = special_args(event, [["a", "b"]], as_user("root"), data)
    assert data_at == 1 and event(*inputs) == "b"


def test_an_output_the_handler_is_not_wired_to_is_a_bug(ctx):
    with pytest.raises(ValueError, match="'out'"):
        echo.event(ctx, ["other"])("hi", as_user("root"))


def test_the_whole_ui_builds_over_the_handlers(ctx):
    build_ui(ctx)
    assert ctx.page_loads


def test_guidelines_panel_shows_only_when_written(ctx):
    shown = show_guidelines(ctx, as_user("ann"))
    assert shown["panel"].visible is False
    set_guidelines(ctx.store, "Prefer <b>short</b> answers.")
    shown = show_guidelines(ctx, as_user("ann"))
    assert shown["panel"].visible is True and "&lt;b&gt;" in shown["text"]


def test_leaderboard_without_games(ctx):
    shown = show_leaderboard(ctx, as_user("root"), False)
    assert shown["summary"].startswith("No games yet") and shown["ratings"] is None
    with pytest.raises(gr.Error, match="admin role"):
        show_leaderboard(ctx, as_user("ann"), False)


CANDIDATES = [{"prompt": f"Question {i}?", "responses": [f"{i} one.", f"{i} two."]} for i in (1, 2)]


@pytest.fixture
def labelling(ctx, write_jsonl) -> AppContext:
    """The context over a store with two pairs to label."""
    import_paths(ctx.store, [write_jsonl("p.jsonl", CANDIDATES)])
    return ctx


def new_session() -> dict:
    return {"started": time.time(), "count": 0}


def test_label_votes_undo_and_the_end_of_the_queue(labelling):
    ann, session = as_user("ann"), new_session()
    first = label.load_pair(labelling, ann, session)
    assert set(first) == {*label.COMPARE, "session"} and first["pair_id"]
    second = label.vote(labelling, ann, first["pair_id"], "clear", "", session, choice="a")
    assert second["pair_id"] not in (None, first["pair_id"]) and session["count"] == 1
    done = label.vote(labelling, ann, second["pair_id"], None, "", session, choice="tie")
    assert done["pair_id"] is None and done["left"] == "*Nothing left to label.*"
    again = label.undo_label(labelling, ann, session)
    assert again["pair_id"] == second["pair_id"] and session["count"] == 1
    assert table_counts(labelling.store)["labels"] == 3  # undo appends, never deletes


def test_label_refuses_a_vote_without_a_pair_and_a_bad_ranking(labelling):
    ann = as_user("ann")
    with pytest.raises(gr.Error, match="No pair is shown"):
        label.vote(labelling, ann, None, None, "", new_session(), choice="a")
    task = {"prompt_id": "p", "responses": [{"response_id": "r1"}, {"response_id": "r2"}]}
    with pytest.raises(gr.Error) as raised:
        label.save_rank(labelling, ann, task, "2,<x>", new_session())
    assert raised.value.message == (
        "Write the response numbers best first, like 2,1,3; got &#x27;2,&lt;x&gt;&#x27;."
    )
    with pytest.raises(gr.Error, match="Rank all 2 responses"):
        label.save_rank(labelling, ann, task, "2", new_session())
    assert table_counts(labelling.store)["labels"] == 0


def test_label_domain_error_on_an_unknown_pair_is_one_line(labelling):
    with pytest.raises(gr.Error) as raised:
        label.vote(labelling, as_user("ann"), "no-such-pair", None, "", new_session(), choice="a")
    assert "\n" not in raised.value.message and "no-such-pair" in raised.value.message


def test_label_modes_show_their_view_and_the_edit_box(labelling):
    ann, session = as_user("ann"), new_session()
    thumbs = label.switch_mode(labelling, ann, "Thumbs", session)
    assert thumbs["thumbs_view"].visible and not thumbs["compare_view"].visible
    assert thumbs["thumb_id"] is not None
    rated = label.thumb(labelling, ann, thumbs["thumb_id"], session, value=True)
    assert rated["thumb_id"] != thumbs["thumb_id"] and session["count"] == 1
    ranked = label.switch_mode(labelling, ann, "Rank", session)
    assert ranked["rank_task"] is None  # no prompt has three responses
    shown = label.load_pair(labelling, ann, session)
    opened = label.open_edit(labelling, ann, shown["side_texts"], "B")
    assert opened["edit_box"].visible and opened["edit_text"] == shown["side_texts"]["B"]
    saved = label.save_edit(labelling, ann, shown["side_ids"], "B", "A better answer.")
    assert saved == {"edit_box": saved["edit_box"], "edit_text": ""}
    assert table_counts(labelling.store)["responses"] == 5


@pytest.fixture
def flagged(ctx, write_jsonl) -> AppContext:
    """The context over a store where one labelled pair has identical responses."""
    records = [
        {"prompt": "Say yes.", "chosen": "Yes.", "rejected": "Yes."},
        {"prompt": "Capital of France?", "chosen": "Paris.", "rejected": "<b>Lyon</b>."},
    ]
    import_paths(ctx.store, [write_jsonl("r.jsonl", records)])
    return ctx


def test_curate_runs_and_shows_the_flagged_pairs(flagged):
    root = as_user("root")
    started = curate.run_curation(flagged, root, 0.8)
    assert "curate job" in started["job_status"]
    assert curate.follow_curation(flagged, root, None) == {}
    wait_for_job(flagged.store, started["followed"])
    shown = curate.follow_curation(flagged, root, started["followed"])
    assert set(shown) == {"job_status", "followed", *curate.OVERVIEW} and shown["followed"] is None
    assert "succeeded" in shown["job_status"] and "pair: exact 0 / 0" in shown["job_status"]
    assert curate.cancel_curation(flagged, root, started["followed"]) == {}  # it has ended
    listed = curate.show_flagged(flagged, root, "identical", 10)
    assert list(listed["flagged"].kind) == ["identical"]
    click = gr.SelectData(None, {"index": [0, 1], "value": "x"})
    texts = curate.show_pair(flagged, root, listed["flagged_state"], click)
    assert texts == {"prompt": "Say yes.", "response_a": "Yes.", "response_b": "Yes."}
    flag_ids = [row["flag_id"] for row in listed["flagged_state"]]
    excluded = curate.exclude_selected(flagged, root, flag_ids, listed["flagged_state"], "dup")
    assert excluded == {"action": "Excluded 1 pairs from snapshots."}
    with pytest.raises(gr.Error, match="Select flags first"):
        curate.dismiss_selected(flagged, root, [], listed["flagged_state"])


def test_curate_is_for_admins(flagged):
    actions = (
        (curate.overview, ()),
        (curate.show_flagged, ("all", 10)),
        (curate.run_curation, (0.8,)),
    )
    for action, inputs in actions:
        with pytest.raises(gr.Error, match="needs the admin role"):
            action(flagged, as_user("ann"), *inputs)


def test_snapshot_form_by_name_previews_and_creates(flagged):
    form = {name: gr.Textbox() for name in [*curate.POLICY_FIELDS, "name"]}
    create = curate.make_snapshot.event(flagged, ["snapshot_out", "snapshots"], form=form)
    values = {form[name]: value for name, value in {**POLICY, "name": " v1 "}.items()}
    out, table = create(values, as_user("root"))
    assert "Created <strong>v1</strong>" in out and list(table.name) == ["v1"]
    preview = curate.preview_counts(flagged, as_user("root"), POLICY)
    assert "| train | 1 |" in preview["snapshot_out"]


def test_a_bad_snapshot_policy_is_one_line_and_creates_nothing(flagged):
    with pytest.raises(gr.Error) as raised:
        curate.make_snapshot(flagged, as_user("root"), {**POLICY, "ties": "<keep>", "name": "v"})
    assert raised.value.message == (
        "policy ties is &#x27;&lt;keep&gt;&#x27;; choose from drop, kto_good"
    )
    assert list_snapshots(flagged.store) == []


def test_admin_imports_as_a_job_followed_to_its_report(ctx, write_jsonl):
    root = as_user("root")
    started = admin.run_import(ctx, root, [str(write_jsonl("prefs.jsonl", PREFERENCES))], "auto")
    job_id = started["import_followed"]
    assert f"import job {job_id}" in started["import_report"]
    assert admin.follow_import(ctx, as_user("ann"), job_id) is None  # the timer skips others
    wait_for_job(ctx.store, job_id, poll_seconds=0.1)
    ended = admin.follow_import(ctx, root, job_id)
    assert set(ended) == {"import_report", "import_followed", *admin.OVERVIEW}
    assert "prefs.jsonl: 2 records as preference" in ended["import_report"]
    assert ended["import_followed"] is None and ended["overlap"] == 1
    assert table_counts(ctx.store)["pairs"] == 2


def test_cancel_ends_the_followed_import_and_stores_nothing(ctx, write_jsonl):
    root = as_user("root")
    first = admin.run_import(ctx, root, [str(write_jsonl("a.jsonl", PREFERENCES))], "auto")
    first = first["import_followed"]
    other = [{"prompt": "Another question", "chosen": "yes", "rejected": "no"}]
    queued = admin.run_import(ctx, root, [str(write_jsonl("b.jsonl", other))], "auto")
    queued = queued["import_followed"]  # one import job at a time: this one waits
    assert get_job(ctx.store, queued).status == "queued"
    with pytest.raises(gr.Error, match="needs the admin role"):
        admin.cancel_import(ctx, as_user("ann"), queued)
    assert "cancelled" in admin.cancel_import(ctx, root, queued)["import_report"]
    assert admin.cancel_import(ctx, root, queued) == {}  # nothing left to cancel
    assert wait_for_job(ctx.store, first, poll_seconds=0.1).status == "succeeded"
    assert get_job(ctx.store, queued).status == "cancelled"
    assert table_counts(ctx.store)["pairs"] == 2  # the first import's alone


def test_a_bad_admin_import_shows_its_one_line_and_stores_nothing(ctx, write_jsonl):
    root = as_user("root")
    bad = write_jsonl("<b>bad.jsonl", [{"prompt": "p", "chosen": 1, "rejected": "r"}])
    job_id = admin.run_import(ctx, root, [str(bad)], "auto")["import_followed"]
    wait_for_job(ctx.store, job_id, poll_seconds=0.1)
    shown = admin.follow_import(ctx, root, job_id)["import_report"]
    assert "failed" in shown and "&lt;b&gt;bad.jsonl, line 1" in shown
    assert 'field "chosen"' in shown.replace("&quot;", '"') and "<b>" not in shown
    assert table_counts(ctx.store)["pairs"] == 0


def test_admin_exports_and_saves_settings(ctx, write_jsonl):
    root = as_user("root")
    import_paths(ctx.store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    exported = admin.run_export(ctx, root, "dpo", "jsonl")
    assert exported["export_file"].endswith(".jsonl")
    assert admin.save_overlap(ctx, root, 2) == {} and get_overlap(ctx.store) == 2
    saved = admin.save_guidelines(ctx, root, "  Be kind.  ")
    assert saved == {"guidelines": "Be kind."}


def test_admin_refusals_change_nothing(ctx):
    with pytest.raises(gr.Error, match="needs the admin role"):
        admin.save_overlap(ctx, as_user("ann"), 3)
    with pytest.raises(gr.Error, match="Choose one or more files"):
        admin.run_import(ctx, as_user("root"), [], "auto")
    with pytest.raises(gr.Error) as raised:
        admin.save_guidelines(ctx, as_user("root"), "x" * (MAX_GUIDELINES + 1))
    assert "\n" not in raised.value.message and "at most" in raised.value.message
    assert get_overlap(ctx.store) == 1 and get_guidelines(ctx.store) == ""


def test_accounts_are_created_changed_and_disabled_by_admins(ctx):
    root = as_user("root")
    made = accounts.create_account(ctx, root, " bob ", "annotator", "bob-password")
    assert made["new_name"] == "" and "bob" in list(made["accounts"].name)
    changed = accounts.change_role(ctx, root, "bob", "admin")
    assert changed["accounts"].set_index("name").role["bob"] == "admin"
    assert accounts.change_password(ctx, root, "bob", "new-password")["password"] == ""
    disabled = accounts.set_disabled(ctx, root, "bob", disabled=True)
    assert disabled["accounts"].set_index("name").disabled["bob"]
    assert ctx.role_of("bob") is None


def test_accounts_refuse_annotators_and_bad_input_in_one_line(ctx):
    with pytest.raises(gr.Error, match="needs the admin role"):
        accounts.create_account(ctx, as_user("ann"), "eve", "admin", "eve-password")
    with pytest.raises(gr.Error, match="Choose an account first"):
        accounts.change_role(ctx, as_user("root"), None, "admin")
    with pytest.raises(gr.Error) as raised:
        accounts.create_account(ctx, as_user("root"), "<eve>", "admin", "eve-password")
    assert "&lt;eve&gt;" in raised.value.message and "\n" not in raised.value.message
    assert sorted(u.name for u in list_users(ctx.store)) == ["ann", "root"]
    assert accounts.list_accounts(ctx, as_user("ann")) is None  # a page load skips annotators
