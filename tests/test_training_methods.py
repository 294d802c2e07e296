"""Training methods: the registry, checked settings with help text, and config files."""

from __future__ import annotations

import dataclasses

import pytest

from training.methods import METHODS, get_method, settings_from_dict, trl_config
from training.run_spec import RunSpec, read_settings_file, read_spec, write_spec


def test_registry_maps_each_method_to_its_format_and_trl_trainer():
    assert {name: (m.snapshot_format, m.trainer) for name, m in METHODS.items()} == {
        "sft": ("sft", "SFTTrainer"),
        "rm": ("dpo", "RewardTrainer"),
        "dpo": ("dpo", "DPOTrainer"),
        "kto": ("kto", "KTOTrainer"),
    }


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_setting_has_help_text(method):
    for field in dataclasses.fields(get_method(method).settings):
        assert field.metadata.get("help"), f"{method}.{field.name} has no help text"


@pytest.mark.parametrize(
    ("method", "values", "named"),
    [
        ("dpo", {"beta": 0}, "beta"),
        ("dpo", {"loss_type": "nope"}, "loss_type"),
        ("dpo", {"sft_weight": -0.5}, "sft_weight"),
        ("kto", {"undesirable_weight": -1.0}, "undesirable_weight"),
        ("sft", {"learning_rate": 0}, "learning_rate"),
        ("rm", {"lora_rank": 0}, "lora_rank"),
        ("dpo", {"quantization": "3bit"}, "quantization"),
        ("dpo", {"quantization": "4bit", "use_lora": False}, "quantization"),
        ("kto", {"lora_target_modules": []}, "lora_target_modules"),
        ("sft", {"max_steps": 0}, "max_steps"),
        ("sft", {"no_such_setting": 1}, "no_such_setting"),
        ("dpo", {"learning_rate": ""}, "learning_rate must be a number, got ''"),
        ("dpo", {"beta": True}, "beta must be a number"),
        ("sft", {"lora_rank": 2.5}, "lora_rank must be a whole number"),
        ("kto", {"use_lora": "yes"}, "use_lora must be true or false"),
        ("rm", {"lora_target_modules": [1]}, "lora_target_modules must be a list of names"),
    ],
)
def test_bad_setting_is_refused_naming_it(method, values, named):
    with pytest.raises(ValueError, match=named):
        settings_from_dict(method, values)


def test_a_number_written_as_text_is_read_as_one():
    """YAML reads `1e-3` as text; a float setting takes it as the number it spells."""
    settings = settings_from_dict("dpo", {"learning_rate": "1e-3", "num_train_epochs": 2})
    assert (settings.learning_rate, settings.num_train_epochs) == (0.001, 2.0)


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match="sft, rm, dpo, kto"):
        get_method("ppo")


def test_trust_remote_code_is_off_and_lora_on_by_default():
    for method in METHODS:
        settings = settings_from_dict(method)
        assert settings.trust_remote_code is False
        assert settings.use_lora is True


@pytest.mark.parametrize("method", sorted(METHODS))
def test_settings_become_the_trl_config_of_the_method(method, tmp_path):
    settings = settings_from_dict(method, {"max_steps": 3, "learning_rate": 1e-3})
    config = trl_config(method, settings, str(tmp_path))
    assert type(config).__name__ == settings.trl_config_name
    assert (config.max_steps, config.learning_rate, config.output_dir) == (3, 1e-3, str(tmp_path))
    assert config.use_cpu  # no GPU on the test machines
    assert not config.bf16


def test_dpo_settings_reach_dpo_config(tmp_path):
    settings = settings_from_dict("dpo", {"beta": 0.3, "loss_type": "ipo"})
    config = trl_config("dpo", settings, str(tmp_path))
    assert (config.beta, config.loss_type) == (0.3, ["ipo"])


def test_an_sft_weight_adds_the_sft_loss_on_chosen_answers(tmp_path):
    settings = settings_from_dict("dpo", {"sft_weight": 0.5})
    config = trl_config("dpo", settings, str(tmp_path))
    assert (config.loss_type, config.loss_weights) == (["sigmoid", "sft"], [1.0, 0.5])


def test_spec_round_trips_through_config_yaml(tmp_path):
    spec = RunSpec(
        method="kto",
        model="smollm2-135m",
        snapshot="s1",
        data={"train": "/x/kto/train.parquet"},
        settings=settings_from_dict("kto", {"beta": 0.2}),
        run_id=7,
    )
    write_spec(tmp_path, spec)
    assert read_spec(tmp_path).to_dict() == spec.to_dict()


def test_settings_file_may_hold_settings_alone_or_under_a_key(tmp_path):
    alone = tmp_path / "a.yaml"
    alone.write_text("beta: 0.5\nmax_steps: 4\n")
    nested = tmp_path / "b.json"
    nested.write_text('{"settings": {"beta": 0.5, "max_steps": 4}}')
    assert read_settings_file(alone) == read_settings_file(nested) == {"beta": 0.5, "max_steps": 4}
