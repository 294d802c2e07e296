"""Direct preference optimisation on chosen/rejected pairs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from training.methods.common import ReferenceSettings, check_choice

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

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("loss_type", self.loss_type, DPO_LOSSES)

    def extra_arguments(self) -> dict:
        return dict(beta=self.beta, loss_type=[self.loss_type])
