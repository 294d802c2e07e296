"""The import formats: how each is recognized from its fields, and the fields it requires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportFormat:
    """One record layout prefstudio reads."""

    name: str
    description: str
    required: tuple[str, ...]


FORMATS: dict[str, ImportFormat] = {
    f.name: f
    for f in [
        ImportFormat(
            "preference",
            "prompt/chosen/rejected, or chosen/rejected with an implicit prompt",
            ("chosen", "rejected"),
        ),
        ImportFormat(
            "unpaired",
            "prompt/completion/label (thumbs, for KTO)",
            ("prompt", "completion", "label"),
        ),
        ImportFormat("sft", "messages, or prompt/completion", ()),
        ImportFormat("prompts", "prompt only", ("prompt",)),
        ImportFormat(
            "responses",
            "prompt with a list of responses, optional scores or ranks",
            ("prompt", "responses"),
        ),
        ImportFormat("hh", "Anthropic HH chosen/rejected transcripts", ("chosen", "rejected")),
    ]
}

HH_HUMAN = "\n\nHuman:"
HH_ASSISTANT = "\n\nAssistant:"


def looks_like_hh(value: Any) -> bool:
    """True for a string written as an Anthropic HH transcript: it opens with a `Human:` turn
    (one without an `Assistant:` turn is a bad transcript, not a plain text)."""
    return isinstance(value, str) and value.lstrip("\n").startswith("Human:")


def detect_format(fields: list[str], first: dict[str, Any]) -> str | None:
    """The format whose fields the records have, judged from the field names and first record.

    >>> detect_format(["prompt", "chosen", "rejected"], {})
    'preference'
    >>> detect_format(["chosen", "rejected"], {"chosen": "\\n\\nHuman: hi\\n\\nAssistant: yo"})
    'hh'
    >>> detect_format(["text"], {}) is None
    True
    """
    have = set(fields)
    if {"chosen", "rejected"} <= have:
        if "prompt" not in have and looks_like_hh(first.get("chosen")):
            return "hh"
        return "preference"
    if {"prompt", "completion", "label"} <= have:
        return "unpaired"
    if "messages" in have or {"prompt", "completion"} <= have:
        return "sft"
    if {"prompt", "responses"} <= have:
        return "responses"
    if "prompt" in have:
        return "prompts"
    return None


def missing_fields(format_name: str, fields: list[str]) -> list[str]:
    """Fields `format_name` needs that the records lack."""
    have = set(fields)
    if format_name == "sft":
        return [] if "messages" in have or {"prompt", "completion"} <= have else ["messages"]
    return [name for name in FORMATS[format_name].required if name not in have]


def unknown_format_message(fields: list[str]) -> str:
    """The message for records whose fields match no format, listing what is expected."""
    expected = "; ".join(f"{f.name}: {f.description}" for f in FORMATS.values())
    return f"cannot tell the format from fields {sorted(fields)}; expected {expected} (or pass --format)"
