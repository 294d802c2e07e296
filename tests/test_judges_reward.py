"""The reward-model judge on a tiny config-built sequence classifier."""

from __future__ import annotations

from pathlib import Path

import pytest

from judges.base import PairItem
from judges.reward import RewardJudge, sigmoid

QUESTION = [{"role": "user", "content": "Name a prime number."}]
SEVEN, NINE, TWO = "Seven is prime.", "Nine is prime, I believe, because it is odd.", "2"


def reward_alone(judge: RewardJudge, response: str) -> float:
    """The classifier's score for one conversation, run on its own without padding."""
    import torch

    model, _ = judge.classifier
    ids = torch.tensor([judge.render(QUESTION, response)])
    with torch.inference_mode():
        return float(model(input_ids=ids).logits[0, 0])


def test_p_a_is_the_sigmoid_of_the_reward_difference(tiny_rm_dir: Path) -> None:
    judge = RewardJudge(str(tiny_rm_dir), batch_size=4)
    verdicts = judge.judge(
        [PairItem("1", QUESTION, SEVEN, NINE), PairItem("2", QUESTION, NINE, TWO)]
    )
    r_seven, r_nine, r_two = (reward_alone(judge, text) for text in (SEVEN, NINE, TWO))
    assert verdicts[0].raw["reward_a"] == pytest.approx(r_seven, abs=1e-4)
    assert verdicts[0].raw["reward_b"] == pytest.approx(r_nine, abs=1e-4)
    assert verdicts[0].p_a == pytest.approx(sigmoid(r_seven - r_nine), abs=1e-4)
    assert verdicts[1].p_a == pytest.approx(sigmoid(r_nine - r_two), abs=1e-4)
    assert verdicts[0].choice == ("a" if r_seven > r_nine else "b")
    assert all(v.consistent for v in verdicts)


def test_swapping_a_pair_mirrors_its_probability(tiny_rm_dir: Path) -> None:
    judge = RewardJudge(str(tiny_rm_dir))
    forward, backward = judge.judge(
        [PairItem("1", QUESTION, SEVEN, NINE), PairItem("2", QUESTION, NINE, SEVEN)]
    )
    assert forward.p_a == pytest.approx(1.0 - backward.p_a, abs=1e-6)
    assert {forward.choice, backward.choice} == {"a", "b"}


def test_a_response_in_several_pairs_is_scored_once(tiny_rm_dir: Path) -> None:
    judge = RewardJudge(str(tiny_rm_dir), batch_size=1)
    judge.judge(
        [
            PairItem("1", QUESTION, SEVEN, NINE),
            PairItem("2", QUESTION, SEVEN, TWO),
            PairItem("3", QUESTION, NINE, TWO),
        ]
    )
    assert judge.forward_passes == 3  # three distinct responses, not six


def test_a_response_over_max_length_fails_the_pair(tiny_rm_dir: Path) -> None:
    probe = RewardJudge(str(tiny_rm_dir))
    limit = len(probe.render(QUESTION, SEVEN))
    judge = RewardJudge(str(tiny_rm_dir), max_length=limit)
    short, long = judge.judge(
        [PairItem("1", QUESTION, SEVEN, TWO), PairItem("2", QUESTION, SEVEN, NINE)]
    )
    assert short.choice in ("a", "b")
    assert long.choice == "failed" and long.p_a is None
    assert long.raw["reward_b"] is None and long.raw["reward_a"] is not None
