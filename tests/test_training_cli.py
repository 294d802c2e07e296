"""`prefstudio train` and `prefstudio runs` on a real snapshot, with tiny models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from curation import Store
from tests.conftest import assert_one_error_line
from tests.models import build_tiny_causal_lm
from tests.server_helpers import Server
from tests.training_helpers import TINY, make_snapshot


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """A store with snapshot s1, and the JSON `train` printed for a 2-step DPO run on it."""
    root = tmp_path_factory.mktemp("cli")
    db = root / "store.duckdb"
    with Store(db) as store:
        make_snapshot(store, root)
    model = build_tiny_causal_lm(root / "lm")
    config = root / "dpo.yaml"
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k != "max_steps"}))
    args = ["train", "--db", str(db), "--snapshot", "s1", "--method", "dpo"]
    args += ["--model", str(model), "--config", str(config), "--max-steps", "2", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return {"db": db, "model": model, "run": json.loads(result.stdout.splitlines()[-1])}


def test_train_waits_and_prints_the_finished_run(trained):
    run = trained["run"]
    assert run["status"] == "succeeded"
    assert run["eval"]["train_steps"] == 2 and run["metrics"]["logged_steps"] == 2
    assert run["eval"]["heldout_pairs"] > 0
    assert 0 <= run["eval"]["heldout_accuracy_after"] <= 1
    assert (Path(run["out_dir"]) / "model" / "adapter_config.json").is_file()
    assert run["command"][-1] == run["out_dir"]


def test_sample_answers_come_back_as_responses_of_the_run(trained):
    run = trained["run"]
    with Store(trained["db"]) as store:
        models = store.con.execute(
            "SELECT model, count(*) FROM responses WHERE model IS NOT NULL GROUP BY model"
        ).fetchall()
        origins = store.con.execute(
            "SELECT DISTINCT origin FROM pairs WHERE origin LIKE 'run:%'"
        ).fetchall()
    counts = dict(models)
    assert counts[f"run:{run['id']}"] == counts[str(trained["model"])] > 0
    # each prompt's two answers make a pair unless they are the same text
    assert len(origins) == (1 if run["eval"]["imported_pairs"] else 0)


def test_runs_lists_the_run(trained):
    result = CliRunner().invoke(main, ["runs", "--db", str(trained["db"]), "--json"])
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["runs"]
    assert [(r["id"], r["status"]) for r in runs] == [(trained["run"]["id"], "succeeded")]
    assert runs[0]["eval"]["heldout_accuracy_before"] is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--snapshot", "nope", "--method", "dpo"], "nope"),
        (["--snapshot", "s1", "--method", "dpo", "--model", "./no-such-folder"], "no-such-folder"),
        (["--method", "dpo"], "--snapshot"),
    ],
)
def test_train_errors_are_one_line(trained, args, message):
    result = CliRunner().invoke(main, ["train", "--db", str(trained["db"]), *args])
    assert result.exit_code == 1
    assert message in assert_one_error_line(result.stderr)


def test_a_failed_run_exits_1_naming_its_cause(trained, tmp_path):
    not_a_model = tmp_path / "empty-folder"
    not_a_model.mkdir()
    args = ["train", "--db", str(trained["db"]), "--snapshot", "s1", "--method", "sft"]
    result = CliRunner().invoke(main, [*args, "--model", str(not_a_model)])
    assert result.exit_code == 1
    last = result.stderr.splitlines()[-1]  # after the progress bar
    assert last.startswith("error: run ") and "failed: bad config" in last
    assert "Traceback" not in result.stderr

    run_id = last.split()[2]
    again = CliRunner().invoke(main, ["train", "--db", str(trained["db"]), "--resume", run_id])
    assert again.exit_code == 1  # resumed, it fails again for the same cause
    assert again.stderr.splitlines()[-1] == last


@pytest.mark.parametrize("merged", [False, True])
def test_export_run_writes_a_folder_from_pretrained_loads(trained, tmp_path, merged):
    from peft import AutoPeftModelForCausalLM
    from transformers import AutoModelForCausalLM

    out = tmp_path / "exported"
    args = ["export-run", str(trained["run"]["id"]), "--out", str(out), "--db", str(trained["db"])]
    result = CliRunner().invoke(main, [*args, "--merged"] if merged else args)
    assert result.exit_code == 0, result.output
    if merged:
        assert not (out / "adapter_config.json").exists()
        model = AutoModelForCausalLM.from_pretrained(out)
    else:
        model = AutoPeftModelForCausalLM.from_pretrained(out)
    assert model.config.vocab_size > 0
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_train_runs_and_export_run_go_through_a_running_server(trained, tmp_path):
    config = tmp_path / "dpo.yaml"
    config.write_text(json.dumps({k: v for k, v in TINY.items() if k != "max_steps"}))
    db = str(trained["db"])
    server = Server(trained["db"])
    try:
        args = ["--snapshot", "s1", "--method", "dpo", "--model", str(trained["model"])]
        result = cli("train", "--db", db, *args, "--config", str(config), "--max-steps", "2")
        assert result.returncode == 0, result.stderr
        run = json.loads(result.stdout)
        assert run["status"] == "succeeded" and run["eval"]["train_steps"] == 2
        assert f"run {run['id']}: " in result.stderr  # the command, before the progress bar

        listed = json.loads(cli("runs", "--db", db).stdout)["runs"]
        assert listed[0]["id"] == run["id"] and listed[0]["status"] == "succeeded"
        log = json.loads(cli("runs", "--log", str(run["id"]), "--db", db).stdout)
        assert log["id"] == run["id"] and log["log"].strip()
        out = tmp_path / "exported"
        exported = cli("export-run", str(run["id"]), "--out", str(out), "--db", db)
        assert exported.returncode == 0, exported.stderr
        assert (out / "adapter_config.json").is_file()

        refused = cli("train", "--db", db, "--method", "dpo")
        assert refused.returncode == 1 and "--snapshot" in assert_one_error_line(refused.stderr)
        missing = cli("runs", "--log", "999", "--db", db)
        assert "no run with id 999" in assert_one_error_line(missing.stderr)
    finally:
        server.stop()


def cli(*args: str) -> subprocess.CompletedProcess:
    """The installed CLI as a separate process, printing JSON."""
    command = [sys.executable, "-m", "app.cli", *args, "--json"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)
