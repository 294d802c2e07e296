"""Rule judges: prefer the longer response, the shorter one, or the one that does not refuse.

They need no model and never see an order, so every report shows them as baselines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from judges.base import Judge, PairItem, Verdict

# Openings and phrases that mark a response as declining the request.
REFUSAL_PATTERNS = (
    r"\bI(?:'m| am) (?:sorry|afraid)\b",
    r"\bI (?:can(?:'|no)t|cannot|won't|will not|am unable to|'m unable to|am not able to)"
    r" (?:help|assist|provide|do|answer|comply|share|fulfil|fulfill|support|write|give)",
    r"\bAs an AI\b",
    r"\bI (?:must|have to) (?:decline|refuse)\b",
    r"\bI(?:'m| am) not (?:able|allowed|permitted) to\b",
    r"\b(?:not something|nothing) I can help with\b",
)
_REFUSAL = re.compile("|".join(REFUSAL_PATTERNS), re.IGNORECASE)


def refusal_phrase(text: str) -> str | None:
    """The phrase that marks `text` as a refusal, or None.

    >>> refusal_phrase("I'm sorry, but I can't help with that.")
    "I'm sorry"
    >>> refusal_phrase("Sure: use sorted(xs).") is None
    True
    """
    found = _REFUSAL.search(text)
    return found.group(0) if found else None


def _verdict_from_scores(score_a: float, score_b: float, raw: dict) -> Verdict:
    """A verdict that prefers the higher score outright (equal scores tie)."""
    if score_a == score_b:
        return Verdict(0.5, "tie", True, raw)
    return Verdict(1.0, "a", True, raw) if score_a > score_b else Verdict(0.0, "b", True, raw)


class LongerJudge(Judge):
    """Prefers the response with more characters: the length bias every judge is held against."""

    name = "longer"
    direction = 1

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        verdicts = []
        for item in items:
            len_a, len_b = len(item.response_a.strip()), len(item.response_b.strip())
            raw = {"len_a": len_a, "len_b": len_b}
            verdicts.append(
                _verdict_from_scores(self.direction * len_a, self.direction * len_b, raw)
            )
        return verdicts


class ShorterJudge(LongerJudge):
    """Prefers the response with fewer characters."""

    name = "shorter"
    direction = -1


class RefusalJudge(Judge):
    """Prefers the response that does not refuse; ties when both or neither refuse."""

    name = "refusal"
    template = "refusal-patterns.v1"

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        verdicts = []
        for item in items:
            phrase_a, phrase_b = refusal_phrase(item.response_a), refusal_phrase(item.response_b)
            raw = {"refusal_a": phrase_a, "refusal_b": phrase_b}
            verdicts.append(_verdict_from_scores(phrase_a is None, phrase_b is None, raw))
        return verdicts
