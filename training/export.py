"""Exporting a finished run's model: its adapter folder, or the adapter merged into the base model.

Either result loads with `from_pretrained` (an adapter folder through PEFT, or
`AutoPeftModelForCausalLM`; a merged folder with the plain auto classes), and names its run
(`curation.arena.model_names`), so answers generated from it count as the run's.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from curation.arena.model_names import run_model_name, write_model_identity
from curation.results import Fields
from training.methods import get_method
from training.models import adapter_base
from training.run_spec import MODEL_DIR
from training.runs import RunError


@dataclass(frozen=True)
class ExportedModel(Fields):
    """Where a run's model was written, and whether merged into its base weights."""

    id: int
    out: str
    merged: bool

    def text(self) -> str:
        kind = "merged model" if self.merged else "model"
        return f"wrote run {self.id}'s {kind} to {self.out}"


def export_run_model(run: dict, out: str | Path, *, merged: bool = False) -> Path:
    """Write the model of `run` (its fields, as RunRecord.to_dict or the runs API give them) to
    the new folder `out`; return it.

    `merged` folds a LoRA adapter into a copy of the base weights (a full model folder).
    """
    if run["status"] != "succeeded":
        raise RunError(f"run {run['id']} is {run['status']}; only a succeeded run has a model")
    source = Path(run["out_dir"]) / MODEL_DIR
    out = Path(out)
    if out.exists():
        raise RunError(f"{out} already exists; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        if merged and adapter_base(str(source)):
            _write_merged(source, staging, get_method(run["method"]).model_kind)
        else:
            shutil.copytree(source, staging, dirs_exist_ok=True)
        (staging / "training_args.bin").unlink(missing_ok=True)
        write_model_identity(staging, run_model_name(run["id"]))  # it plays as run:<id>
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def _write_merged(adapter_dir: Path, target: Path, model_kind: str) -> None:
    """Load base + adapter, merge the adapter into the weights, and save model and tokenizer."""
    from training.models import load_causal_lm, load_sequence_classifier

    load = load_sequence_classifier if model_kind == "classifier" else load_causal_lm
    model, tokenizer = load(str(adapter_dir), dtype="auto")
    model = model.merge_and_unload()
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)
