"""Supervised fine-tuning on demonstrations (chosen responses, edits, imported SFT rows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from training.methods.common import CommonSettings


@dataclass
class SFTSettings(CommonSettings):
    """Settings of an SFT run; trains with TRL's SFTTrainer on prompt/completion rows."""

    trl_config_name: ClassVar[str] = "SFTConfig"

    learning_rate: float = field(
        default=1e-4, metadata={"help": "Peak learning rate of the AdamW optimiser."}
    )
    completion_only_loss: bool = field(
        default=True,
        metadata={"help": "Count the loss on completion tokens only, not on the prompt."},
    )

    def extra_arguments(self) -> dict:
        return dict(completion_only_loss=self.completion_only_loss)
