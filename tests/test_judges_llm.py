"""The LLM logit judge on tiny config-built models and on the embedded default."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from judges.base import JudgeError, PairItem
from judges.llm import LogitJudge
from judges.registry import LastJudge

QUESTION = [{"role": "user", "content": "How do I keep bread fresh?"}]
PAIRS = [
    PairItem("short", QUESTION, "Freeze it.", "Keep it in a bread box."),
    PairItem(
        "long",
        QUESTION,
        "Store it in a paper bag at room temperature and eat it within two days. " * 3,
        "Put it in the fridge.",
    ),
    PairItem("mid", QUESTION, "Wrap it in a cloth and keep it out of the sun.", "Toast it."),
]


@pytest.fixture(scope="module")
def judge(tiny_lm_dir: Path) -> LogitJudge:
    """A logit judge over the tiny random Llama, batching two prompts at a time."""
    return LogitJudge(str(tiny_lm_dir), batch_size=2)


def record_batches(judge: LogitJudge) -> list[list[str]]:
    """Hook the model so that every forward pass records its decoded prompts."""
    model, tokenizer = judge.lm
    seen: list[list[str]] = []

    def hook(module, args, kwargs):
        seen.append(tokenizer.batch_decode(kwargs["input_ids"], skip_special_tokens=True))

    model.register_forward_pre_hook(hook, with_kwargs=True)
    return seen


def test_each_pair_is_scored_in_both_orders_in_length_sorted_batches(tiny_lm_dir: Path) -> None:
    judge = LogitJudge(str(tiny_lm_dir), batch_size=2)
    seen = record_batches(judge)
    verdicts = judge.judge(PAIRS)
    (shared,), *seen = seen  # first, once: the start all six prompts share
    assert "impartial judge" in shared and QUESTION[0]["content"] in shared
    assert shared.rstrip().endswith("[Response A]")  # the same question, then the responses
    assert judge.forward_passes == len(seen) == 3  # six orders, two per batch
    prompts = [p for batch in seen for p in batch]
    assert len(prompts) == 6
    for pair in PAIRS:
        ab = f"{pair.response_a}\n\n[Response B]\n{pair.response_b}"
        ba = f"{pair.response_b}\n\n[Response B]\n{pair.response_a}"
        assert sum(ab in p for p in prompts) == 1 and sum(ba in p for p in prompts) == 1
    lengths = [len(p.lstrip()) for p in prompts]  # left padding decodes to nothing
    assert lengths[:2] == sorted(lengths, reverse=True)[:2]  # the long pair's orders go first
    for verdict in verdicts:
        assert verdict.choice in ("a", "b", "tie") and 0.0 <= verdict.p_a <= 1.0
        assert set(verdict.raw["orders"]) == {"ab", "ba"}


def test_left_padded_batches_score_like_one_prompt_at_a_time(tiny_lm_dir: Path) -> None:
    batched = LogitJudge(str(tiny_lm_dir), batch_size=6).judge(PAIRS)
    single = LogitJudge(str(tiny_lm_dir), batch_size=1).judge(PAIRS)
    for b, s in zip(batched, single, strict=True):
        for order in ("ab", "ba"):
            assert b.raw["orders"][order]["p_first"] == pytest.approx(
                s.raw["orders"][order]["p_first"], abs=1e-5
            )


def test_sharing_the_prompts_start_changes_no_score(tiny_lm_dir: Path) -> None:
    pairs = [*PAIRS, PairItem("other", [{"role": "user", "content": "Why?"}], "Because.", "No.")]
    shared = LogitJudge(str(tiny_lm_dir), batch_size=3, dtype="fp32")
    passes = record_batches(shared)
    with_prefix = shared.judge(pairs)
    assert len(passes) == 1 + shared.forward_passes  # the shared start ran once, on its own
    plain = LogitJudge(str(tiny_lm_dir), batch_size=3, dtype="fp32")
    plain.share_prefix = False
    for a, b in zip(with_prefix, plain.judge(pairs), strict=True):
        for order in ("ab", "ba"):
            assert a.raw["orders"][order]["p_first"] == pytest.approx(
                b.raw["orders"][order]["p_first"], abs=1e-6
            )


def test_the_prompt_uses_the_chat_template_and_ends_at_the_answer(judge: LogitJudge) -> None:
    _, tokenizer = judge.lm
    text = tokenizer.decode(judge.render(QUESTION, "x", "y"))
    assert text.startswith("<|im_start|>system\nYou are a careful")
    assert text.endswith("<|im_start|>assistant\n")


def test_a_prompt_over_max_length_fails_instead_of_being_truncated(tiny_lm_dir: Path) -> None:
    limit = len(LogitJudge(str(tiny_lm_dir)).render(QUESTION, PAIRS[2].response_a, "Toast it."))
    judge = LogitJudge(str(tiny_lm_dir), max_length=limit + 5)
    verdicts = judge.judge(PAIRS)
    long_pair = verdicts[1]
    assert long_pair.choice == "failed" and long_pair.p_a is None
    assert "exceeds max_length" in long_pair.raw["orders"]["ab"]["raw"]["error"]
    assert [v.choice != "failed" for v in verdicts] == [True, False, True]


def test_non_finite_logits_fail_every_verdict(tiny_lm_dir: Path) -> None:
    judge = LogitJudge(str(tiny_lm_dir))
    model, _ = judge.lm
    model.lm_head.weight.data.fill_(math.nan)
    verdicts = judge.judge(PAIRS[:1])
    assert verdicts[0].choice == "failed"
    assert verdicts[0].raw["orders"]["ab"]["raw"]["error"] == "the model gave non-finite logits"


def test_the_key_names_model_template_and_settings_but_not_batch_size(tiny_lm_dir: Path) -> None:
    model = str(tiny_lm_dir)
    assert LogitJudge(model, batch_size=1).key() == LogitJudge(model, batch_size=8).key()
    assert LogitJudge(model).key() != LogitJudge(model, max_length=64).key()
    assert LogitJudge(model).key() != LogitJudge("smollm2-135m").key()
    assert LogitJudge(model).describe()["template"] == "pairwise.v1"


def test_bad_options_are_clear_errors(tiny_lm_dir: Path) -> None:
    with pytest.raises(JudgeError, match=r"unknown judge template 'nope\.v1'"):
        LogitJudge(str(tiny_lm_dir), template="nope.v1")
    with pytest.raises(JudgeError, match=r"unknown judge template '\.\./pairwise\.v1'"):
        LogitJudge(str(tiny_lm_dir), template="../pairwise.v1")
    with pytest.raises(JudgeError, match="dtype must be one of"):
        LogitJudge(str(tiny_lm_dir), dtype="int3")


def test_weights_load_in_the_dtype_asked_for(tiny_lm_dir: Path) -> None:
    import torch

    from training.models import inference_dtype

    model = str(tiny_lm_dir)
    assert LogitJudge(model, dtype="fp32").lm[0].dtype == torch.float32
    assert LogitJudge(model, dtype="bf16").lm[0].dtype == torch.bfloat16
    assert LogitJudge(model).lm[0].dtype == inference_dtype()


def test_quantization_without_cuda_is_refused_before_loading(tiny_lm_dir: Path) -> None:
    import torch

    from curation.errors import ModelError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ModelError, match="4bit quantization needs a CUDA GPU"):
        LogitJudge(str(tiny_lm_dir), quantization="4bit")


def test_the_embedded_default_answers_with_the_letters() -> None:
    judge = LogitJudge()  # smollm2-135m
    pairs = [
        PairItem(
            "p", [{"role": "user", "content": "What is 2+2?"}], "2+2 is 4.", "It is 5, I think."
        )
    ]
    (verdict,) = judge.judge(pairs)
    assert verdict.choice in ("a", "b", "tie")
    for order in verdict.raw["orders"].values():
        assert order["raw"]["letter_mass"] > 0.05  # the model reads the template as intended


def test_generate_judge_parses_verdicts_and_fails_without_one(tiny_lm_dir: Path) -> None:
    from judges.generative import GenerateJudge

    judge = GenerateJudge(str(tiny_lm_dir), max_new_tokens=4)
    assert judge.parse("B is kinder. [[A]]").p_first == 1.0  # the [[X]] verdict wins
    assert judge.parse("Response B, clearly").p_first == 0.0
    assert judge.parse("Both are fine").p_first is None
    verdicts = judge.judge(PAIRS[:2])  # a random model writes no verdict
    assert judge.forward_passes == 1
    for verdict in verdicts:
        if verdict.choice == "failed":
            assert "error" in verdict.raw and verdict.p_a is None
        else:
            assert verdict.p_a in (0.0, 0.5, 1.0)
    assert judge.key() != GenerateJudge(str(tiny_lm_dir), max_new_tokens=8).key()


def test_last_judge_reuses_the_loaded_model_until_asked_for_another(tiny_lm_dir: Path) -> None:
    cache = LastJudge()
    first = cache.get("llm", str(tiny_lm_dir), batch_size=2)
    first.judge([PairItem("p", [{"role": "user", "content": "Hi?"}], "Hello.", "Go away.")])
    model = first._loaded[0]
    again = cache.get("llm", str(tiny_lm_dir), batch_size=2)
    assert again is first and again._loaded[0] is model  # nothing loaded a second time
    other = cache.get("llm", str(tiny_lm_dir), batch_size=4)
    assert other is not first and other._loaded is None
    assert cache.get("longer") is not other
