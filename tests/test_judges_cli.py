"""`prefstudio judge`: runs, reruns, the report, suggestions and priorities from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import REPO, assert_one_error_line

from app.cli import main
from curation import Store


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the bundled sample data."""
    db = tmp_path_factory.mktemp("judge-cli") / "store.duckdb"
    assert invoke("import", str(REPO / "data"), "--db", str(db)).exit_code == 0
    return db


def run_json(*args: str) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_judge_runs_a_rule_over_the_pairs_and_a_rerun_judges_nothing(sample_db: Path) -> None:
    with Store(sample_db) as store:
        pairs = store.con.execute("SELECT count(*) FROM pairs").fetchone()[0]
    first = run_json("judge", "--judge", "length", "--pairs", "all", "--db", str(sample_db))
    assert first["judge"] == "longer"
    assert (first["selected"], first["cached"], first["judged"]) == (pairs, 0, pairs)
    again = run_json("judge", "run", "--judge", "longer", "--pairs", "all", "--db", str(sample_db))
    assert (again["cached"], again["judged"]) == (pairs, 0)


def test_llm_judge_from_the_command_line(sample_db: Path, tiny_lm_dir: Path) -> None:
    args = ("judge", "--judge", "llm", "--model", str(tiny_lm_dir), "--pairs", "all")
    summary = run_json(*args, "--limit", "3", "--db", str(sample_db))
    assert summary["judged"] == 3 and sum(summary["choices"].values()) == 3
    report = run_json("judge", "report", "--db", str(sample_db))["judges"]
    llm = report[f"llm:{tiny_lm_dir}"]
    assert llm["n"] == 3 and not llm["baseline"]
    assert set(report) >= {"longer", "shorter", "refusal"}
    assert set(llm) >= {
        "n",
        "agreement",
        "kappa",
        "position_consistency",
        "prefer_longer",
        "prefer_first",
    }
    text = invoke("judge", "report", "--db", str(sample_db)).stdout
    assert text.splitlines()[0].split()[:3] == ["judge", "n", "failed"]
    key = summary["judge_key"]
    setting = run_json("judge", "suggestions", "--on", key, "--db", str(sample_db))
    assert setting == {"enabled": True, "judge_key": key}
    assert run_json("judge", "prioritize", "--db", str(sample_db))["prioritized"] >= 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--judge", "reward"), "the reward judge needs a model (--model)"),
        (
            ("--judge", "longer", "--dtype", "bf16"),
            "option dtype does not apply to the longer judge",
        ),
        (("--judge", "api", "--model", "m"), "needs the endpoint's base URL"),
        (("--judge", "longer", "--pairs", "some"), "unknown pair selection 'some'"),
    ],
)
def test_bad_judge_requests_print_one_error_line(
    sample_db: Path, args: tuple, message: str
) -> None:
    result = invoke("judge", *args, "--db", str(sample_db))
    assert result.exit_code == 1
    assert message in assert_one_error_line(result.stderr)


def test_quantization_without_cuda_prints_one_error_line(
    sample_db: Path, tiny_lm_dir: Path
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = invoke(
        "judge", "--judge", "llm", "--model", str(tiny_lm_dir), "--quantization", "8bit",
        "--db", str(sample_db),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "8bit quantization needs a CUDA GPU" in assert_one_error_line(result.stderr)


def test_every_judge_subcommand_has_help() -> None:
    for name in ("run", "report", "prioritize", "suggestions"):
        result = invoke("judge", name, "--help")
        assert result.exit_code == 0 and "Usage:" in result.stdout
