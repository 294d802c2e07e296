"""The training methods: each maps to its settings, the snapshot format it reads, and a TRL trainer.

>>> get_method("rm").snapshot_format
'dpo'
>>> settings_from_dict("dpo", {"beta": 0.2}).beta
0.2
"""

from __future__ import annotations

import contextlib
import dataclasses
import types
import typing
from dataclasses import dataclass
from typing import Any

from training.methods.common import CommonSettings
from training.methods.dpo import DPOSettings
from training.methods.kto import KTOSettings
from training.methods.rm import RMSettings
from training.methods.sft import SFTSettings


@dataclass(frozen=True)
class Method:
    """One way to train: its settings class, the snapshot format it reads, and its TRL trainer."""

    name: str
    settings: type[CommonSettings]
    snapshot_format: str
    trainer: str
    model_kind: str  # "causal" (a language model) or "classifier" (a reward model)
    peft_task: str
    description: str


METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Method(
            "sft", SFTSettings, "sft", "SFTTrainer", "causal", "CAUSAL_LM", "imitate demonstrations"
        ),
        Method(
            "rm",
            RMSettings,
            "dpo",
            "RewardTrainer",
            "classifier",
            "SEQ_CLS",
            "a reward model scoring chosen above rejected",
        ),
        Method(
            "dpo",
            DPOSettings,
            "dpo",
            "DPOTrainer",
            "causal",
            "CAUSAL_LM",
            "learn from pairs directly",
        ),
        Method(
            "kto",
            KTOSettings,
            "kto",
            "KTOTrainer",
            "causal",
            "CAUSAL_LM",
            "learn from thumbs up/down",
        ),
    )
}


def get_method(name: str) -> Method:
    """The method called `name`; ValueError naming the choices otherwise."""
    if name not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {name!r}")
    return METHODS[name]


def settings_from_dict(method: str, values: dict[str, Any] | None = None) -> CommonSettings:
    """Build and check a method's settings from plain values; unknown names and values of the
    wrong type raise ValueError naming the setting."""
    settings_class = get_method(method).settings
    known = {f.name for f in dataclasses.fields(settings_class)}
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise ValueError(f"unknown {method} setting(s): {', '.join(unknown)}")
    hints = typing.get_type_hints(settings_class)
    typed = {name: typed_value(name, hints[name], value) for name, value in (values or {}).items()}
    return settings_class(**typed)


_KINDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a number",
    str: "text",
    type(None): "null",
}


def typed_value(name: str, hint: Any, value: Any) -> Any:
    """`value` for a setting of type `hint` (float, int, bool, str, a list of str, or a union
    of them); a number written as text becomes a float (YAML reads `1e-3` as text). ValueError
    naming the setting when the type is wrong.

    >>> typed_value("learning_rate", float, "1e-3"), typed_value("seed", int, 7)
    (0.001, 7)
    """
    allowed = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if any(_is_kind(kind, value) for kind in allowed):
        return value
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if float in allowed and (is_number or isinstance(value, str)):
        with contextlib.suppress(ValueError):
            return float(value)
    kinds = [_KINDS.get(kind, "a list of names") for kind in allowed]
    raise ValueError(f"{name} must be {' or '.join(kinds)}, got {value!r}")


def _is_kind(kind: Any, value: Any) -> bool:
    """Whether `value` is of type `kind` as typed_value reads it (a bool is no number)."""
    if typing.get_origin(kind) is list:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    if kind is type(None):
        return value is None
    if kind in (int, float) and isinstance(value, bool):
        return False
    return isinstance(value, kind)


def trl_config(method: str, settings: CommonSettings, output_dir: str) -> Any:
    """The TRL config object (DPOConfig, ...) for a method's settings, on this machine."""
    import torch
    import trl

    cuda = torch.cuda.is_available()
    arguments = settings.trainer_arguments(
        output_dir, cuda=cuda, bf16_supported=cuda and torch.cuda.is_bf16_supported()
    )
    arguments.update(settings.extra_arguments())
    return getattr(trl, settings.trl_config_name)(**arguments)


def trainer_class(method: str) -> type:
    """The TRL trainer class of a method."""
    import trl

    return getattr(trl, get_method(method).trainer)


__all__ = [
    "METHODS",
    "CommonSettings",
    "DPOSettings",
    "KTOSettings",
    "Method",
    "RMSettings",
    "SFTSettings",
    "get_method",
    "settings_from_dict",
    "trainer_class",
    "trl_config",
]
