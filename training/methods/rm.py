"""Reward-model training: a sequence classifier that scores chosen above rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from training.methods.common import CommonSettings, check


@dataclass
class RMSettings(CommonSettings):
    """Settings of a reward-model run; trains with TRL's RewardTrainer on preference rows."""

    trl_config_name: ClassVar[str] = "RewardConfig"

    learning_rate: float = field(
        default=1e-4, metadata={"help": "Peak learning rate of the AdamW optimiser."}
    )
    center_rewards_coefficient: float | None = field(
        default=None,
        metadata={"help": "Weight of a penalty pulling rewards towards zero mean; unset for none."},
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        coefficient = self.center_rewards_coefficient
        check(
            coefficient is None or coefficient >= 0,
            "center_rewards_coefficient",
            coefficient,
            "unset or >= 0",
        )

    def extra_arguments(self) -> dict:
        return dict(center_rewards_coefficient=self.center_rewards_coefficient)
