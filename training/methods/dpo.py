"""Direct preference optimisation on chosen/rejected pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from training.methods.common import ReferenceSettings, check, check_choice

DPO_LOSSES = ("sigmoid", "hinge", "ipo", "robust", "bco_pair", "apo_zero", "apo_down")


@dataclass
class DPOSettings(ReferenceSettings):
    """Settings of a DPO run; trains with TRL's DPOTrainer on preference rows.

    With LoRA the reference model is the base with the adapter disabled: no second copy.
    """

    trl_config_name: ClassVar[str] = "DPOConfig"

    loss_type: str = field(
        default="sigmoid", metadata={"help": f"DPO loss variant: {', '.join(DPO_LOSSES)}."}
    )
    sft_weight: float = field(
        default=0.0,
        metadata={
            "help": "Weight of an SFT loss on the chosen answers beside the DPO loss (RPO), "
            "which keeps their likelihood from falling; 0: DPO alone."
        },
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("loss_type", self.loss_type, DPO_LOSSES)
        check(self.sft_weight >= 0, "sft_weight", self.sft_weight, ">= 0")

    def extra_arguments(self) -> dict:
        if self.sft_weight == 0:
            return dict(beta=self.beta, loss_type=[self.loss_type])
        losses = dict(loss_type=[self.loss_type, "sft"], loss_weights=[1.0, self.sft_weight])
        return dict(beta=self.beta, **losses)
