"""Labelling guidelines: the instructions an admin writes for annotators (Markdown)."""

from __future__ import annotations

from dataclasses import dataclass

from curation.labelling.annotation_errors import LabelError
from curation.store.settings import get_setting, set_setting
from curation.store.store import Store

GUIDELINES_KEY = "labelling.guidelines"
MAX_GUIDELINES = 20_000  # characters


@dataclass(frozen=True)
class Guidelines:
    """The guidelines as read, or as just saved (`saved`)."""

    markdown: str
    saved: bool = False

    def to_dict(self) -> dict:
        return {"guidelines": self.markdown}

    def text(self) -> str:
        if not self.saved:
            return self.markdown or "(no guidelines)"
        if self.markdown:
            return f"saved the guidelines ({len(self.markdown):,} characters)"
        return "removed the guidelines"


def get_guidelines(store: Store) -> str:
    """The guidelines annotators see ("" when none were written)."""
    return get_setting(store, GUIDELINES_KEY, "")


def set_guidelines(store: Store, text: str) -> str:
    """Replace the guidelines (an empty text removes them); raise LabelError if too long."""
    if not isinstance(text, str):
        raise LabelError(f"guidelines must be text, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_GUIDELINES:
        raise LabelError(
            f"guidelines are {len(text):,} characters long; at most {MAX_GUIDELINES:,} fit"
        )
    set_setting(store, GUIDELINES_KEY, text)
    return text
