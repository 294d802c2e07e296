"""The reward-model judge: a sequence classifier scores each response; p_a = sigmoid(r_a - r_b)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from curation.jobs.pacing import pause_point
from judges.base import Judge, JudgeError, PairItem, Verdict, choice_from_p, prompt_text


class RewardJudge(Judge):
    """Scores each response once with any AutoModelForSequenceClassification (one output is a
    reward; two are read as the log-odds of the second class), then compares the pair's scores.

    The model is loaded by `training.models.load_sequence_classifier` on first use, unless
    `loaded` hands in a (model, tokenizer) pair.
    """

    name = "reward"

    def __init__(
        self,
        model: str,
        *,
        batch_size: int = 8,
        max_length: int = 2048,
        trust_remote_code: bool = False,
        tie_margin: float = 0.0,
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        super().__init__(tie_margin=tie_margin)
        if batch_size < 1 or max_length < 1:
            raise JudgeError("batch size and max length must be positive")
        self.model = str(model)
        self.batch_size = batch_size
        self.max_length = max_length
        self.trust_remote_code = trust_remote_code
        self._loaded = loaded
        self.forward_passes = 0

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_length": self.max_length}

    @property
    def classifier(self) -> tuple[Any, Any]:
        """The (model, tokenizer) pair, loaded on first use."""
        if self._loaded is None:
            from training.models import inference_dtype, load_sequence_classifier

            self._loaded = load_sequence_classifier(
                self.model, dtype=inference_dtype(), trust_remote_code=self.trust_remote_code
            )
            self._loaded[0].eval()
        return self._loaded

    def render(self, prompt: list[dict[str, str]], response: str) -> list[int]:
        """Token ids of the conversation ending with `response` as the assistant's turn."""
        _, tokenizer = self.classifier
        if tokenizer.chat_template:
            messages = [*prompt, {"role": "assistant", "content": response}]
            text = tokenizer.apply_chat_template(messages, tokenize=False)
            return tokenizer(text, add_special_tokens=False)["input_ids"]
        return tokenizer(f"{prompt_text(prompt)}\n\n{response}")["input_ids"]

    def rewards(self, conversations: list[tuple[list[dict[str, str]], str]]) -> list[float | None]:
        """One reward per (prompt, response), None where it is longer than `max_length`."""
        import torch

        model, tokenizer = self.classifier
        encoded = [self.render(prompt, response) for prompt, response in conversations]
        fitting = sorted(
            (i for i, ids in enumerate(encoded) if len(ids) <= self.max_length),
            key=lambda i: -len(encoded[i]),
        )
        rewards: list[float | None] = [None] * len(encoded)
        for start in range(0, len(fitting), self.batch_size):
            pause_point()
            positions = fitting[start : start + self.batch_size]
            batch = tokenizer.pad(
                {"input_ids": [encoded[i] for i in positions]},
                padding=True,
                return_tensors="pt",
            ).to(model.device)
            with torch.inference_mode():
                logits = model(**batch).logits.float()
            self.forward_passes += 1
            scores = logits[:, 0] if logits.shape[-1] == 1 else logits[:, 1] - logits[:, 0]
            for row, position in enumerate(positions):
                rewards[position] = float(scores[row])
        return rewards

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        # Each distinct (prompt, response) is scored once, however many pairs it is in.
        distinct: dict[tuple[str, str], tuple[list[dict[str, str]], str]] = {}
        for item in items:
            for response in (item.response_a, item.response_b):
                distinct.setdefault((repr(item.prompt), response), (item.prompt, response))
        rewards = dict(zip(distinct, self.rewards(list(distinct.values())), strict=True))
        return [
            self._verdict(
                rewards[(repr(item.prompt), item.response_a)],
                rewards[(repr(item.prompt), item.response_b)],
            )
            for item in items
        ]

    def _verdict(self, r_a: float | None, r_b: float | None) -> Verdict:
        """The verdict from two rewards; a missing or non-finite reward fails it."""
        raw = {"reward_a": r_a, "reward_b": r_b}
        if r_a is None or r_b is None:
            return Verdict.failed(f"a response exceeds max_length {self.max_length}", **raw)
        if not (math.isfinite(r_a) and math.isfinite(r_b)):
            return Verdict.failed("the model gave a non-finite reward", **raw)
        p_a = sigmoid(r_a - r_b)
        return Verdict(p_a, choice_from_p(p_a, self.tie_margin), True, raw)


def sigmoid(x: float) -> float:
    """The logistic function, without overflow for large |x|.

    >>> sigmoid(0.0), round(sigmoid(2.0), 4), sigmoid(-1000.0)
    (0.5, 0.8808, 0.0)
    """
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)
