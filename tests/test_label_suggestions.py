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
