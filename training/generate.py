"""Generating candidate responses: N samples per prompt, batched, with the chat template applied.

`generate_texts` is the pure part (model, tokenizer, prompts → texts). `generate_candidates`
runs it for the prompts of a store and writes each batch as it finishes, in one transaction
per batch, so a cancelled or failed run keeps every batch completed before it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from curation.arena.candidates import (
    PROMPT_CHOICES,
    GeneratedResponse,
    PromptToGenerate,
    add_generated_responses,
    prompts_from_file,
    prompts_to_generate,
)
from curation.errors import BadInput, PrefstudioError
from curation.jobs.pacing import pause_point
from curation.results import Fields
from curation.store.store import Store

Messages = list[dict[str, str]]
Progress = Callable[[int, int], None]  # (prompts done, prompts in all)
ShouldStop = Callable[[], bool]


class GenerationError(PrefstudioError):
    """Generation cannot run as asked (bad sampling settings, nothing to generate from)."""


@dataclass(frozen=True)
class SamplingSettings:
    """How to sample: `n` samples per prompt; temperature 0 means greedy decoding."""

    n: int = 1
    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise GenerationError(f"samples per prompt must be at least 1, not {self.n}")
        if self.temperature < 0:
            raise GenerationError(f"temperature must be 0 (greedy) or more, not {self.temperature}")
        if self.n > 1 and self.temperature == 0:
            raise GenerationError(
                f"{self.n} samples per prompt need a temperature above 0; greedy decoding "
                "writes the same text every time"
            )
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], not {self.top_p}")
        if self.max_new_tokens < 1:
            raise GenerationError(f"max new tokens must be at least 1, not {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `model.generate`."""
        if self.greedy:
            sampling: dict[str, Any] = {"do_sample": False, "temperature": None, "top_p": None}
        else:
            sampling = {"do_sample": True, "temperature": self.temperature, "top_p": self.top_p}
        return {
            **sampling,
            "top_k": None,
            "max_new_tokens": self.max_new_tokens,
            "num_return_sequences": self.n,
        }


@dataclass
class Sample:
    """One generated text, its length in new tokens, and whether it ended by itself (EOS)."""

    text: str
    tokens: int
    finished: bool


def as_messages(prompt: str | Messages) -> Messages:
    """A prompt as a conversation: a plain string becomes one user message.

    >>> as_messages("Hi")
    [{'role': 'user', 'content': 'Hi'}]
    """
    return [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)


def prompt_text(tokenizer: Any, messages: Messages) -> str:
    """The text the model continues: the chat template with a generation prompt, or, for a
    tokenizer without a template, the messages' contents separated by blank lines."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return "\n\n".join(m["content"] for m in messages) + "\n\n"


def _stop_token_ids(model: Any, tokenizer: Any) -> set[int]:
    """Token ids that end a generation: the model's EOS ids, the tokenizer's EOS and pad."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    ids = set(eos if isinstance(eos, list) else [eos])
    ids |= {tokenizer.eos_token_id, tokenizer.pad_token_id}
    return {i for i in ids if i is not None}


def _stop_criterion(should_stop: ShouldStop) -> Any:
    """A transformers stopping criterion that ends the whole batch once `should_stop()`."""
    import torch
    from transformers import StoppingCriteria

    class StopWhenAsked(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), should_stop(), device=input_ids.device)

    return StopWhenAsked()


def generate_batches(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str | Messages],
    settings: SamplingSettings = SamplingSettings(),
    *,
    batch_size: int = 8,
    should_stop: ShouldStop | None = None,
) -> Iterator[list[tuple[int, list[Sample]]]]:
    """Yield, batch by batch, (index of the prompt, its `settings.n` samples).

    Prompts are sorted by length (longest first) so each batch pads little, and padded on the
    left. Stops before the next batch, or within a batch (dropping it), once `should_stop()`.
    """
    import torch
    from transformers import StoppingCriteriaList

    if batch_size < 1:
        raise GenerationError(f"batch size must be at least 1, not {batch_size}")
    texts = [prompt_text(tokenizer, as_messages(p)) for p in prompts]
    lengths = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    stop_ids = torch.tensor(sorted(_stop_token_ids(model, tokenizer)))
    stopping = StoppingCriteriaList([_stop_criterion(should_stop)] if should_stop else [])
    tokenizer.padding_side = "left"
    torch.manual_seed(settings.seed)
    for start in range(0, len(order), batch_size):
        if should_stop and should_stop():
            return
        pause_point()
        indexes = order[start : start + batch_size]
        batch = tokenizer(
            [texts[i] for i in indexes],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(
                **batch,
                **settings.generate_kwargs(),
                pad_token_id=tokenizer.pad_token_id,
                stopping_criteria=stopping,
            )
        if should_stop and should_stop():
            return  # cut short: the texts of this batch are incomplete
        new_tokens = output[:, batch["input_ids"].shape[1] :].cpu()
        is_stop = torch.isin(new_tokens, stop_ids)
        ended = is_stop.any(dim=1)
        counts = torch.where(ended, is_stop.int().argmax(dim=1), new_tokens.shape[1])
        decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        samples = [
            Sample(text.strip(), int(count), bool(end))
            for text, count, end in zip(decoded, counts.tolist(), ended.tolist(), strict=True)
        ]
        n = settings.n
        yield [(i, samples[k * n : (k + 1) * n]) for k, i in enumerate(indexes)]


def generate_texts(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str | Messages],
    settings: SamplingSettings = SamplingSettings(),
    *,
    batch_size: int = 8,
) -> list[list[str]]:
    """`settings.n` generated texts for each prompt, in the order of `prompts`."""
    texts: list[list[str]] = [[] for _ in prompts]
    for batch in generate_batches(model, tokenizer, prompts, settings, batch_size=batch_size):
        for index, samples in batch:
            texts[index] = [s.text for s in samples]
    return texts


@dataclass
class GenerateReport(Fields):
    """What a generation call did, per model and in all."""

    models: list[str]
    prompts: int
    settings: dict
    responses_added: int = 0
    samples: int = 0
    new_tokens: int = 0
    prompts_done: int = 0
    cancelled: bool = False
    seconds: float = 0.0
    per_model: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def text(report: dict) -> str:
        """A report (as to_dict gives it, with the server's figures when one was asked) as
        text: new responses per model, the server, then prompts done, new tokens and time."""
        lines = [f"{model}: {added} new responses" for model, added in report["per_model"].items()]
        if report.get("endpoint"):
            lines.append(
                f"{report['endpoint']}: {report['already_stored']} samples already stored, "
                f"{report['retries']} requests retried"
            )
        lines.append(
            f"{report['prompts_done']} of {report['prompts']} prompts, {report['new_tokens']} "
            f"new tokens in {report['seconds']:.1f} s"
            + (" (stopped early; what was done is kept)" if report["cancelled"] else "")
        )
        return "\n".join(lines)


def select_prompts(
    store: Store, models: Sequence[str], prompts: str | Path, limit: int | None
) -> dict[str, list[PromptToGenerate]]:
    """The prompts to generate for, per model: `unlabeled` (no response from that model yet),
    `all`, or a file (imported once, the same prompts for every model)."""
    if str(prompts) in PROMPT_CHOICES:
        return {
            model: prompts_to_generate(store, model, which=str(prompts), limit=limit)
            for model in models
        }
    if not Path(prompts).exists():
        raise BadInput(
            "--prompts", f"expected {' or '.join(PROMPT_CHOICES)} or a prompt file, got {prompts!r}"
        )
    from_file = prompts_from_file(store, Path(prompts), limit=limit)
    return {model: from_file for model in models}


def batch_responses(
    todo: Sequence[PromptToGenerate],
    model_name: str,
    settings: SamplingSettings,
    batch: list[tuple[int, list[Sample]]],
) -> list[GeneratedResponse]:
    """A generated batch as responses to store: each sample with its prompt, the model's name,
    and in its meta the sampling settings, its index, new tokens and whether it finished."""
    return [
        GeneratedResponse(
            todo[index].id,
            sample.text,
            model_name,
            {
                **asdict(settings),
                "sample": k,
                "new_tokens": sample.tokens,
                "finished": sample.finished,
            },
        )
        for index, samples in batch
        for k, sample in enumerate(samples)
    ]


def generate_candidates(
    store: Store,
    models: Sequence[str],
    *,
    prompts: str | Path = "unlabeled",
    limit: int | None = None,
    settings: SamplingSettings = SamplingSettings(),
    batch_size: int = 8,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    load: Callable[[str], tuple[Any, Any]] | None = None,
) -> GenerateReport:
    """Generate `settings.n` samples per prompt from each model and store them batch by batch.

    A model is a hub id, a folder (a LoRA adapter folder, such as a run's output, included) or
    the alias `smollm2-135m`; its responses are stored under that name, with the sampling
    settings in each response's meta. `progress(done, total)` counts prompts over all models;
    once `should_stop()` is true generation ends, keeping the batches already stored.
    """
    if not models:
        raise GenerationError("name at least one model to generate with")
    if load is None:
        from training.models import inference_dtype, load_causal_lm

        load = partial(load_causal_lm, dtype=inference_dtype())
    chosen = select_prompts(store, models, prompts, limit)
    total = sum(len(p) for p in chosen.values())
    report = GenerateReport(list(models), total, asdict(settings))
    started = time.perf_counter()
    for model_name, todo in chosen.items():
        report.per_model[model_name] = 0
        if not todo:
            continue
        model, tokenizer = load(model_name)
        batches = generate_batches(
            model,
            tokenizer,
            [p.messages for p in todo],
            settings,
            batch_size=batch_size,
            should_stop=should_stop,
        )
        for batch in batches:
            rows = batch_responses(todo, model_name, settings, batch)
            added = add_generated_responses(store, rows)
            report.responses_added += added
            report.per_model[model_name] += added
            report.samples += len(rows)
            report.new_tokens += sum(r.meta["new_tokens"] for r in rows)
            report.prompts_done += len(batch)
            if progress:
                progress(report.prompts_done, total)
        del model, tokenizer, batches  # free this model before loading the next
        if should_stop and should_stop():
            report.cancelled = True
            break
    report.seconds = round(time.perf_counter() - started, 3)
    return report
