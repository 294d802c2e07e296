"""The flag rules a curation pass is asked for, with tokens counted by a model's tokenizer.

Curation (in `curation/`) counts tokens with whatever function it is given; loading a tokenizer
is a model's business, so the rules are built here for the CLI, the API and the UI alike.
"""

from __future__ import annotations

from curation.quality.flags import FlagRules


def flag_rules(max_tokens: int, truncation_tokens: int, tokenizer: str | None) -> FlagRules:
    """The rules for a pass; tokens are counted with `tokenizer` (a model name) when given,
    else estimated from characters."""
    count_tokens = None
    if tokenizer:
        from training.models import token_counter

        count_tokens = token_counter(tokenizer)
    return FlagRules(
        max_tokens=max_tokens, truncation_tokens=truncation_tokens, count_tokens=count_tokens
    )
