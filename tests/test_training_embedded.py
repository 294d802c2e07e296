"""End to end on the embedded default model: One-click-style DPO on smollm2-135m, a few steps."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file

from tests.training_helpers import make_snapshot
from training.runs import plan_run, start_run, wait_for_run


def test_dpo_on_the_embedded_model_trains_evaluates_and_feeds_the_queue(store, tmp_path):
    snapshot = make_snapshot(store, tmp_path)
    settings = {
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "max_length": 96,
        "learning_rate": 1e-3,
        "sample_prompts": 2,
        "max_new_tokens": 12,
    }
    spec = plan_run(store, snapshot=snapshot, method="dpo", settings=settings)
    assert spec.model == "smollm2-135m"

    record = wait_for_run(store, start_run(store, spec).id, poll_seconds=1.0)

    assert record.status == "succeeded", record.error
    results = record.eval
    assert results["heldout_pairs"] > 0 and results["train_steps"] == 2
    assert results["heldout_accuracy_before"] is not None
    assert results["heldout_accuracy_after"] is not None
    assert "rewards/margins" in record.metrics
    adapter = load_file(Path(record.out_dir) / "model" / "adapter_model.safetensors")
    assert any("lora_B" in name and t.abs().sum() > 0 for name, t in adapter.items())
    answers = store.con.execute(
        "SELECT count(*) FROM responses WHERE model = ?", [f"run:{record.id}"]
    ).fetchall()[0][0]
    assert answers == results["sample_prompts"] > 0
