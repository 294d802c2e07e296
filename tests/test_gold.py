"""Gold pairs: marking them, mixing them into queues, scoring annotators, and the snapshot rule."""

from __future__ import annotations

import json

import gradio as gr
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.context import AppContext
from app.server import create_app
from app.tabs import admin, gold_panel
from curation import Store, import_paths
from curation.labelling.accounts import add_user
from curation.labelling.gold import (
    GOLD_ANSWERS,
    GoldError,
    GoldPairNotFound,
    add_gold,
    list_gold,
    mark_imported_gold,
    remove_gold,
    set_gold_every,
)
from curation.labelling.gold_mix import get_gold_every
from curation.labelling.gold_scores import gold_scores
from curation.labelling.queue import next_pair_for, set_overlap
from curation.labelling.queue_reads import ServedPair
from curation.labelling.votes import record_label, undo_last
from curation.snapshots.freeze import create_snapshot, preview_snapshot
from curation.snapshots.snapshot_policy import PolicyError, SnapshotPolicy
from curation.stats import store_stats
from tests.conftest import assert_one_error_line
from tests.server_helpers import Server, add_users, log_in, needs_chromium, screenshot

CANDIDATES = [
    {"prompt": f"Question {i}?", "responses": [f"Answer {i} one.", f"Answer {i} two."]}
    for i in range(30)
]
GOLD_FILE = [
    {"prompt": f"Known question {i}?", "chosen": f"Right {i}.", "rejected": f"Wrong {i}."}
    for i in range(3)
]
SWAP = {"a": "b", "b": "a", "tie": "tie", "both_bad": "both_bad", "skip": "skip"}


def pair_ids(store: Store, prompt_like: str) -> list[str]:
    """Ids of the pairs whose prompt text matches `prompt_like`, by id."""
    return [
        pair_id
        for (pair_id,) in store.con.execute(
            "SELECT p.id FROM pairs p JOIN prompts q ON q.id = p.prompt_id "
            "WHERE q.messages::VARCHAR LIKE ? ORDER BY p.id",
            [f"%{prompt_like}%"],
        ).fetchall()
    ]


@pytest.fixture
def candidates(store, write_jsonl) -> list[str]:
    """30 unlabelled pairs in the store; their ids."""
    import_paths(store, [write_jsonl("cands.jsonl", CANDIDATES)])
    return pair_ids(store, "Question")


@pytest.fixture
def gold_ids(store, candidates, write_jsonl) -> dict[str, str]:
    """Three gold pairs imported from a labelled file (chosen is the answer): id -> answer."""
    report = import_paths(store, [write_jsonl("gold.jsonl", GOLD_FILE)], list_prompts=True)
    assert mark_imported_gold(store, report) == 3
    return {g.pair_id: g.answer for g in list_gold(store)}


def shown_choice(pair: ServedPair, stored: str) -> str:
    """The vote, on the sides as shown, that stores the choice `stored`."""
    return stored if pair.shown_order == "ab" else SWAP[stored]


def label_stream(store: Store, annotator: str, answer_gold=None, normal: str = "a") -> list[str]:
    """Label everything the queue gives `annotator`: the stored choice `normal`, or on gold
    pairs `answer_gold(pair, answer)` when given; the pair ids in the order served."""
    gold = {g.pair_id: g.answer for g in list_gold(store)}
    served = []
    while (pair := next_pair_for(store, annotator)) is not None:
        served.append(pair.pair_id)
        if pair.pair_id in gold and answer_gold is not None:
            choice = answer_gold(pair, gold[pair.pair_id])
        else:
            choice = shown_choice(pair, normal)
        record_label(store, annotator, pair.pair_id, choice)
    return served


# Marking -----------------------------------------------------------------------------------


def test_pairs_are_marked_listed_and_unmarked(store, candidates):
    first, second = candidates[:2]
    marked = add_gold(store, first, "a", "root")
    assert (marked.pair_id, marked.answer, marked.marked_by) == (first, "a", "root")
    add_gold(store, second, "both_bad", "root")
    add_gold(store, first, "tie", "root")  # marking again replaces the answer
    assert sorted((g.pair_id, g.answer) for g in list_gold(store)) == sorted(
        [(first, "tie"), (second, "both_bad")]
    )
    assert remove_gold(store, first).answer == "tie"
    assert [g.pair_id for g in list_gold(store)] == [second]


def test_unknown_pairs_and_bad_answers_are_refused_and_change_nothing(store, candidates):
    add_gold(store, candidates[0], "a", "root")
    before = list_gold(store)
    with pytest.raises(GoldPairNotFound, match="no pair 'nope' in the store"):
        add_gold(store, "nope", "a", "root")
    with pytest.raises(GoldPairNotFound, match="is not a gold pair"):
        remove_gold(store, candidates[1])
    with pytest.raises(GoldError, match="answer 'left' is not valid; choose from a, b, tie"):
        add_gold(store, candidates[1], "left", "root")
    for every in (-1, 1001, 2.5, True):
        with pytest.raises(GoldError, match="whole number from 0"):
            set_gold_every(store, every)
    assert list_gold(store) == before


def test_import_marks_the_labelled_pairs_with_the_chosen_answer(store, gold_ids, write_jsonl):
    assert len(gold_ids) == 3
    for pair_id, answer in gold_ids.items():
        chosen = store.con.execute(
            "SELECT CASE ? WHEN 'a' THEN p.response_a ELSE p.response_b END FROM pairs p "
            "WHERE p.id = ?",
            [answer, pair_id],
        ).fetchone()[0]
        text = store.con.execute("SELECT text FROM responses WHERE id = ?", [chosen]).fetchone()
        assert text[0].startswith("Right")
    assert {g.marked_by for g in list_gold(store)} == {"import:gold"}
    # importing again matches the same pairs; an unlabelled file marks nothing
    again = import_paths(store, [write_jsonl("gold.jsonl", GOLD_FILE)], list_prompts=True)
    assert mark_imported_gold(store, again) == 3 and len(list_gold(store)) == 3
    plain = import_paths(
        store, [write_jsonl("more.jsonl", CANDIDATES[:2])], source="more", list_prompts=True
    )
    assert mark_imported_gold(store, plain) == 0


# Serving ------------------------------------------------------------------------------------


def test_gold_is_served_at_the_set_rate_once_per_annotator(store, gold_ids):
    set_gold_every(store, 5)
    set_overlap(store, 2)
    for annotator in ("ann", "bob"):
        served = label_stream(store, annotator)
        gold_at = [n for n, pair_id in enumerate(served, 1) if pair_id in gold_ids]
        assert gold_at == [5, 10, 15]  # every fifth pair while gold remains, each once
        assert len(served) == 33 and len(set(served)) == 33


def test_gold_pairs_stay_out_of_the_normal_order(store, candidates):
    gold = candidates[:10]  # unlabelled pairs marked gold: open to the queue but for gold
    for pair_id in gold:
        add_gold(store, pair_id, "a", "root")
    set_gold_every(store, 0)  # no gold served at all
    served = label_stream(store, "ann")
    assert sorted(served) == sorted(candidates[10:])
    remove_gold(store, gold[0])  # an unmarked pair goes back to the normal order
    assert label_stream(store, "bob") == [gold[0]]


def test_a_gold_pair_looks_like_any_other(store, gold_ids):
    set_gold_every(store, 2)
    shown = {}
    for _ in range(4):
        pair = next_pair_for(store, "ann")
        shown[pair.pair_id in gold_ids] = pair.public()
        record_label(store, "ann", pair.pair_id, "a")
    normal, gold = shown[False], shown[True]
    assert set(normal) == set(gold) == {"pair_id", "prompt", "a", "b"}
    assert {k: type(v) for k, v in normal.items()} == {k: type(v) for k, v in gold.items()}
    assert "gold" not in json.dumps(gold).lower()


def test_a_gold_pair_stays_shown_until_labelled_and_comes_back_after_undo(store, gold_ids):
    set_gold_every(store, 1)
    pair = next_pair_for(store, "ann")
    assert pair.pair_id in gold_ids
    assert next_pair_for(store, "ann").pair_id == pair.pair_id
    record_label(store, "ann", pair.pair_id, "a")
    assert undo_last(store, "ann").pair_id == pair.pair_id
    assert next_pair_for(store, "ann").pair_id == pair.pair_id
    record_label(store, "ann", pair.pair_id, "b")
    assert next_pair_for(store, "ann").pair_id != pair.pair_id


def test_gold_seen_before_a_restart_is_not_served_again(db_path, write_jsonl):
    with Store(db_path) as store:
        import_paths(store, [write_jsonl("cands.jsonl", CANDIDATES)])
        report = import_paths(store, [write_jsonl("gold.jsonl", GOLD_FILE)], list_prompts=True)
        mark_imported_gold(store, report)
        set_gold_every(store, 3)
        first = label_stream_until(store, "ann", 6)
    with Store(db_path) as store:
        gold = {g.pair_id for g in list_gold(store)}
        rest = label_stream(store, "ann")
        assert [p for p in first if p in gold] == [first[2], first[5]]
        assert [n for n, p in enumerate(first + rest, 1) if p in gold] == [3, 6, 9]


def label_stream_until(store: Store, annotator: str, count: int) -> list[str]:
    """Label the first `count` pairs the queue gives `annotator`; their ids."""
    served = []
    for _ in range(count):
        pair = next_pair_for(store, annotator)
        served.append(pair.pair_id)
        record_label(store, annotator, pair.pair_id, "a")
    return served


# Scoring and snapshots ---------------------------------------------------------------------


def answer_right(pair: ServedPair, answer: str) -> str:
    return shown_choice(pair, answer)


def answer_wrong(pair: ServedPair, answer: str) -> str:
    return shown_choice(pair, "both_bad" if answer != "both_bad" else "a")


@pytest.fixture
def scored(store, gold_ids) -> Store:
    """ann answers all three gold pairs right and votes a on the other pairs; bob answers one
    gold pair of three right and votes b; cy skips everything."""
    set_gold_every(store, 2)
    set_overlap(store, 3)
    label_stream(store, "ann", answer_right, normal="a")
    wrong_first = iter([answer_wrong, answer_wrong, answer_right])
    label_stream(store, "bob", lambda pair, answer: next(wrong_first)(pair, answer), normal="b")
    label_stream(store, "cy", lambda pair, answer: "skip", normal="skip")
    return store


def test_accuracy_per_annotator(scored):
    scores = {s.annotator: s for s in gold_scores(scored)}
    assert set(scores) == {"ann", "bob"}  # skips are no answers; imports are not scored
    assert (scores["ann"].answered, scores["ann"].correct, scores["ann"].accuracy) == (3, 3, 1.0)
    assert (scores["bob"].answered, scores["bob"].correct) == (3, 1)
    assert scores["bob"].accuracy == pytest.approx(1 / 3)
    gold = store_stats(scored, with_agreement=True)["gold"]
    assert gold["pairs"] == 3 and gold["every"] == 2
    assert gold["annotators"]["bob"] == {"answered": 3, "correct": 1, "accuracy": 1 / 3}


def test_the_snapshot_rule_leaves_out_labels_of_low_accuracy_annotators(scored):
    bob_votes = scored.con.execute(
        "SELECT count(*) FROM current_labels WHERE annotator = 'bob' AND choice <> 'skip'"
    ).fetchone()[0]
    everyone = preview_snapshot(scored, SnapshotPolicy(test_fraction=0.0))
    strict = SnapshotPolicy(test_fraction=0.0, min_gold_accuracy=0.7)
    info = create_snapshot(scored, "strict", strict)
    assert everyone["left_out_by_gold"] == {"annotators": [], "labels": 0}
    assert info.counts["left_out_by_gold"] == {"annotators": ["bob"], "labels": bob_votes}
    # ann and bob split the 30 normal pairs; without bob, ann's votes decide them
    assert info.counts["train"]["dpo"] == everyone["train"]["dpo"] + 30
    assert info.counts["pairs"]["undecided"] == everyone["pairs"]["undecided"] - 30
    lenient = SnapshotPolicy(test_fraction=0.0, min_gold_accuracy=0.7, min_gold_answers=4)
    assert preview_snapshot(scored, lenient)["left_out_by_gold"]["labels"] == 0
    assert SnapshotPolicy.from_dict(strict.to_dict()) == strict


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"min_gold_accuracy": 1.5}, "policy min_gold_accuracy must be in [0.0, 1.0]"),
        ({"min_gold_accuracy": "high"}, "policy min_gold_accuracy must be in"),
        ({"min_gold_answers": 0}, "policy min_gold_answers must be a whole number >= 1"),
    ],
)
def test_bad_gold_policy_values_are_refused(setting, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[")):
        SnapshotPolicy.from_dict(setting)


# CLI -----------------------------------------------------------------------------------------


def cli(db_path, *args: str):
    return CliRunner().invoke(main, [*args, "--db", str(db_path)])


def test_cli_marks_lists_rates_scores_and_removes(db_path, write_jsonl):
    cands = write_jsonl("cands.jsonl", CANDIDATES[:3])
    assert cli(db_path, "import", str(cands)).exit_code == 0
    imported = cli(db_path, "import", str(write_jsonl("g.jsonl", GOLD_FILE)), "--gold", "--json")
    assert json.loads(imported.stdout)["gold"] == 3
    with Store(db_path) as store:
        pair_id = pair_ids(store, "Question 1")[0]
    added = json.loads(cli(db_path, "gold", "add", pair_id, "--answer", "tie", "--json").stdout)
    assert (added["pair_id"], added["answer"], added["marked_by"]) == (pair_id, "tie", "cli")
    listed = json.loads(cli(db_path, "gold", "list", "--json").stdout)
    assert listed["every"] == 10 and len(listed["gold"]) == 4
    assert cli(db_path, "gold", "rate", "4").stdout == "one pair in every 4 served is gold\n"
    assert json.loads(cli(db_path, "gold", "rate", "--json").stdout) == {"every": 4}
    assert cli(db_path, "gold", "remove", pair_id).stdout == f"{pair_id}: no longer gold\n"
    assert len(json.loads(cli(db_path, "gold", "list", "--json").stdout)["gold"]) == 3
    assert json.loads(cli(db_path, "gold", "accuracy", "--json").stdout) == {"annotators": []}
    stats = json.loads(cli(db_path, "stats", "--json").stdout)
    assert stats["gold"] == {"pairs": 3, "every": 4, "annotators": {}}


def test_cli_errors_are_one_line(db_path, write_jsonl):
    cli(db_path, "import", str(write_jsonl("cands.jsonl", CANDIDATES[:1])))
    for args, message in [
        (("gold", "add", "nope", "--answer", "a"), "error: no pair 'nope' in the store"),
        (("gold", "remove", "nope"), "error: pair 'nope' is not a gold pair"),
        (("gold", "rate", "5000"), "error: the gold rate must be a whole number from 0"),
    ]:
        result = cli(db_path, *args)
        assert result.exit_code == 1
        assert assert_one_error_line(result.stderr).startswith(message)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(answer=st.text(min_size=1, max_size=12).filter(lambda a: a not in GOLD_ANSWERS))
def test_cli_bad_answers_are_one_error_line_and_change_nothing(tmp_path, answer):
    db_path = tmp_path / "answers.duckdb"
    with Store(db_path) as store:
        if not store.con.execute("SELECT count(*) FROM pairs").fetchone()[0]:
            store.con.execute(
                "INSERT INTO pairs (id, prompt_id, response_a, response_b, origin) "
                "VALUES ('p1', 'q', 'ra', 'rb', 'test')"
            )
    result = cli(db_path, "gold", "add", "p1", "--answer", answer)
    assert result.exit_code == 1
    line = assert_one_error_line(result.stderr)
    assert line.startswith("error: answer ") and "choose from a, b, tie, both_bad" in line
    with Store(db_path) as store:
        assert list_gold(store) == []


# API -----------------------------------------------------------------------------------------

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


@pytest.fixture
def client(store, gold_ids):
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as test_client:
        yield test_client


def test_api_admin_routes(client, store, gold_ids, candidates):
    listed = client.get("/api/v1/gold", auth=ADMIN).json()
    assert listed["every"] == 10 and {g["pair_id"] for g in listed["gold"]} == set(gold_ids)
    posted = client.post("/api/v1/gold", auth=ADMIN, json={"pair_id": candidates[0], "answer": "b"})
    assert posted.status_code == 200 and posted.json()["marked_by"] == "root"
    assert client.put("/api/v1/gold/rate", auth=ADMIN, json={"every": 3}).json() == {"every": 3}
    deleted = client.delete(f"/api/v1/gold/{candidates[0]}", auth=ADMIN)
    assert deleted.status_code == 200 and deleted.json()["answer"] == "b"
    assert client.get("/api/v1/gold/accuracy", auth=ADMIN).json() == {"annotators": []}
    for method, path, body in [
        ("get", "/api/v1/gold", None),
        ("post", "/api/v1/gold", {"pair_id": candidates[0], "answer": "a"}),
        ("delete", f"/api/v1/gold/{candidates[1]}", None),
        ("put", "/api/v1/gold/rate", {"every": 1}),
        ("get", "/api/v1/gold/accuracy", None),
    ]:
        kwargs = {"json": body} if body else {}
        assert client.request(method, path, auth=ANN, **kwargs).status_code == 403
    assert len(list_gold(store)) == 3


def test_api_refusals_are_one_line(client, store, candidates):
    before = list_gold(store)
    for method, path, body, status, message in [
        ("post", "/api/v1/gold", {"pair_id": "nope", "answer": "a"}, 404, "no pair 'nope'"),
        ("post", "/api/v1/gold", {"pair_id": candidates[0], "answer": "x"}, 400, "answer 'x'"),
        ("delete", f"/api/v1/gold/{candidates[0]}", None, 404, "is not a gold pair"),
        ("put", "/api/v1/gold/rate", {"every": -2}, 400, "the gold rate must be"),
    ]:
        kwargs = {"json": body} if body else {}
        response = client.request(method, path, auth=ADMIN, **kwargs)
        assert response.status_code == status
        detail = response.json()["detail"]
        assert message in detail and "\n" not in detail
    assert list_gold(store) == before


def response_a_text(store: Store, pair_id: str) -> str:
    return store.con.execute(
        "SELECT r.text FROM pairs p JOIN responses r ON r.id = p.response_a WHERE p.id = ?",
        [pair_id],
    ).fetchone()[0]


def test_api_next_serves_gold_like_any_pair_and_scores_it(client, store, gold_ids):
    client.put("/api/v1/gold/rate", auth=ADMIN, json={"every": 2})
    shapes, served = set(), []
    pair = client.get("/api/v1/next", auth=ANN).json()
    for _ in range(6):
        served.append(pair["pair_id"])
        shapes.add(tuple(sorted((k, type(v).__name__) for k, v in pair.items())))
        choice = "a"
        if pair["pair_id"] in gold_ids:
            choice = gold_ids[pair["pair_id"]]
            choice = (
                choice if pair["a"] == response_a_text(store, pair["pair_id"]) else SWAP[choice]
            )
        body = {"pair_id": pair["pair_id"], "choice": choice}
        pair = client.post("/api/v1/labels", auth=ANN, json=body).json()["next"]
    assert [n for n, p in enumerate(served, 1) if p in gold_ids] == [2, 4, 6]
    assert len(shapes) == 1  # gold and normal pairs have the same fields and types
    scores = client.get("/api/v1/gold/accuracy", auth=ADMIN).json()["annotators"]
    assert scores == [{"annotator": "ann", "answered": 3, "correct": 3, "accuracy": 1.0}]


# Admin tab ---------------------------------------------------------------------------------


@pytest.fixture
def admin_ctx(store, candidates) -> AppContext:
    """The app's context over the 30 candidates, with an annotator (ann) and an admin (root)."""
    add_users(store)
    return AppContext(store)


def test_admin_tab_marks_lists_and_unmarks_gold_pairs(admin_ctx):
    root, pair = gr.Request(username="root"), next_pair_for(admin_ctx.store, "ann")
    record_label(admin_ctx.store, "ann", pair.pair_id, shown_choice(pair, "a"))
    first = pair.pair_id
    marked = gold_panel.mark_gold(admin_ctx, root, f"  {first}\n", "b")
    assert set(marked) == {"gold_pairs", "gold"}
    assert marked["gold_pairs"].values.tolist()[0][:3] == [first, "b", "root"]
    assert marked["gold"].values.tolist() == [["ann", 1, 0, 0.0]]  # the accuracy anew
    shown = admin.overview(admin_ctx, root)
    assert list(shown["gold_pairs"].columns) == ["pair_id", "answer", "marked_by", "created"]
    assert list(shown["gold_pairs"].pair_id) == [first] and shown["gold_every"] == 10
    again = gold_panel.mark_gold(admin_ctx, root, first, "a")  # a new answer replaces the old
    assert list(again["gold_pairs"].answer) == ["a"] and list(again["gold"].accuracy) == [1.0]
    unmarked = gold_panel.unmark_gold(admin_ctx, root, f" {first} ")
    assert unmarked["gold_pairs"].empty and unmarked["gold"].empty
    assert list_gold(admin_ctx.store) == []


def test_admin_tab_saves_the_gold_rate(admin_ctx):
    root = gr.Request(username="root")
    assert gold_panel.save_gold_every(admin_ctx, root, 4) == {}
    assert get_gold_every(admin_ctx.store) == 4
    assert admin.overview(admin_ctx, root)["gold_every"] == 4
    assert gold_panel.save_gold_every(admin_ctx, root, 0) == {}
    assert get_gold_every(admin_ctx.store) == 0


def test_admin_tab_gold_refusals_are_one_line_and_change_nothing(admin_ctx, candidates):
    root, ann = gr.Request(username="root"), gr.Request(username="ann")
    add_gold(admin_ctx.store, candidates[0], "a", "root")
    before = list_gold(admin_ctx.store)
    for action, inputs, message in [
        (gold_panel.mark_gold, (" nope ", "a"), "no pair &#x27;nope&#x27; in the store"),
        (gold_panel.mark_gold, (candidates[1], "<left>"), "answer &#x27;&lt;left&gt;&#x27;"),
        (gold_panel.unmark_gold, (candidates[1],), "is not a gold pair"),
        (gold_panel.save_gold_every, (-1,), "the gold rate must be a whole number from 0"),
        (gold_panel.save_gold_every, (None,), "the gold rate must be a whole number from 0"),
    ]:
        with pytest.raises(gr.Error) as refused:
            action(admin_ctx, root, *inputs)
        assert message in refused.value.message and "\n" not in refused.value.message
    for action, inputs in [
        (gold_panel.mark_gold, (candidates[1], "b")),
        (gold_panel.unmark_gold, (candidates[0],)),
        (gold_panel.save_gold_every, (2,)),
    ]:
        with pytest.raises(gr.Error) as refused:
            action(admin_ctx, ann, *inputs)
        assert refused.value.message == "This needs the admin role; ann does not have it."
    assert list_gold(admin_ctx.store) == before and get_gold_every(admin_ctx.store) == 10


@needs_chromium
def test_admin_tab_shows_gold_accuracy_and_marks_gold(browser, db_path, write_jsonl, tmp_path):
    from playwright.sync_api import expect

    with Store(db_path) as store:
        import_paths(store, [write_jsonl("cands.jsonl", CANDIDATES[:6])])
        pair_id = pair_ids(store, "Question 0")[0]  # ann's stored vote on it: a
        report = import_paths(store, [write_jsonl("gold.jsonl", GOLD_FILE)], list_prompts=True)
        mark_imported_gold(store, report)
        add_users(store)
        set_gold_every(store, 3)
        right_then_wrong = iter([answer_right, answer_right, answer_wrong])
        label_stream(store, "ann", lambda pair, answer: next(right_then_wrong)(pair, answer))
    server = Server(db_path)
    try:
        admin = log_in(browser, server, "root")
        admin.get_by_role("tab", name="Admin").click()
        table = "#gold-accuracy"
        for cell in ("ann", "0.667"):  # the figures as a visible row
            admin.locator(f"{table} >> text={cell} >> visible=true").first.wait_for()
        expect(admin.locator("#gold-every input")).to_have_value("3")  # the rate as stored
        admin.fill("#gold-pair-id textarea, #gold-pair-id input", pair_id)
        admin.locator("#gold-answer").get_by_label("b", exact=True).check()
        admin.click("#gold-mark")
        admin.locator(f"#gold-pairs >> text={pair_id} >> visible=true").first.wait_for()
        admin.locator(f"{table} >> text=0.5 >> visible=true").first.wait_for()  # 2 of 4 now
        admin.fill("#gold-every input", "5")
        admin.click("#gold-every-save")
        admin.wait_for_selector("text=one pair in every 5 served is gold")
        screenshot(admin, tmp_path, "admin_gold_accuracy")
        assert (tmp_path / "admin_gold_accuracy.png").stat().st_size > 0
        admin.close()
    finally:
        server.stop()
    with Store(db_path) as store:
        marked = [g for g in list_gold(store) if g.pair_id == pair_id]
        assert [(g.answer, g.marked_by) for g in marked] == [("b", "root")]
        assert get_gold_every(store) == 5


def test_cli_goes_through_a_running_server(db_path, write_jsonl):
    with Store(db_path) as store:
        import_paths(store, [write_jsonl("cands.jsonl", CANDIDATES[:2])])
        pair_id = pair_ids(store, "Question 1")[0]
    server = Server(db_path)
    try:
        known = write_jsonl("known.jsonl", GOLD_FILE)
        imported = cli(db_path, "import", str(known), "--gold")
        assert imported.exit_code == 0, imported.stderr
        assert imported.stdout.endswith("marked 3 pairs as gold\n")
        added = json.loads(cli(db_path, "gold", "add", pair_id, "--answer", "b", "--json").stdout)
        assert (added["answer"], added["marked_by"]) == ("b", "cli")  # as without a server
        assert cli(db_path, "gold", "rate", "7").stdout == "one pair in every 7 served is gold\n"
        listed = json.loads(cli(db_path, "gold", "list", "--json").stdout)
        assert listed["every"] == 7 and len(listed["gold"]) == 4
        assert cli(db_path, "gold", "remove", pair_id).stdout == f"{pair_id}: no longer gold\n"
        assert json.loads(cli(db_path, "gold", "accuracy", "--json").stdout) == {"annotators": []}
        refused = cli(db_path, "gold", "add", "nope", "--answer", "a")
        assert refused.exit_code == 1
        assert "no pair 'nope' in the store" in assert_one_error_line(refused.stderr)
    finally:
        server.stop()
    with Store(db_path) as store:
        assert len(list_gold(store)) == 3
