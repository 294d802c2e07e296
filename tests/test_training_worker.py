"""The training worker: each method trains a tiny model a few steps from snapshot files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from curation.jobs.files import read_chunk, read_metrics
from tests.models import build_tiny_causal_lm, build_tiny_classifier
from tests.training_helpers import tiny_spec, write_split_exports
from training.run_spec import CHECKPOINTS_DIR, write_spec
from training.worker import last_checkpoint, main, train_run


@pytest.fixture(scope="module")
def snapshot_files(tmp_path_factory) -> dict[str, dict[str, Path]]:
    return write_split_exports(tmp_path_factory.mktemp("snapshot"))


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {
        "causal": build_tiny_causal_lm(root / "lm"),
        "classifier": build_tiny_classifier(root / "cls"),
    }


def make_run(tmp_path, method, model, files, **settings) -> Path:
    run_dir = tmp_path / "run"
    write_spec(run_dir, tiny_spec(method, model, files, **settings))
    return run_dir


def changed_lora_tensors(model_dir: Path) -> list[str]:
    """Names of adapter tensors that moved away from their initial value (LoRA B starts at 0)."""
    tensors = load_file(model_dir / "adapter_model.safetensors")
    return [name for name, t in tensors.items() if "lora_B" in name and t.abs().sum() > 0]


@pytest.mark.parametrize(
    ("method", "expected_metric"),
    [
        ("sft", "mean_token_accuracy"),
        ("dpo", "rewards/margins"),
        ("kto", "kl"),
        ("rm", "accuracy"),
    ],
)
def test_each_method_trains_and_writes_metrics_eval_and_adapter(
    tmp_path, snapshot_files, tiny_models, method, expected_metric
):
    model = tiny_models["classifier" if method == "rm" else "causal"]
    run_dir = make_run(tmp_path, method, model, snapshot_files)

    results = train_run(run_dir)

    assert changed_lora_tensors(run_dir / "model"), "training changed no LoRA weight"
    assert json.loads((run_dir / "model" / "adapter_config.json").read_text())["r"] == 4
    metrics = read_metrics(run_dir / "metrics.jsonl")
    steps = [row for row in metrics if "loss" in row]
    assert [row["step"] for row in steps] == [1, 2]
    assert expected_metric in steps[0]
    written = json.loads((run_dir / "result.json").read_text())["eval"]
    assert written == results
    assert written["heldout_pairs"] == 2 and written["train_steps"] == 2
    for key in ("heldout_accuracy_before", "heldout_accuracy_after"):
        assert 0.0 <= written[key] <= 1.0
    answers = read_chunk(run_dir, 1)
    assert len(answers) == (0 if method == "rm" else 2)
    if method == "rm":
        assert written["accuracy_measure"] == "reward score"
        tensors = load_file(run_dir / "model" / "adapter_model.safetensors")
        assert any("score" in name for name in tensors), "the reward head was not saved"


def test_full_fine_tuning_changes_the_model_weights(tmp_path, snapshot_files, tiny_models):
    from transformers import AutoModelForCausalLM

    run_dir = make_run(tmp_path, "sft", tiny_models["causal"], snapshot_files, use_lora=False)
    train_run(run_dir)
    base = AutoModelForCausalLM.from_pretrained(tiny_models["causal"]).state_dict()
    trained = AutoModelForCausalLM.from_pretrained(run_dir / "model").state_dict()
    moved = [name for name in base if not (base[name] == trained[name]).all()]
    assert moved


def test_a_second_start_resumes_from_the_last_checkpoint(tmp_path, snapshot_files, tiny_models):
    run_dir = make_run(
        tmp_path, "dpo", tiny_models["causal"], snapshot_files, max_steps=2, save_steps=1
    )
    train_run(run_dir)
    spec_path = run_dir / "config.yaml"
    spec_path.write_text(spec_path.read_text().replace("max_steps: 2", "max_steps: 3"))
    (run_dir / "metrics.jsonl").unlink()

    train_run(run_dir)

    steps = [row["step"] for row in read_metrics(run_dir / "metrics.jsonl") if "loss" in row]
    assert steps == [3], "the resumed run trained again from step 1"


def test_a_failing_run_writes_its_cause_and_exits_1(tmp_path, snapshot_files, tiny_models):
    run_dir = make_run(tmp_path, "dpo", tmp_path / "no-such-model", snapshot_files)
    assert main([str(run_dir)]) == 1
    error = json.loads((run_dir / "error.json").read_text())
    assert error["type"] == "ModelError" and error["domain"]
    assert (
        error["message"].startswith("bad config: ModelError")
        and "no-such-model" in error["message"]
    )
    assert not (run_dir / "result.json").exists()


def test_resume_skips_a_checkpoint_left_half_written_by_a_cancel(tmp_path):
    checkpoints = tmp_path / CHECKPOINTS_DIR
    for step, complete in ((2, True), (10, True), (12, False)):
        (checkpoints / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            (checkpoints / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    assert last_checkpoint(tmp_path) == str(checkpoints / "checkpoint-10")
    assert last_checkpoint(tmp_path / "elsewhere") is None
