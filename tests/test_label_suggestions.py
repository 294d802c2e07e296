"""Judge suggestions on the Label tab: off by default, and named in the sides as shown."""

from __future__ import annotations

from app.context import AppContext
from app.tabs.label import _suggestion_text
from curation import Store, import_paths
from curation.judging.judgments import set_suggestions
from curation.labelling.accounts import add_user
from curation.labelling.queue import next_pair_for
from curation.labelling.votes import record_label
from judges.rules import LongerJudge
from judges.runs import run_judge

LONG = "A much longer and more helpful answer, with the steps spelled out."


def test_suggestion_names_the_longer_response_on_whichever_side_it_is_shown(
    store: Store, write_jsonl
):
    records = [{"prompt": f"Question {i}?", "responses": ["Short.", LONG]} for i in range(16)]
    import_paths(store, [write_jsonl("candidates.jsonl", records)])
    add_user(store, "ann", "annotator", "pw-ann-123")
    ctx = AppContext(store)
    judge = LongerJudge()
    run_judge(store, judge, pairs="all")
    assert _suggestion_text(ctx, next_pair_for(store, "ann")) == ""  # off by default
    set_suggestions(store, True, judge.key())
    seen_orders = set()
    while (pair := next_pair_for(store, "ann")) is not None:
        longer_side = "A" if pair.left == LONG else "B"
        assert f"{longer_side} is better" in _suggestion_text(ctx, pair)
        seen_orders.add(pair.shown_order)
        record_label(store, "ann", pair.pair_id, "skip")
    assert seen_orders == {"ab", "ba"}


def test_next_over_the_api_serves_the_suggestion_in_the_sides_as_served(store: Store, write_jsonl):
    from fastapi.testclient import TestClient

    from app.server import create_app

    records = [{"prompt": f"Question {i}?", "responses": ["Short.", LONG]} for i in range(8)]
    import_paths(store, [write_jsonl("candidates.jsonl", records)])
    add_user(store, "ann", "annotator", "pw-ann-123")
    judge = LongerJudge()
    run_judge(store, judge, pairs="all")
    auth = ("ann", "pw-ann-123")
    with TestClient(create_app(AppContext(store))) as client:
        assert "suggestion" not in client.get("/api/v1/next", auth=auth).json()  # off by default
        set_suggestions(store, True, judge.key())
        served = client.get("/api/v1/next", auth=auth).json()
        seen = set()
        while not served["done"]:
            suggestion = served["suggestion"]
            longer = "a" if served["a"] == LONG else "b"
            assert suggestion["choice"] == longer and suggestion["p_a"] == (longer == "a")
            seen.add(longer)
            body = {"pair_id": served["pair_id"], "choice": "skip"}
            served = client.post("/api/v1/labels", json=body, auth=auth).json()["next"]
    assert seen == {"a", "b"}
