"""Content ids: prompts, responses and pairs are named by the md5 of what they hold, so the same
content imported twice is one row.

Each rule has a Python form (for one id) and a SQL form (an expression over columns, for bulk
paths); `tests/test_content_ids.py` checks that the two agree.

- a prompt: md5 of its canonical messages JSON;
- a response: md5 of its prompt id and text (and its model, for generated answers, so two
  models writing the same text stay two responses), joined by the unit separator U+001F;
- a pair: md5 of its two response ids, the smaller first (order-free).
"""

from __future__ import annotations

import hashlib

SEPARATOR = "\x1f"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def prompt_id(messages_json: str) -> str:
    """The id of a prompt from its canonical messages JSON."""
    return _md5(messages_json)


def response_id(prompt: str, text: str, model: str | None = None) -> str:
    """The id of a response to prompt id `prompt`; with `model`, of a generated answer.

    >>> response_id("p", "Hi") == response_id("p", "Hi", None) != response_id("p", "Hi", "m")
    True
    """
    parts = [prompt, text] if model is None else [prompt, text, model]
    return _md5(SEPARATOR.join(parts))


def pair_id(first: str, second: str) -> str:
    """The order-free id of the pair of responses `first` and `second`.

    >>> pair_id("r1", "r2") == pair_id("r2", "r1")
    True
    """
    return _md5(min(first, second) + max(first, second))


def prompt_id_sql(messages_json: str) -> str:
    """SQL for `prompt_id` over an expression holding the canonical messages JSON."""
    return f"md5({messages_json})"


def response_id_sql(prompt: str, text: str, model: str | None = None) -> str:
    """SQL for `response_id` over expressions for the prompt id, text (and model)."""
    parts = [prompt, text] if model is None else [prompt, text, model]
    return f"md5({' || chr(31) || '.join(parts)})"


def pair_id_sql(first: str, second: str) -> str:
    """SQL for `pair_id` over expressions for the two response ids."""
    return f"md5(least({first}, {second}) || greatest({first}, {second}))"
