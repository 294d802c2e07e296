"""Model loading by name: folders, adapters, the embedded default, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from curation.errors import ModelError
from tests.models import build_tiny_causal_lm, build_tiny_classifier
from training.models import (
    EMBEDDED_MODEL,
    inference_dtype,
    load_causal_lm,
    load_sequence_classifier,
    quantization_config,
    resolve_model,
)


def test_tiny_causal_lm_loads_with_left_padding_and_chat_template(tmp_path):
    model, tokenizer = load_causal_lm(build_tiny_causal_lm(tmp_path / "lm"))
    assert tokenizer.padding_side == "left"
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi there"}], tokenize=False, add_generation_prompt=True
    )
    assert text.endswith("<|im_start|>assistant\n")
    batch = tokenizer(["short", "a somewhat longer text"], padding=True, return_tensors="pt")
    assert batch["attention_mask"][0, 0] == 0  # padded on the left
    assert model(**batch).logits.shape[-1] == len(tokenizer)


def test_tiny_classifier_scores_one_value_per_text(tmp_path):
    model, tokenizer = load_sequence_classifier(build_tiny_classifier(tmp_path / "rm"))
    batch = tokenizer(["good answer", "bad"], padding=True, return_tensors="pt")
    assert model(**batch).logits.shape == (2, 1)


def test_lora_adapter_folder_loads_on_its_base(tmp_path):
    from peft import LoraConfig, get_peft_model

    base = build_tiny_causal_lm(tmp_path / "base")
    model, _ = load_causal_lm(base)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    for name, weight in peft_model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.ones_(weight)
    peft_model.save_pretrained(tmp_path / "adapter")
    loaded, tokenizer = load_causal_lm(tmp_path / "adapter")
    batch = tokenizer(["hello"], return_tensors="pt")
    assert torch.allclose(loaded(**batch).logits, peft_model(**batch).logits, atol=1e-5)


def test_missing_folder_and_quantization_without_cuda_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="needs a CUDA GPU"):
            quantization_config("4bit")
    with pytest.raises(ModelError, match="must be one of"):
        quantization_config("3bit")


def test_embedded_default_answers_a_chat_prompt():
    model, tokenizer = load_causal_lm(EMBEDDED_MODEL)
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+2?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "4" in answer


def test_inference_runs_in_bf16_only_on_a_cpu_with_amx():
    cpuinfo = Path("/proc/cpuinfo")
    if torch.cuda.is_available() or not cpuinfo.exists():
        pytest.skip("needs a Linux machine without CUDA")
    flags = set(cpuinfo.read_text().split())
    assert inference_dtype() == (torch.bfloat16 if "amx_tile" in flags else torch.float32)
