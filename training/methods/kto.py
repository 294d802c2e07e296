"""Kahneman-Tversky optimisation on unpaired thumbs (and both sides of labelled pairs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from training.methods.common import ReferenceSettings, check, check_choice

KTO_LOSSES = ("kto", "apo_zero_unpaired")


@dataclass
class KTOSettings(ReferenceSettings):
    """Settings of a KTO run; trains with TRL's KTOTrainer on prompt/completion/label rows.

    With LoRA the reference model is the base with the adapter disabled: no second copy.
    """

    trl_config_name: ClassVar[str] = "KTOConfig"

    loss_type: str = field(
        default="kto", metadata={"help": f"KTO loss variant: {', '.join(KTO_LOSSES)}."}
    )
    desirable_weight: float = field(
        default=1.0, metadata={"help": "Loss weight of liked (label true) completions."}
    )
    undesirable_weight: float = field(
        default=1.0, metadata={"help": "Loss weight of disliked (label false) completions."}
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("loss_type", self.loss_type, KTO_LOSSES)
        check(self.desirable_weight > 0, "desirable_weight", self.desirable_weight, "positive")
        check(
            self.undesirable_weight > 0, "undesirable_weight", self.undesirable_weight, "positive"
        )

    def extra_arguments(self) -> dict:
        return dict(
            beta=self.beta,
            loss_type=self.loss_type,
            desirable_weight=self.desirable_weight,
            undesirable_weight=self.undesirable_weight,
        )
