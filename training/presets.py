"""Setting presets: defaults that suit a model's size and the hardware, and short runs to try things.

One-click DPO uses `suggested_settings(model)` with the `standard` preset.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Settings layered over a method's defaults, by how long the user wants to wait.
PRESETS: dict[str, dict[str, Any]] = {
    "smoke": {"max_steps": 3, "eval_pairs": 16, "sample_prompts": 2, "max_new_tokens": 16},
    "standard": {},
    "thorough": {"num_train_epochs": 3.0, "max_steps": -1},
}

SMALL_MODEL = 500_000_000  # parameters: trains on a CPU in minutes
LARGE_MODEL = 3_000_000_000  # parameters: wants 4-bit on a single GPU


def parameter_count(model_dir: str | Path) -> int | None:
    """Parameters of a local model folder, read from its safetensors headers (no weights loaded).

    None when the folder is not local or has no safetensors files.
    """
    folder = Path(model_dir)
    if not folder.is_dir():
        return None
    total = 0
    for shard in folder.glob("*.safetensors"):
        with open(shard, "rb") as handle:
            header_size = int.from_bytes(handle.read(8), "little")
            header = json.loads(handle.read(header_size))
        for name, tensor in header.items():
            if name != "__metadata__":
                count = 1
                for dim in tensor["shape"]:
                    count *= dim
                total += count
    return total or None


def size_defaults(parameters: int | None, *, cuda: bool) -> dict[str, Any]:
    """LoRA and batch settings suited to a model with `parameters` weights on this hardware."""
    if parameters is not None and parameters <= SMALL_MODEL:
        if cuda:
            return {"learning_rate": 1e-4, "per_device_train_batch_size": 8, "max_length": 1024}
        # A 2-core CPU does about 18 pairs a minute on a 135M model: about one pass over a few
        # hundred pairs at a brisk rate (2e-3 overshoots) in a quarter of an hour.
        return {
            "learning_rate": 1e-3,
            "per_device_train_batch_size": 4,
            "max_length": 192,
            "max_steps": 80,
        }
    if parameters is None or parameters <= LARGE_MODEL:  # unknown: assume mid-sized
        return {
            "learning_rate": 5e-5,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 4,
            "max_length": 1024,
            "gradient_checkpointing": True,
        }
    return {
        "learning_rate": 2e-5,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 8,
        "max_length": 1024,
        "gradient_checkpointing": True,
        "quantization": "4bit" if cuda else "none",
    }


def suggested_settings(
    model_dir: str | Path | None, preset: str = "standard", *, cuda: bool = False
) -> dict[str, Any]:
    """Settings for a model (its folder, when local) under a preset."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    settings = size_defaults(parameter_count(model_dir) if model_dir else None, cuda=cuda)
    return {**settings, **PRESETS[preset]}


def preset_settings(model: str, preset: str = "standard") -> dict[str, Any]:
    """Suggested settings for a model by name (hub id, folder or alias) on this machine."""
    from curation.errors import PrefstudioError
    from training.models import resolve_model
    from training.runs import cuda_device_count

    try:
        folder = resolve_model(model)
    except PrefstudioError:
        folder = None
    return suggested_settings(folder, preset, cuda=cuda_device_count() > 0)
