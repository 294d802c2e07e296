"""Post-training evaluation: held-out preference accuracy of a language model or a reward model.

Rows are TRL dataset rows: `prompt` is a string or a list of messages; `chosen`, `rejected` and
`completion` are strings or a list of one assistant message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any


def is_conversational(value: Any) -> bool:
    """Whether a prompt or completion is a list of messages rather than a plain string.

    >>> is_conversational([{"role": "user", "content": "Hi"}]), is_conversational("Hi")
    (True, False)
    """
    return isinstance(value, list)


def render_prompt(tokenizer: Any, prompt: Any) -> str:
    """The prompt as the model sees it: the chat template with the assistant turn opened."""
    if is_conversational(prompt):
        return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
    return prompt


def render_completion(tokenizer: Any, prompt: Any, completion: Any) -> str:
    """The completion as the model sees it after `render_prompt(prompt)` (with end-of-turn marks)."""
    if not is_conversational(prompt):
        return completion if isinstance(completion, str) else completion[0]["content"]
    prompt_text = render_prompt(tokenizer, prompt)
    full = tokenizer.apply_chat_template(list(prompt) + list(completion), tokenize=False)
    if full.startswith(prompt_text):
        return full[len(prompt_text) :]
    return completion[0]["content"] + (tokenizer.eos_token or "")


def _batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _encode(tokenizer: Any, prompt: str, completion: str, max_length: int) -> tuple[list, int]:
    """Token ids of prompt + completion within `max_length` (the prompt loses its start first)."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"][:max_length]
    prompt_ids = prompt_ids[max(0, len(prompt_ids) + len(completion_ids) - max_length) :]
    return prompt_ids + completion_ids, len(prompt_ids)


def mean_completion_logprobs(
    model: Any,
    tokenizer: Any,
    texts: Sequence[tuple[str, str]],
    *,
    batch_size: int = 4,
    max_length: int = 512,
    on_batch: Callable[[int], None] | None = None,
) -> list[float]:
    """Length-normalized log-likelihood of each (prompt, completion): mean log-prob per token.

    `on_batch` hears how many texts are scored so far after each batch.

    Rows are padded on the left, so every completion ends the row and only the last positions'
    logits are computed (`logits_to_keep`), never the whole (batch, length, vocabulary) block.
    """
    import torch

    device = next(model.parameters()).device
    scores: list[float] = []
    for batch in _batches(texts, batch_size):
        encoded = [_encode(tokenizer, p, c, max_length) for p, c in batch]
        width = max(len(ids) for ids, _ in encoded)
        completion_lengths = [len(ids) - prompt_len for ids, prompt_len in encoded]
        keep = min(max(completion_lengths) + 1, width)
        input_ids = torch.full((len(batch), width), tokenizer.pad_token_id, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        scored = torch.zeros((len(batch), keep - 1), dtype=torch.bool)
        for row, (ids, _) in enumerate(encoded):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
            scored[row, keep - 1 - min(completion_lengths[row], len(ids) - 1) :] = True
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        with torch.no_grad():
            logits = model(
                input_ids=input_ids.to(device),
                attention_mask=attention.to(device),
                position_ids=positions.to(device),
                logits_to_keep=keep,
            ).logits.float()
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1)
        targets = input_ids[:, width - keep + 1 :].to(device)
        token_logprobs = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        mask = scored.to(device)
        totals = (token_logprobs * mask).sum(-1) / mask.sum(-1).clamp(min=1)
        scores.extend(totals.tolist())
        if on_batch is not None:
            on_batch(len(scores))
    return scores


def _pair_texts(tokenizer: Any, pairs: Sequence[dict]) -> list[tuple[str, str]]:
    """(prompt, completion) as the model sees them: chosen then rejected for each pair."""
    texts = []
    for row in pairs:
        prompt = render_prompt(tokenizer, row["prompt"])
        for side in ("chosen", "rejected"):
            texts.append((prompt, render_completion(tokenizer, row["prompt"], row[side])))
    return texts


def _chosen_win_share(scores: Sequence[float]) -> float:
    """Share of (chosen, rejected) score pairs, interleaved, where chosen scores higher."""
    wins = sum(
        chosen > rejected for chosen, rejected in zip(scores[::2], scores[1::2], strict=True)
    )
    return wins / (len(scores) // 2)


def preference_accuracy(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[dict],
    *,
    batch_size: int = 4,
    max_length: int = 512,
    on_batch: Callable[[int], None] | None = None,
) -> float | None:
    """Share of pairs whose chosen side has a higher length-normalized log-likelihood.

    None when there are no pairs. `on_batch` hears how many pairs are scored so far.
    """
    if not pairs:
        return None
    model.eval()
    scores = mean_completion_logprobs(
        model,
        tokenizer,
        _pair_texts(tokenizer, pairs),
        batch_size=batch_size,
        max_length=max_length,
        on_batch=None if on_batch is None else lambda texts: on_batch(texts // 2),
    )
    return _chosen_win_share(scores)


def reward_scores(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    batch_size: int = 4,
    max_length: int = 512,
    on_batch: Callable[[int], None] | None = None,
) -> list[float]:
    """A reward model's score of each full text (prompt and completion); `on_batch` hears how
    many texts are scored so far."""
    import torch

    device = next(model.parameters()).device
    scores: list[float] = []
    for batch in _batches(texts, batch_size):
        encoded = tokenizer(
            list(batch),
            add_special_tokens=False,
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="pt",
        ).to(device)
        with torch.no_grad():
            scores.extend(model(**encoded).logits[:, 0].float().tolist())
        if on_batch is not None:
            on_batch(len(scores))
    return scores


def reward_accuracy(
    model: Any,
    tokenizer: Any,
    pairs: Sequence[dict],
    *,
    batch_size: int = 4,
    max_length: int = 512,
    on_batch: Callable[[int], None] | None = None,
) -> float | None:
    """Share of pairs a reward model scores chosen above rejected; None without pairs.

    `on_batch` hears how many pairs are scored so far.
    """
    if not pairs:
        return None
    model.eval()
    tokenizer.padding_side = "right"
    texts = [prompt + completion for prompt, completion in _pair_texts(tokenizer, pairs)]
    scores = reward_scores(
        model,
        tokenizer,
        texts,
        batch_size=batch_size,
        max_length=max_length,
        on_batch=None if on_batch is None else lambda done: on_batch(done // 2),
    )
    return _chosen_win_share(scores)
