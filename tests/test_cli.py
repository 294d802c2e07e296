"""The `prefstudio` command line contract: help, JSON output, exit codes and $PREFSTUDIO_DB."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import termios
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from conftest import assert_one_error_line

from app.cli import main

REPO = Path(__file__).resolve().parent.parent
SAMPLE_DATA = REPO / "data"
SAMPLE_FILES = 10  # the .jsonl files in data/
STATS_COUNTS = ("prompts", "responses", "pairs", "labels", "judgments", "snapshots", "runs")


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `prefstudio` executable and capture its output."""
    return subprocess.run(
        ["prefstudio", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        check=False,
    )


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    """Run `app.cli.main` in process with separate stdout and stderr."""
    return CliRunner().invoke(main, list(args), env=env)


def only_json(stdout: str) -> dict:
    """The one JSON object that makes up the whole of stdout."""
    data = json.loads(stdout)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def imported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """A store holding the bundled sample folder, and the result of importing it."""
    db = tmp_path_factory.mktemp("imported") / "store.duckdb"
    result = run_cli("import", str(SAMPLE_DATA), "--json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    return db, result


def test_group_help_works_from_the_installed_executable() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    for name in main.commands:
        assert name in result.stdout


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_has_help_text_and_help_works(name: str) -> None:
    command: click.Command = main.commands[name]
    assert (command.help or "").strip(), f"command {name!r} has no help text"
    result = invoke(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_init_json_creates_the_store_and_prints_its_schema_version(tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"
    result = invoke("init", "--json", "--db", str(db))
    assert result.exit_code == 0, result.output
    data = only_json(result.stdout)
    assert isinstance(data["schema_version"], int)
    assert data["schema_version"] >= 1
    assert db.exists()


def test_prefstudio_db_env_names_the_store_when_db_is_absent(tmp_path: Path) -> None:
    db = tmp_path / "from_env.duckdb"
    env = {**os.environ, "PREFSTUDIO_DB": str(db)}
    result = run_cli("init", "--json", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert only_json(result.stdout)["schema_version"] >= 1
    assert db.exists()
    assert not (tmp_path / "prefstudio.duckdb").exists()


def test_prefstudio_db_env_is_used_by_in_process_commands(tmp_path: Path) -> None:
    db = tmp_path / "env_store.duckdb"
    assert invoke("init", env={"PREFSTUDIO_DB": str(db)}).exit_code == 0
    assert db.exists()
    result = invoke("stats", "--json", env={"PREFSTUDIO_DB": str(db)})
    assert result.exit_code == 0, result.output
    assert only_json(result.stdout)["prompts"] == 0


def test_import_of_sample_folder_reports_each_of_its_files(
    imported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = imported
    report = only_json(result.stdout)
    assert len(report["files"]) == SAMPLE_FILES
    assert all(n >= 0 for n in report["added"].values())
    assert report["added"]["prompts"] > 0


def test_piped_import_prints_one_json_object_and_no_progress_bar(
    imported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, result = imported
    assert result.stderr == ""  # logs and pipes get no progress bar
    assert len(result.stdout.strip().splitlines()) == 1
    only_json(result.stdout)


def test_import_in_a_terminal_shows_each_step_on_stderr(
    tmp_path: Path, write_jsonl: Callable[[str, list[dict]], Path]
) -> None:
    path = write_jsonl("prefs.jsonl", [{"prompt": "Q", "chosen": "A", "rejected": "B"}])
    command = ["prefstudio", "import", str(path), "--json", "--db", str(tmp_path / "s.duckdb")]
    stdout, stderr = run_with_terminal_stderr(command)
    for step in ("reading prefs.jsonl", "prompts", "responses", "pairs", "labels", "commit"):
        assert f"import: {step}" in stderr
    assert only_json(stdout)["added"]["labels"] == 1


def run_with_terminal_stderr(command: list[str]) -> tuple[str, str]:
    """Run `command` with stderr on a 24x120 pseudo-terminal; return its stdout and stderr."""
    terminal, child_end = os.openpty()
    # A terminal of no size gets empty progress bars.
    fcntl.ioctl(child_end, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 120, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=child_end, text=True)
    os.close(child_end)
    chunks = []
    while True:
        try:
            chunk = os.read(terminal, 4096)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(terminal)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, b"".join(chunks)
    return stdout, b"".join(chunks).decode()


def test_stats_json_after_sample_import_has_every_count(
    imported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    db, _ = imported
    result = invoke("stats", "--json", "--db", str(db))
    assert result.exit_code == 0, result.output
    stats = only_json(result.stdout)
    for key in STATS_COUNTS:
        assert isinstance(stats[key], int), key
    assert isinstance(stats["flags"], dict)
    assert 250 <= stats["prompts"] <= 320
    assert stats["labels"] > 0
    assert stats["pairs"] > stats["labels"]


def test_importing_the_same_folder_again_adds_nothing(
    imported: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    db, _ = imported
    result = invoke("import", str(SAMPLE_DATA), "--json", "--db", str(db))
    assert result.exit_code == 0, result.output
    report = only_json(result.stdout)
    assert len(report["files"]) == SAMPLE_FILES
    assert report["added"]
    assert all(n == 0 for n in report["added"].values()), report["added"]


def test_export_dpo_json_reports_rows_and_writes_the_file(
    imported: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    db, _ = imported
    out = tmp_path / "dpo.jsonl"
    result = run_cli("export", "--format", "dpo", "--out", str(out), "--json", "--db", str(db))
    assert result.returncode == 0, result.stderr
    report = only_json(result.stdout)
    assert report["rows"] > 0
    assert out.exists()


def test_export_without_labelled_data_fails_with_one_error_line(
    tmp_path: Path, write_jsonl: Callable[[str, list[dict]], Path]
) -> None:
    db = tmp_path / "unlabelled.duckdb"
    unscored = write_jsonl("unscored.jsonl", [{"prompt": "Hi?", "responses": ["a", "b", "c"]}])
    assert invoke("import", str(unscored), "--db", str(db)).exit_code == 0
    result = invoke(
        "export", "--format", "dpo", "--out", str(tmp_path / "o.jsonl"), "--db", str(db)
    )
    assert result.exit_code == 1
    assert_one_error_line(result.stderr)
    assert not (tmp_path / "o.jsonl").exists()


def test_export_from_empty_store_fails_end_to_end_without_traceback(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    assert run_cli("init", "--db", str(db)).returncode == 0
    result = run_cli(
        "export", "--format", "dpo", "--out", str(tmp_path / "o.jsonl"), "--db", str(db)
    )
    assert result.returncode == 1
    assert_one_error_line(result.stderr)
    assert result.stdout == ""
