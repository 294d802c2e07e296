"""The generate-and-parse LLM judge: the model writes an answer and the verdict is parsed from it.

It is the slower, classic way to use an LLM as a judge, kept as the baseline the logit judge
is measured against (`benches/bench_judge.py`). Text with no verdict in it is a failed order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from curation.jobs.pacing import pause_point
from judges.base import OrderScore
from judges.llm import LocalLMJudge, Shown, left_pad

GENERATE_TEMPLATE = "pairwise-explain.v1"


class GenerateJudge(LocalLMJudge):
    """Generates up to `max_new_tokens` greedily and reads `[[A]]`/`[[B]]` (or, with a
    one-letter template, the first standalone letter) from the text.
    """

    name = "llm-generate"

    def __init__(
        self,
        model: str,
        *,
        template: str = GENERATE_TEMPLATE,
        max_new_tokens: int = 96,
        **options: Any,
    ) -> None:
        super().__init__(model, template=template, **options)
        self.max_new_tokens = max_new_tokens
        first, second = (re.escape(letter) for letter in self.prompt_template.letters)
        self.verdict = re.compile(rf"\[\[({first}|{second})\]\]")
        self.letter = re.compile(rf"\b({first}|{second})\b")

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "max_new_tokens": self.max_new_tokens}

    def parse(self, text: str) -> OrderScore:
        """The score a generated text stands for: 1 or 0 for a verdict, failed without one."""
        found = self.verdict.search(text) or self.letter.search(text)
        raw = {"text": text}
        if found is None:
            return OrderScore(None, {"error": "no verdict in the generated text", **raw})
        return OrderScore(1.0 if found.group(1) == self.prompt_template.letters[0] else 0.0, raw)

    def score_orders(self, shown: Sequence[Shown]) -> list[OrderScore]:
        import torch

        model, tokenizer = self.lm
        batches, scores = self.batches(shown)
        for positions, sequences in batches:
            pause_point()
            input_ids, attention_mask = left_pad(sequences, tokenizer.pad_token_id, model.device)
            with torch.inference_mode():
                output = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                )
            self.forward_passes += 1
            texts = tokenizer.batch_decode(
                output[:, input_ids.shape[1] :], skip_special_tokens=True
            )
            for position, text in zip(positions, texts, strict=True):
                scores[position] = self.parse(text)
        return [scores[i] for i in range(len(shown))]
