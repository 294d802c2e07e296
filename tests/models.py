"""Tiny models built from a config, for tests: a real tokenizer and a real (random) Llama."""

from __future__ import annotations

import json
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<pad>", "<|im_start|>", "<|im_end|>", "<unk>"]


def _corpus() -> list[str]:
    """Texts to learn a small vocabulary from: the bundled sample data."""
    data = Path(__file__).resolve().parent.parent / "data"
    texts = []
    for path in sorted(data.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            texts.append(json.dumps(json.loads(line), ensure_ascii=False))
    return texts


def build_tokenizer(folder: Path, vocab_size: int = 400) -> None:
    """Train a byte-level BPE tokenizer with a ChatML chat template and save it in `folder`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    bpe.train_from_iterator(_corpus(), trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        pad_token="<pad>",
        eos_token="<|im_end|>",
        bos_token="<|im_start|>",
        unk_token="<unk>",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)


def _tiny_config(tokenizer_folder: Path, **overrides: object):
    """A two-layer Llama config matching the tokenizer saved in `tokenizer_folder`."""
    from transformers import AutoTokenizer, LlamaConfig

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_folder)
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
        **overrides,
    )


def build_tiny_causal_lm(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random Llama causal LM and its tokenizer in `folder`; return the folder."""
    import torch
    from transformers import LlamaForCausalLM

    build_tokenizer(folder)
    torch.manual_seed(seed)
    LlamaForCausalLM(_tiny_config(folder)).save_pretrained(folder)
    return folder


def build_tiny_classifier(folder: Path, seed: int = 0) -> Path:
    """Save a tiny random Llama sequence classifier (one score) and its tokenizer in `folder`."""
    import torch
    from transformers import LlamaForSequenceClassification

    build_tokenizer(folder)
    torch.manual_seed(seed)
    LlamaForSequenceClassification(_tiny_config(folder, num_labels=1)).save_pretrained(folder)
    return folder
