"""The LLM judge: a local causal LM reads a pairwise prompt and answers by its next-token logits.

Every pair is judged in both orders. Prompts are sorted by length and run in left-padded
batches; one forward pass per batch gives the logits of the answer letters, so nothing is
generated and nothing is parsed. The tokens every prompt of a run starts with (the system
prompt and the template's instructions) go through the model once; each batch continues
from a copy of that cache.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from curation.jobs.pacing import pause_point
from judges.base import BothOrdersJudge, JudgeError, OrderScore
from judges.templates import DEFAULT_TEMPLATE, PairwiseTemplate, load_template
from training.models import DTYPES

DEFAULT_MODEL = "smollm2-135m"
MIN_SHARED_PREFIX = 16  # tokens; a shorter shared start is not worth a cache
Shown = tuple[list[dict[str, str]], str, str]
Batch = tuple[list[int], list[list[int]]]


class LocalLMJudge(BothOrdersJudge):
    """What local-model judges share: loading on first use, prompts, and length-sorted batches.

    The model is loaded by `training.models.load_causal_lm` when first needed, so a run whose
    verdicts are all cached never loads it; `loaded` hands in a (model, tokenizer) pair instead.
    """

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        template: str = DEFAULT_TEMPLATE,
        batch_size: int = 8,
        max_length: int = 2048,
        dtype: str = "auto",
        quantization: str | None = None,
        trust_remote_code: bool = False,
        tie_margin: float = 0.0,
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        super().__init__(tie_margin=tie_margin)
        if dtype not in DTYPES:
            raise JudgeError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
        if batch_size < 1 or max_length < 1:
            raise JudgeError("batch size and max length must be positive")
        if quantization is not None:
            from training.models import quantization_config

            quantization_config(quantization)  # fails now, not mid-run, without CUDA
        self.model = str(model)
        self.template = template
        self.prompt_template: PairwiseTemplate = load_template(template)
        self.batch_size = batch_size
        self.max_length = max_length
        self.dtype = dtype
        self.quantization = quantization
        self.trust_remote_code = trust_remote_code
        self._loaded = loaded
        self.forward_passes = 0  # batches run through the model, for tests and benches

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "max_length": self.max_length,
            "dtype": self.dtype,
            "quantization": self.quantization,
        }

    @property
    def lm(self) -> tuple[Any, Any]:
        """The (model, tokenizer) pair, loaded on first use."""
        if self._loaded is None:
            from training.models import load_causal_lm, torch_dtype

            self._loaded = load_causal_lm(
                self.model,
                dtype=torch_dtype(self.dtype),
                quantization=self.quantization,
                trust_remote_code=self.trust_remote_code,
            )
            self._loaded[0].eval()
        return self._loaded

    def render(self, prompt: list[dict[str, str]], first: str, second: str) -> list[int]:
        """Token ids of the judge prompt for one order, ending where the answer letter goes."""
        _, tokenizer = self.lm
        template = self.prompt_template
        user = template.user_message(prompt, first, second)
        if tokenizer.chat_template:
            messages = [{"role": "system", "content": template.system}] if template.system else []
            messages.append({"role": "user", "content": user})
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            return tokenizer(text + template.answer_prefix, add_special_tokens=False)["input_ids"]
        text = f"{template.system}\n\n{user}\n\n{template.answer_prefix}".lstrip()
        return tokenizer(text)["input_ids"]

    def batches(self, shown: Sequence[Shown]) -> tuple[list[Batch], dict[int, OrderScore]]:
        """Prompts in batches, longest first, and failed scores for those over `max_length`.

        A batch is (positions in `shown`, token ids). Long prompts are never truncated.
        """
        encoded = [self.render(*triple) for triple in shown]
        failed = {
            i: OrderScore(
                None, {"error": f"prompt of {len(ids)} tokens exceeds max_length {self.max_length}"}
            )
            for i, ids in enumerate(encoded)
            if len(ids) > self.max_length
        }
        fitting = sorted(
            (i for i in range(len(shown)) if i not in failed), key=lambda i: -len(encoded[i])
        )
        batches = []
        for start in range(0, len(fitting), self.batch_size):
            positions = fitting[start : start + self.batch_size]
            batches.append((positions, [encoded[i] for i in positions]))
        return batches, failed


class LogitJudge(LocalLMJudge):
    """Scores each order by the probability of the first-shown letter against the second's.

    With `share_prefix` (the default) the start all prompts share runs once and each batch
    continues from it; the scores are the same either way, up to rounding.
    """

    name = "llm"
    share_prefix = True

    def letter_ids(self) -> tuple[list[int], list[int]]:
        """Token ids that spell each answer letter as one token (with or without a space)."""
        _, tokenizer = self.lm
        ids: list[list[int]] = []
        for letter in self.prompt_template.letters:
            variants = {
                tuple(tokenizer(form, add_special_tokens=False)["input_ids"])
                for form in (letter, " " + letter)
            }
            single = sorted(v[0] for v in variants if len(v) == 1)
            if not single:
                raise JudgeError(
                    f"the tokenizer of {self.model} splits the answer letter {letter!r}"
                )
            ids.append(single)
        return ids[0], ids[1]

    def score_orders(self, shown: Sequence[Shown]) -> list[OrderScore]:
        import torch

        first_ids, second_ids = self.letter_ids()
        batches, scores = self.batches(shown)
        every = [ids for _, sequences in batches for ids in sequences]
        prefix = shared_prefix(every) if self.share_prefix else []
        cache = self._prefix_cache(prefix)
        skip = cache.length if cache else 0
        for positions, sequences in batches:
            pause_point()
            logits = self._last_logits([ids[skip:] for ids in sequences], cache)
            self.forward_passes += 1
            log_probs = torch.log_softmax(logits, dim=-1)
            lp_first = torch.logsumexp(log_probs[:, first_ids], dim=-1)
            lp_second = torch.logsumexp(log_probs[:, second_ids], dim=-1)
            p_first = torch.sigmoid(lp_first - lp_second)
            for row, position in enumerate(positions):
                scores[position] = _letter_score(
                    float(p_first[row]), float(lp_first[row]), float(lp_second[row])
                )
        return [scores[i] for i in range(len(shown))]

    def _prefix_cache(self, prefix: list[int]) -> PrefixCache | None:
        """The model's cache after reading `prefix`; None for no prefix, or for a model whose
        cache cannot be copied per batch (then every batch reads its prompts whole)."""
        import torch

        if not prefix:
            return None
        model, _ = self.lm
        with torch.inference_mode():
            input_ids = torch.tensor([prefix], dtype=torch.long, device=model.device)
            past = model(input_ids=input_ids, use_cache=True)[cache_keyword(model)]
        if not hasattr(past, "batch_repeat_interleave"):
            return None
        return PrefixCache(len(prefix), past)

    def _last_logits(self, suffixes: list[list[int]], cache: PrefixCache | None) -> Any:
        """Next-token logits after each sequence: the prefix (if cached), then its suffix.

        Suffixes are left-padded, so with a prefix the padding sits between the two and is
        masked out; positions continue from the prefix.
        """
        import torch

        model, tokenizer = self.lm
        input_ids, suffix_mask = left_pad(suffixes, tokenizer.pad_token_id, model.device)
        position_ids = (suffix_mask.cumsum(-1) - 1).clamp(min=0)
        attention_mask, past = suffix_mask, None
        with torch.inference_mode():
            if cache is not None:
                rows = len(suffixes)
                prefix_mask = suffix_mask.new_ones((rows, cache.length))
                attention_mask = torch.cat([prefix_mask, suffix_mask], dim=1)
                position_ids = position_ids + cache.length
                past = copy.deepcopy(cache.past)
                past.batch_repeat_interleave(rows)
            output = model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                position_ids=position_ids,
                use_cache=past is not None,
                **{cache_keyword(model): past},
                logits_to_keep=1,
            )
            return output.logits[:, -1, :].float()


def cache_keyword(model: Any) -> str:
    """The name a model's forward takes (and its output gives) the key/value cache by: `cache`
    in recent transformers, where the older `past_key_values` is deprecated, else the latter.
    A PEFT model passes it on to the model it wraps."""
    unwrapped = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(unwrapped.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


@dataclass
class PrefixCache:
    """A model's key/value cache after reading the `length` tokens every prompt starts with."""

    length: int
    past: Any


def shared_prefix(sequences: list[list[int]], minimum: int = MIN_SHARED_PREFIX) -> list[int]:
    """The tokens every sequence starts with, leaving each at least one token of its own; empty
    when fewer than `minimum` (too few to be worth a cache).

    >>> shared_prefix([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 9]], minimum=2)
    [1, 2]
    >>> shared_prefix([[1, 2, 3]], minimum=2)
    [1, 2]
    """
    if not sequences:
        return []
    first = sequences[0]
    length = min(len(ids) for ids in sequences) - 1
    for ids in sequences[1:]:
        length = next((i for i in range(length) if ids[i] != first[i]), length)
    return first[:length] if length >= minimum else []


def _letter_score(p_first: float, lp_first: float, lp_second: float) -> OrderScore:
    """An order's score from the letters' log-probabilities; non-finite numbers fail it."""
    raw = {"logprob_first": round(lp_first, 4), "logprob_second": round(lp_second, 4)}
    if not all(math.isfinite(x) for x in (p_first, lp_first, lp_second)):
        return OrderScore(None, {"error": "the model gave non-finite logits", **raw})
    raw["letter_mass"] = round(math.exp(lp_first) + math.exp(lp_second), 4)
    return OrderScore(p_first, raw)


def left_pad(sequences: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    """Input ids and attention mask for token sequences padded on the left to one length."""
    import torch

    width = max(len(ids) for ids in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, ids in enumerate(sequences):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        attention_mask[row, width - len(ids) :] = 1
    return input_ids.to(device), attention_mask.to(device)
