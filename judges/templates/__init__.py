"""Versioned judge prompt templates: `<name>.v<version>.toml` files, loaded and filled by name."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from judges.base import JudgeError, prompt_text

TEMPLATES_DIR = Path(__file__).resolve().parent
DEFAULT_TEMPLATE = "pairwise.v1"
_TEMPLATE_NAME = re.compile(r"^[a-z0-9_-]+\.v[0-9]+$")
_SLOT = re.compile(r"\{(prompt|first|second)\}")


@dataclass(frozen=True)
class PairwiseTemplate:
    """A prompt asking a judge which of two shown responses is better, answered by one letter.

    `letters` are the answers meaning "the first shown" and "the second shown";
    `answer_prefix` opens the judge's turn right before the letter.
    """

    name: str
    system: str
    user: str
    letters: tuple[str, str]
    answer_prefix: str

    def user_message(self, prompt: list[dict[str, str]], first: str, second: str) -> str:
        """The user turn with the conversation and both responses filled in (in one pass,
        so braces inside the texts stay as they are).

        >>> t = load_template("pairwise.v1")
        >>> text = t.user_message([{"role": "user", "content": "Say {first}"}], "x", "y")
        >>> "Say {first}" in text and "[Response A]\\nx" in text and "[Response B]\\ny" in text
        True
        """
        values = {"prompt": prompt_text(prompt), "first": first, "second": second}
        return _SLOT.sub(lambda slot: values[slot.group(1)], self.user)


def available_templates() -> list[str]:
    """Names of the templates shipped in this folder, like `pairwise.v1`.

    >>> "pairwise.v1" in available_templates()
    True
    """
    return sorted(path.stem for path in TEMPLATES_DIR.glob("*.toml"))


def load_template(name: str) -> PairwiseTemplate:
    """The template called `name` (`<name>.v<version>`) from this folder."""
    if not _TEMPLATE_NAME.match(name) or name not in available_templates():
        raise JudgeError(
            f"unknown judge template {name!r}; choose from {', '.join(available_templates())}"
        )
    path = TEMPLATES_DIR / f"{name}.toml"
    try:
        fields = tomllib.loads(path.read_text(encoding="utf-8"))
        letters = tuple(fields["letters"])
        if len(letters) != 2 or f"{fields['name']}.v{fields['version']}" != name:
            raise ValueError("needs two letters and a name and version matching the file name")
        return PairwiseTemplate(
            name=name,
            system=fields.get("system", ""),
            user=fields["user"],
            letters=letters,
            answer_prefix=fields.get("answer_prefix", ""),
        )
    except (KeyError, ValueError, tomllib.TOMLDecodeError) as error:
        raise JudgeError(f"judge template {path} is malformed: {error}") from None
