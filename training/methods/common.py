"""Settings every training method shares: optimisation, LoRA, precision, and what a run evaluates."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

QUANTIZATIONS = ("none", "4bit", "8bit")
ALL_LINEAR = "all-linear"


def check(ok: bool, name: str, value: object, expected: str) -> None:
    """Raise ValueError naming the setting and its bad value unless `ok`."""
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """Raise ValueError naming the setting unless `value` is one of `choices`."""
    check(value in choices, name, value, f"one of {', '.join(choices)}")


def help_text(settings_class: type, name: str) -> str:
    """The help text of one setting."""
    fields = {f.name: f for f in dataclasses.fields(settings_class)}
    return fields[name].metadata.get("help", "")


@dataclass
class CommonSettings:
    """What every method needs: optimiser, batch, sequence length, LoRA, precision, evaluation.

    Values are checked on construction; a bad one raises ValueError naming the setting.
    Subclasses add their method's own settings and name the TRL config they turn into.
    """

    trl_config_name: ClassVar[str] = ""

    learning_rate: float = field(
        default=5e-5, metadata={"help": "Peak learning rate of the AdamW optimiser."}
    )
    max_steps: int = field(
        default=-1,
        metadata={"help": "Optimiser steps to train; -1 trains for num_train_epochs instead."},
    )
    num_train_epochs: float = field(
        default=1.0, metadata={"help": "Passes over the training split (when max_steps is -1)."}
    )
    per_device_train_batch_size: int = field(
        default=4, metadata={"help": "Examples per device in each forward pass."}
    )
    gradient_accumulation_steps: int = field(
        default=1, metadata={"help": "Forward passes summed into one optimiser step."}
    )
    warmup_ratio: float = field(
        default=0.0, metadata={"help": "Share of the steps spent warming the learning rate up."}
    )
    max_length: int = field(
        default=512, metadata={"help": "Longest tokenized example (prompt and completion)."}
    )
    use_lora: bool = field(
        default=True,
        metadata={"help": "Train a LoRA adapter (PEFT) instead of every weight of the model."},
    )
    lora_rank: int = field(default=16, metadata={"help": "Rank r of the LoRA update matrices."})
    lora_alpha: int = field(
        default=32, metadata={"help": "LoRA scaling numerator (the update is scaled by alpha/r)."}
    )
    lora_dropout: float = field(
        default=0.05, metadata={"help": "Dropout on the LoRA branch during training."}
    )
    lora_target_modules: list[str] | str = field(
        default=ALL_LINEAR,
        metadata={
            "help": "Module names to adapt (e.g. [q_proj, v_proj]), or 'all-linear' for every "
            "linear layer except the output head."
        },
    )
    quantization: str = field(
        default="none",
        metadata={"help": "Load the base model in 4bit or 8bit (QLoRA; needs CUDA), or none."},
    )
    bf16: bool | None = field(
        default=None,
        metadata={"help": "bfloat16 mixed precision; unset means on where the GPU supports it."},
    )
    gradient_checkpointing: bool = field(
        default=False,
        metadata={"help": "Recompute activations in the backward pass: less memory, ~20% slower."},
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": "Run model code shipped with the model's files (only for models you trust)."
        },
    )
    seed: int = field(default=42, metadata={"help": "Random seed for data order and LoRA init."})
    logging_steps: int = field(
        default=1, metadata={"help": "Optimiser steps between two lines of metrics.jsonl."}
    )
    save_steps: int = field(
        default=50, metadata={"help": "Optimiser steps between two checkpoints (for resuming)."}
    )
    eval_batch_size: int = field(
        default=8, metadata={"help": "Examples per batch when scoring the held-out split."}
    )
    eval_pairs: int = field(
        default=64,
        metadata={"help": "Most held-out pairs scored before and after training (0: none)."},
    )
    sample_prompts: int = field(
        default=8,
        metadata={
            "help": "Held-out prompts to answer with the base and trained model after training."
        },
    )
    max_new_tokens: int = field(
        default=64, metadata={"help": "Longest sample generation, in new tokens."}
    )

    def __post_init__(self) -> None:
        check(self.learning_rate > 0, "learning_rate", self.learning_rate, "positive")
        check(self.max_steps == -1 or self.max_steps > 0, "max_steps", self.max_steps, "-1 or > 0")
        check(self.num_train_epochs > 0, "num_train_epochs", self.num_train_epochs, "positive")
        for name in (
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "max_length",
            "lora_rank",
            "lora_alpha",
            "logging_steps",
            "save_steps",
            "eval_batch_size",
            "max_new_tokens",
        ):
            value = getattr(self, name)
            check(isinstance(value, int) and value > 0, name, value, "a positive integer")
        check(0 <= self.warmup_ratio < 1, "warmup_ratio", self.warmup_ratio, "in [0, 1)")
        check(0 <= self.lora_dropout < 1, "lora_dropout", self.lora_dropout, "in [0, 1)")
        check(self.sample_prompts >= 0, "sample_prompts", self.sample_prompts, ">= 0")
        check(self.eval_pairs >= 0, "eval_pairs", self.eval_pairs, ">= 0")
        targets = self.lora_target_modules
        check(
            targets == ALL_LINEAR
            or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets)),
            "lora_target_modules",
            targets,
            f"'{ALL_LINEAR}' or a non-empty list of module names",
        )
        check_choice("quantization", self.quantization, QUANTIZATIONS)
        check(
            self.quantization == "none" or self.use_lora,
            "quantization",
            self.quantization,
            "none when use_lora is off (a quantized model trains only through an adapter)",
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings as plain values, as written to config.yaml."""
        return dataclasses.asdict(self)

    def trainer_arguments(self, output_dir: str, *, cuda: bool, bf16_supported: bool) -> dict:
        """Keyword arguments of the TRL config shared by all methods."""
        return dict(
            output_dir=output_dir,
            learning_rate=self.learning_rate,
            max_steps=self.max_steps,
            num_train_epochs=self.num_train_epochs,
            per_device_train_batch_size=self.per_device_train_batch_size,
            gradient_accumulation_steps=self.gradient_accumulation_steps,
            warmup_steps=self.warmup_ratio,
            max_length=self.max_length,
            bf16=bf16_supported if self.bf16 is None else self.bf16,
            activation_checkpointing=self.gradient_checkpointing,
            trust_remote_code=self.trust_remote_code,
            seed=self.seed,
            logging_steps=self.logging_steps,
            save_strategy="steps",
            save_steps=self.save_steps,
            save_total_limit=2,
            use_cpu=not cuda,
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
        )

    def extra_arguments(self) -> dict:
        """Keyword arguments of this method's own TRL config (none here)."""
        return {}

    def lora_config(self, task_type: str) -> Any:
        """The PEFT LoRA config for these settings, or None when LoRA is off."""
        if not self.use_lora:
            return None
        from peft import LoraConfig

        return LoraConfig(
            r=self.lora_rank,
            lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout,
            target_modules=self.lora_target_modules,
            task_type=task_type,
            modules_to_save=["score"] if task_type == "SEQ_CLS" else None,
        )


@dataclass
class ReferenceSettings(CommonSettings):
    """Settings of methods trained against a frozen reference (DPO, KTO): how far to drift."""

    beta: float = field(
        default=0.1,
        metadata={"help": "How far the policy may drift from the reference (higher: less)."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.beta > 0, "beta", self.beta, "positive")
