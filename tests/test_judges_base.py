"""The judge contract: both-order protocol, failures, keys, and the rule baselines."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from judges.base import BothOrdersJudge, JudgeError, OrderScore, PairItem, combine_orders
from judges.rules import LongerJudge, RefusalJudge, ShorterJudge

PROMPT = [{"role": "user", "content": "How do I boil an egg?"}]
GOOD = "Put the egg in boiling water for 7 minutes, then cool it in cold water."
BAD = "I'm sorry, but I can't help with that."


def item(a: str = GOOD, b: str = BAD, pair_id: str = "p1") -> PairItem:
    return PairItem(pair_id, PROMPT, a, b)


class ScriptedJudge(BothOrdersJudge):
    """A fake order-seeing judge: scores each shown order by a function, recording what it saw."""

    name = "scripted"

    def __init__(self, score, **options) -> None:
        super().__init__(**options)
        self.score = score
        self.seen: list[tuple[str, str]] = []

    def score_orders(self, shown: Sequence[tuple[list[dict], str, str]]) -> list[OrderScore]:
        self.seen += [(first, second) for _, first, second in shown]
        return [self.score(first, second) for _, first, second in shown]


def test_order_swap_really_swaps_the_responses() -> None:
    judge = ScriptedJudge(lambda first, second: OrderScore(0.9 if first == GOOD else 0.1))
    verdicts = judge.judge([item(GOOD, BAD), item(BAD, GOOD, "p2")])
    assert judge.seen == [(GOOD, BAD), (BAD, GOOD), (BAD, GOOD), (GOOD, BAD)]
    assert [v.choice for v in verdicts] == ["a", "b"]
    assert all(v.consistent for v in verdicts)
    assert verdicts[0].p_a == pytest.approx(0.9)
    assert verdicts[1].p_a == pytest.approx(0.1)


def test_a_judge_that_always_prefers_the_first_shown_gives_an_inconsistent_tie() -> None:
    judge = ScriptedJudge(lambda first, second: OrderScore(0.8, {"said": "A"}))
    (verdict,) = judge.judge([item()])
    assert verdict.choice == "tie" and verdict.consistent is False
    assert verdict.p_a == pytest.approx(0.5)
    orders = verdict.raw["orders"]
    assert orders["ab"]["raw"] == orders["ba"]["raw"] == {"said": "A"}
    assert orders["ab"]["pick"] == orders["ba"]["pick"] == "first"


def test_a_failed_order_fails_the_verdict_and_keeps_both_raws() -> None:
    def score(first: str, second: str) -> OrderScore:
        return OrderScore(None, "gibberish") if first == BAD else OrderScore(0.99, "A")

    (verdict,) = ScriptedJudge(score).judge([item()])
    assert verdict.choice == "failed"
    assert verdict.p_a is None and verdict.consistent is None
    assert verdict.raw["error"] == "order ba failed"
    assert verdict.raw["orders"]["ba"]["raw"] == "gibberish"
    assert verdict.raw["orders"]["ab"]["raw"] == "A"


def test_tie_margin_turns_weak_preferences_into_ties() -> None:
    verdict = combine_orders(OrderScore(0.55), OrderScore(0.45), tie_margin=0.1)
    assert verdict.choice == "tie" and verdict.consistent
    assert combine_orders(OrderScore(0.55), OrderScore(0.45)).choice == "a"
    with pytest.raises(JudgeError, match="tie margin"):
        LongerJudge(tie_margin=0.5)


def test_a_judge_returning_the_wrong_number_of_scores_is_an_error() -> None:
    class Short(ScriptedJudge):
        def score_orders(self, shown):
            return super().score_orders(shown)[:1]

    with pytest.raises(JudgeError, match="returned 1 scores for 2 orders"):
        Short(lambda first, second: OrderScore(0.5)).judge([item()])


def test_key_depends_on_name_and_settings_only() -> None:
    assert LongerJudge().key() == LongerJudge().key()
    assert LongerJudge().key() != ShorterJudge().key()
    assert LongerJudge().key() != LongerJudge(tie_margin=0.1).key()
    assert LongerJudge().label == "longer"


def test_length_judges_prefer_the_longer_and_the_shorter_response() -> None:
    items = [item(GOOD, BAD), item(BAD, GOOD, "p2"), item("same", "same", "p3")]
    assert [v.choice for v in LongerJudge().judge(items)] == ["a", "b", "tie"]
    assert [v.choice for v in ShorterJudge().judge(items)] == ["b", "a", "tie"]
    first = LongerJudge().judge(items)[0]
    assert first.p_a == 1.0 and first.consistent and first.raw == {"len_a": 71, "len_b": 38}


def test_refusal_judge_prefers_the_answer_and_ties_when_both_or_neither_refuse() -> None:
    other_refusal = "As an AI, I cannot assist with cooking."
    items = [item(GOOD, BAD), item(BAD, GOOD), item(BAD, other_refusal), item(GOOD, GOOD + "!")]
    verdicts = RefusalJudge().judge(items)
    assert [v.choice for v in verdicts] == ["a", "b", "tie", "tie"]
    assert verdicts[0].raw == {"refusal_a": None, "refusal_b": "I'm sorry"}
