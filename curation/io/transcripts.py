"""Pure helpers that split whole conversations into a shared prompt and two responses.

They serve the HH transcript format and preference rows with an implicit prompt, where the
prompt is the part the chosen and rejected texts have in common.
"""

from __future__ import annotations

import re

from curation.io.formats import HH_ASSISTANT

Message = dict[str, str]


class TranscriptError(ValueError):
    """A pair that cannot be split into a prompt and two responses; `field` names the side at
    fault."""

    def __init__(self, message: str, field: str = "chosen") -> None:
        super().__init__(message)
        self.field = field


_HH_TURN = re.compile(r"\n\n(Human|Assistant):")
_HH_ROLES = {"Human": "user", "Assistant": "assistant"}


def _shared_prefix(first: str, second: str) -> str:
    """The longest string both texts start with."""
    length = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        length += 1
    return first[:length]


def parse_hh_turns(text: str) -> list[Message]:
    """Parse an HH transcript into messages.

    >>> parse_hh_turns("\\n\\nHuman: Hi\\n\\nAssistant: Hello!")
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}]
    """
    if not text.startswith("\n\n"):
        text = "\n\n" + text.lstrip("\n")
    pieces = _HH_TURN.split(text)
    if pieces[0].strip():
        raise TranscriptError("transcript does not start with a Human: turn")
    return [
        {"role": _HH_ROLES[speaker], "content": _strip_marker_space(content)}
        for speaker, content in zip(pieces[1::2], pieces[2::2], strict=True)
    ]


def _strip_marker_space(content: str) -> str:
    """Drop the one space that follows a `Human:`/`Assistant:` marker."""
    return content[1:] if content.startswith(" ") else content


def split_hh_pair(chosen: str, rejected: str) -> tuple[list[Message], str, str]:
    """Split two HH transcripts into the prompt they share and the two final responses.

    The prompt is the conversation up to the last `Assistant:` turn both share; a response is
    everything after it, so text inside a response that looks like a turn stays in it.

    >>> split_hh_pair("\\n\\nHuman: 2+2?\\n\\nAssistant: 4", "\\n\\nHuman: 2+2?\\n\\nAssistant: 5")
    ([{'role': 'user', 'content': '2+2?'}], '4', '5')
    """
    chosen, rejected = (_with_leading_break(t) for t in (chosen, rejected))
    for field, text in (("chosen", chosen), ("rejected", rejected)):
        if HH_ASSISTANT not in text:
            raise TranscriptError("transcript has no Assistant: turn", field)
    shared = _shared_prefix(chosen, rejected)
    cut = shared.rfind(HH_ASSISTANT)
    if cut < 0:
        raise TranscriptError("chosen and rejected share no Assistant: turn")
    prompt = parse_hh_turns(shared[:cut])
    if not prompt or prompt[-1]["role"] != "user":
        raise TranscriptError("the shared conversation does not end with a Human: turn")
    start = cut + len(HH_ASSISTANT)
    return prompt, _strip_marker_space(chosen[start:]), _strip_marker_space(rejected[start:])


def _with_leading_break(text: str) -> str:
    """HH transcripts begin with a blank line; accept ones that lost it."""
    return text if text.startswith("\n\n") else "\n\n" + text.lstrip("\n")


def split_implicit_text(chosen: str, rejected: str) -> tuple[str, str, str]:
    """Split two plain texts that begin with the same prompt, as TRL's `extract_prompt` does.

    Each side must keep some text after the prompt: an empty response is not made up.

    >>> split_implicit_text("Sky is blue", "Sky is green")
    ('Sky is', ' blue', ' green')
    """
    shared = _shared_prefix(chosen, rejected)
    cut = len(shared)
    if 0 < cut < min(len(chosen), len(rejected)) and chosen[cut - 1] == " ":
        cut -= 1
    if cut == 0:
        raise TranscriptError("chosen and rejected share no prompt text")
    for field, text in (("chosen", chosen), ("rejected", rejected)):
        if cut == len(text):
            raise TranscriptError(
                "nothing is left for a response after the prompt both sides share", field
            )
    return chosen[:cut], chosen[cut:], rejected[cut:]


def split_implicit_messages(
    chosen: list[Message], rejected: list[Message]
) -> tuple[list[Message], str, str]:
    """Split two conversations into their shared messages and the final assistant replies.

    >>> q = {"role": "user", "content": "Hi"}
    >>> split_implicit_messages([q, {"role": "assistant", "content": "Hello"}],
    ...                         [q, {"role": "assistant", "content": "Go away"}])
    ([{'role': 'user', 'content': 'Hi'}], 'Hello', 'Go away')
    """
    shared = 0
    while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
        shared += 1
    replies = []
    for side in (chosen[shared:], rejected[shared:]):
        if len(side) != 1 or side[0].get("role") != "assistant":
            raise TranscriptError("after the shared prompt each side must be one assistant message")
        replies.append(side[0]["content"])
    if shared == 0:
        raise TranscriptError("chosen and rejected share no prompt messages")
    return chosen[:shared], replies[0], replies[1]
