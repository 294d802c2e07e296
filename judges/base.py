"""The judge contract: what a judge is given, what it returns, and the both-order protocol."""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from curation.errors import PrefstudioError

Choice = Literal["a", "b", "tie", "failed"]
Pick = Literal["first", "second", "tie"]


class JudgeError(PrefstudioError):
    """A judge cannot be built or run as asked (unknown kind, missing GPU, bad template...)."""


@dataclass(frozen=True)
class PairItem:
    """One pair to judge: the prompt as a conversation and the texts of responses A and B."""

    pair_id: str
    prompt: list[dict[str, str]]
    response_a: str
    response_b: str


@dataclass(frozen=True)
class Verdict:
    """A judge's verdict on one pair.

    `p_a` is the probability that A is the better response (None when the judge failed);
    `choice` is a, b, tie or failed; `consistent` says whether the judge picked the same
    response in both orders (None when it failed); `raw` keeps what the judge produced.
    """

    p_a: float | None
    choice: Choice
    consistent: bool | None
    raw: Any = None

    @classmethod
    def failed(cls, reason: str, **raw: Any) -> Verdict:
        """A failed verdict: no probability and no choice, with the reason kept in `raw`."""
        return cls(None, "failed", None, {"error": reason, **raw})


@dataclass(frozen=True)
class OrderScore:
    """A judge's score for a pair shown in one order.

    `p_first` is the probability that the response shown first is better, None when this
    order failed; `raw` is what the judge produced for it.
    """

    p_first: float | None
    raw: Any = None


def pick(p_first: float, tie_margin: float) -> Pick:
    """Which shown response a probability favours; within `tie_margin` of 0.5 it is a tie.

    >>> pick(0.8, 0.05), pick(0.2, 0.05), pick(0.52, 0.05)
    ('first', 'second', 'tie')
    """
    if p_first > 0.5 + tie_margin:
        return "first"
    if p_first < 0.5 - tie_margin:
        return "second"
    return "tie"


def choice_from_p(p_a: float, tie_margin: float) -> Choice:
    """The choice a probability that A is better stands for.

    >>> choice_from_p(0.9, 0.0), choice_from_p(0.5, 0.0)
    ('a', 'tie')
    """
    return {"first": "a", "second": "b", "tie": "tie"}[pick(p_a, tie_margin)]


def combine_orders(ab: OrderScore, ba: OrderScore, tie_margin: float = 0.0) -> Verdict:
    """One verdict from a pair judged as (A, B) and as (B, A).

    `p_a` averages both orders. The choice is the side both orders picked; when they
    disagree the verdict is a tie and not consistent. If either order failed, the verdict
    fails. Both raw outputs are kept, with each order's pick.

    >>> combine_orders(OrderScore(0.9), OrderScore(0.2)).choice
    'a'
    >>> v = combine_orders(OrderScore(0.9), OrderScore(0.9))  # always prefers the first shown
    >>> v.choice, v.consistent, v.p_a
    ('tie', False, 0.5)
    >>> combine_orders(OrderScore(0.9), OrderScore(None, "no answer")).choice
    'failed'
    """
    orders = {
        "ab": {"p_first": ab.p_first, "raw": ab.raw},
        "ba": {"p_first": ba.p_first, "raw": ba.raw},
    }
    if ab.p_first is None or ba.p_first is None:
        failed = [name for name, score in (("ab", ab), ("ba", ba)) if score.p_first is None]
        return Verdict.failed(f"order {' and '.join(failed)} failed", orders=orders)
    picks = {"ab": pick(ab.p_first, tie_margin), "ba": pick(ba.p_first, tie_margin)}
    for name in orders:
        orders[name]["pick"] = picks[name]
    # In (B, A) the first shown is B, so A wins when the second one is picked.
    side_ab = {"first": "a", "second": "b", "tie": "tie"}[picks["ab"]]
    side_ba = {"first": "b", "second": "a", "tie": "tie"}[picks["ba"]]
    consistent = side_ab == side_ba
    p_a = (ab.p_first + (1.0 - ba.p_first)) / 2.0
    return Verdict(p_a, side_ab if consistent else "tie", consistent, {"orders": orders})


class Judge(ABC):
    """A judge of response pairs.

    Subclasses set `name` (the kind of judge) and implement `judge`. `model` and `template`
    name what the judge uses, `settings()` whatever else changes its verdicts; together they
    make the judge's `key()`, under which its verdicts are cached.
    """

    name: str = "judge"
    model: str | None = None
    template: str | None = None

    def __init__(self, *, tie_margin: float = 0.0) -> None:
        if not 0.0 <= tie_margin < 0.5:
            raise JudgeError(f"tie margin must be in [0, 0.5), got {tie_margin}")
        self.tie_margin = tie_margin

    @property
    def label(self) -> str:
        """How reports name the judge: its kind, and its model if it has one."""
        return f"{self.name}:{self.model}" if self.model else self.name

    @property
    def order_free(self) -> bool:
        """Whether the judge never sees the responses in an order (rules, reward models)."""
        return True

    def settings(self) -> dict[str, Any]:
        """The options that change this judge's verdicts (they enter its key)."""
        return {"tie_margin": self.tie_margin}

    def describe(self) -> dict[str, Any]:
        """Everything that identifies the judge: name, model, template and settings."""
        return {
            "name": self.name,
            "model": self.model,
            "template": self.template,
            "settings": self.settings(),
        }

    def key(self) -> str:
        """A hash of `describe()`: equal keys give equal verdicts on equal pairs."""
        canonical = json.dumps(self.describe(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:24]

    @abstractmethod
    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        """One verdict per item, in the order given."""


class BothOrdersJudge(Judge):
    """A judge that sees the responses in an order, so it judges every pair in both.

    Subclasses implement `score_orders`, which scores (prompt, first, second) triples; all
    (A, B) and (B, A) triples of a call go to it together so they can share batches.
    """

    @property
    def order_free(self) -> bool:
        return False

    @abstractmethod
    def score_orders(
        self, shown: Sequence[tuple[list[dict[str, str]], str, str]]
    ) -> list[OrderScore]:
        """One score per (prompt, first response, second response), in the order given."""

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        shown = [(i.prompt, i.response_a, i.response_b) for i in items]
        shown += [(i.prompt, i.response_b, i.response_a) for i in items]
        scores = self.score_orders(shown)
        if len(scores) != len(shown):
            raise JudgeError(f"{self.label} returned {len(scores)} scores for {len(shown)} orders")
        n = len(items)
        return [combine_orders(scores[i], scores[n + i], self.tie_margin) for i in range(n)]


def prompt_text(messages: list[dict[str, str]]) -> str:
    """A conversation as plain text: a lone user turn as is, else one `Role: text` per turn.

    >>> prompt_text([{"role": "user", "content": "Hi"}])
    'Hi'
    >>> print(prompt_text([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
    ...                    {"role": "user", "content": "Bye"}]))
    User: Hi
    Assistant: Yo
    User: Bye
    """
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)
