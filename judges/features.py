"""Response features from one forward pass of a base model, cached on disk.

A response's feature vector is the mean of the model's last hidden states over the response's
tokens, read after (the end of) its prompt, so the states see the conversation they answer.
Vectors are cached per model and per hash of (prompt, response), in one `.npz` file per model
and reading settings: learning again as labels arrive runs the model only on new responses.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from curation.jobs.pacing import pause_point
from judges.base import JudgeError, prompt_text

Conversation = tuple[list[dict[str, str]], str]  # (prompt messages, response)
Progress = Callable[[int, int], None]  # (responses read so far, responses to read)
SAVE_EVERY = 512  # responses read between writes of the cache


def text_key(prompt: list[dict[str, str]], response: str) -> str:
    """The cache key of a response in the context of its prompt.

    >>> len(text_key([{"role": "user", "content": "Hi"}], "Hello"))
    40
    """
    canonical = json.dumps([prompt, response], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


def model_identity(model: str) -> str:
    """A model's name for the cache: the alias or hub id, or a folder's path and weights' date."""
    from training.models import resolve_model

    resolved = Path(resolve_model(model))
    if not resolved.is_dir():
        return model
    stamp = max((p.stat().st_mtime_ns for p in resolved.glob("*.safetensors")), default=0)
    return f"{resolved.resolve()}@{stamp}"


class ResponseFeatures:
    """Mean-pooled last hidden states of `model` over responses, with an on-disk cache.

    `context_tokens` keeps the end of the prompt, `response_tokens` the start of the response
    (features are for learning, so long texts are cut rather than failed). The model is loaded
    on first need; `loaded` hands in a (model, tokenizer) pair instead.
    """

    def __init__(
        self,
        model: str,
        cache_dir: Path | None,
        *,
        context_tokens: int = 128,
        response_tokens: int = 256,
        batch_size: int = 8,
        loaded: tuple[Any, Any] | None = None,
    ) -> None:
        if min(context_tokens, response_tokens, batch_size) < 1:
            raise JudgeError("context tokens, response tokens and batch size must be positive")
        self.model = model
        self.context_tokens = context_tokens
        self.response_tokens = response_tokens
        self.batch_size = batch_size
        self._loaded = loaded
        self.computed = 0  # responses run through the model, for tests and benches
        self.path = None
        if cache_dir is not None:
            settings = f"{model_identity(model)}|{context_tokens}|{response_tokens}"
            digest = hashlib.sha256(settings.encode()).hexdigest()[:24]
            self.path = Path(cache_dir) / f"{digest}.npz"
        self._cache: dict[str, np.ndarray] | None = None

    def settings(self) -> dict[str, int]:
        """The reading settings that change the features."""
        return {"context_tokens": self.context_tokens, "response_tokens": self.response_tokens}

    @property
    def lm(self) -> tuple[Any, Any]:
        """The (model, tokenizer) pair, loaded on first use."""
        if self._loaded is None:
            from training.models import inference_dtype, load_causal_lm

            self._loaded = load_causal_lm(self.model, dtype=inference_dtype())
            self._loaded[0].eval()
        return self._loaded

    def _cached(self) -> dict[str, np.ndarray]:
        """The cache, read from disk on first use."""
        if self._cache is None:
            self._cache = {}
            if self.path is not None and self.path.is_file():
                with np.load(self.path, allow_pickle=False) as saved:
                    self._cache = dict(zip(saved["keys"].tolist(), saved["values"], strict=True))
        return self._cache

    def _save(self) -> None:
        """Write the cache whole, aside first, then renamed into place."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self._cached()), dtype=str)
        values = np.stack(list(self._cached().values()))
        handle, scratch = tempfile.mkstemp(dir=self.path.parent, suffix=".npz")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, keys=keys, values=values)
        os.replace(scratch, self.path)

    def __call__(
        self, conversations: Sequence[Conversation], progress: Progress | None = None
    ) -> np.ndarray:
        """One feature row per (prompt, response); only responses not cached run the model."""
        cache = self._cached()
        keys = [text_key(prompt, response) for prompt, response in conversations]
        missing = {
            key: conv for key, conv in zip(keys, conversations, strict=True) if key not in cache
        }
        todo = list(missing.items())
        for start in range(0, len(todo), SAVE_EVERY):  # an interrupted read keeps its chunks
            chunk = dict(todo[start : start + SAVE_EVERY])
            found = self._compute(list(chunk.values()), start, len(todo), progress)
            cache.update(zip(chunk, found, strict=True))
            self._save()
        return np.stack([cache[key] for key in keys]).astype(np.float32)

    def _encode(self, prompt: list[dict[str, str]], response: str) -> tuple[list[int], int]:
        """Token ids of the prompt's end and the response's start, and where the response starts."""
        _, tokenizer = self.lm
        if tokenizer.chat_template:
            opening = tokenizer.apply_chat_template(
                prompt, tokenize=False, add_generation_prompt=True
            )
        else:
            opening = f"{prompt_text(prompt)}\n\n"
        context = tokenizer(opening, add_special_tokens=False)["input_ids"][-self.context_tokens :]
        answer = tokenizer(response, add_special_tokens=False)["input_ids"]
        answer = [*answer[: self.response_tokens - 1], tokenizer.eos_token_id]
        return [*context, *answer], len(context)

    def _compute(
        self, conversations: list[Conversation], done: int, total: int, progress: Progress | None
    ) -> list:
        """Features of conversations, run in right-padded batches sorted by length; `done` of
        `total` responses were read before these, for `progress`."""
        import torch

        model, tokenizer = self.lm
        encoded = [self._encode(prompt, response) for prompt, response in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        found: list[np.ndarray | None] = [None] * len(encoded)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        for start in range(0, len(order), self.batch_size):
            pause_point()
            positions = order[start : start + self.batch_size]
            width = max(len(encoded[i][0]) for i in positions)
            ids = torch.full((len(positions), width), pad, dtype=torch.long)
            attention = torch.zeros_like(ids)
            pooled = torch.zeros_like(ids, dtype=torch.float32)
            for row, i in enumerate(positions):
                tokens, answer_start = encoded[i]
                ids[row, : len(tokens)] = torch.tensor(tokens)
                attention[row, : len(tokens)] = 1
                pooled[row, answer_start : len(tokens)] = 1
            with torch.inference_mode():
                states = model.base_model(
                    input_ids=ids.to(model.device), attention_mask=attention.to(model.device)
                ).last_hidden_state.float()
            weights = pooled.to(states.device)[:, :, None]
            means = (states * weights).sum(1) / weights.sum(1)
            for row, i in enumerate(positions):
                found[i] = means[row].cpu().numpy()
            done += len(positions)
            self.computed += len(positions)
            if progress:
                progress(done, total)
        return found
