"""The Train tab's core: presets by model size, settings YAML, run tables and metric curves."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import gradio as gr
import pytest
import yaml

from app.tabs.train import followed_view, parse_settings, settings_yaml
from curation.store.run_records import RunRecord
from tests.models import build_tiny_causal_lm
from training.methods import settings_from_dict
from training.presets import PRESETS, parameter_count, size_defaults, suggested_settings
from training.run_views import metric_curves, runs_table


def test_parameter_count_reads_safetensors_headers(tmp_path):
    from transformers import AutoModelForCausalLM

    folder = build_tiny_causal_lm(tmp_path / "lm")
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert parameter_count(folder) == sum(p.numel() for p in model.parameters())
    assert parameter_count(tmp_path / "not-there") is None


def test_presets_suit_model_size_and_are_valid_settings():
    small = size_defaults(100_000_000, cuda=False)
    large = size_defaults(8_000_000_000, cuda=True)
    assert small["max_length"] <= 256 and "quantization" not in small
    assert large["quantization"] == "4bit" and large["gradient_checkpointing"]
    assert size_defaults(8_000_000_000, cuda=False)["quantization"] == "none"
    for preset in PRESETS:
        for parameters in (None, 100_000_000, 8_000_000_000):
            values = {**size_defaults(parameters, cuda=False), **PRESETS[preset]}
            for method in ("sft", "rm", "dpo", "kto"):
                settings_from_dict(method, values)
    with pytest.raises(ValueError, match="preset"):
        suggested_settings(None, "forever")


def test_settings_editor_round_trips_and_refuses_non_mappings(tmp_path):
    folder = build_tiny_causal_lm(tmp_path / "lm")
    text = settings_yaml(str(folder), "smoke")
    assert parse_settings(text)["max_steps"] == 3
    assert yaml.safe_load(text)["learning_rate"] == size_defaults(1, cuda=False)["learning_rate"]
    with pytest.raises(gr.Error):
        parse_settings("- a list\n- not a mapping\n")
    with pytest.raises(gr.Error):
        parse_settings("beta: [unclosed")


def test_the_settings_start_as_the_default_models_and_no_page_load_overwrites_them(store):
    """A page-load event filling the settings in could land after the user's own choice of
    model or preset and undo it: the settings are there from the start instead."""
    from app.context import AppContext
    from app.tabs.train import DEFAULT_PRESET, create_train_tab
    from training.models import EMBEDDED_MODEL

    ctx = AppContext(store)
    with gr.Blocks() as blocks:
        create_train_tab(ctx)
    (settings,) = [b for b in blocks.blocks.values() if b.elem_id == "train-settings"]
    assert settings.value.strip() == settings_yaml(EMBEDDED_MODEL, DEFAULT_PRESET).strip()
    assert ctx.page_loads and all(settings not in outputs for _, _, outputs in ctx.page_loads)


def test_followed_run_shows_results_curves_and_table(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    metrics = [
        {"step": 1, "loss": 0.69, "rewards/accuracies": 0.5, "rewards/margins": 0.0},
        {"step": 2, "loss": 0.61, "rewards/accuracies": 1.0, "rewards/margins": 0.3},
        {"step": 2, "train_loss": 0.65},
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    record = RunRecord(
        id=3,
        snapshot="s1",
        method="dpo",
        model="lm",
        config={},
        job_id=5,
        status="succeeded",
        pid=None,
        out_dir=str(run_dir),
        metrics={"step": 2},
        eval={"heldout_accuracy_before": 0.5, "heldout_accuracy_after": 0.75, "heldout_pairs": 4},
        error=None,
        created=datetime.now(UTC),
        started=None,
        ended=None,
    )

    view = followed_view(record)

    assert "0.5 → 0.75" in view["status"] and "succeeded" in view["status"]
    loss, rewards, kl = view["plots"]
    assert loss["value"].tolist() == [0.69, 0.61]
    assert set(rewards["metric"]) == {"rewards/accuracies", "rewards/margins"}
    assert kl.empty
    table = runs_table([record])
    assert table.iloc[0][["id", "status", "before", "after", "steps"]].tolist() == [
        record.id,
        "succeeded",
        0.5,
        0.75,
        2,
    ]
    assert metric_curves(None, "loss").empty
