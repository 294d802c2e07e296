"""Every store command gives the same JSON without a server and through a real `prefstudio
serve` holding an identical store (the CLI then sends the command's own code there)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from curation import Store, import_paths
from tests.conftest import REPO
from tests.server_helpers import Server, add_users

# Run in this order on both stores; `{out}` is a path of each side's own folder. Standard input
# holds a password, for the commands that read one.
COMMANDS = [
    ["stats"],
    ["curate"],
    ["snapshot", "create", "s1"],
    ["snapshot", "list"],
    ["snapshot", "show", "s1"],
    ["snapshot", "verify", "s1"],
    ["judge", "learn", "--model", "{tiny}"],
    ["judge", "heldout", "--snapshot", "s1"],
    ["snapshot", "show", "missing"],
    ["export", "--format", "dpo", "--out", "{out}/dpo.jsonl"],
    ["export", "--format", "kto", "--out", "{out}/kto.parquet", "--as", "parquet"],
    ["export", "--format", "sft", "--out", "{out}/sft.jsonl", "--snapshot", "s1"],
    ["leaderboard", "--bootstrap", "20"],
    ["judge", "report"],
    ["judge", "prioritize"],
    ["judge", "suggestions"],
    ["pair", "--strategy", "across", "--model", "alpha-7b", "--model", "beta-7b"],
    ["gold", "rate", "5"],
    ["gold", "list"],
    ["gold", "accuracy"],
    ["gold", "add", "no-such-pair", "--answer", "a"],
    ["user", "add", "carol", "--role", "annotator"],
    ["user", "passwd", "carol"],
    ["user", "add", "carol"],
    ["user", "list"],
    ["user", "set-role", "ann", "admin"],
    ["user", "disable", "ann"],
    ["user", "enable", "ann"],
    ["guidelines", "set", "{data}/guidelines.md"],
    ["guidelines", "show"],
    ["import", "{inputs}/more.jsonl"],
    ["import", "{inputs}/bad.jsonl"],
    ["import", "{inputs}/gold.jsonl", "--gold", "--source", "goldset"],
    ["runs"],
    ["runs", "--log", "999"],
    ["stats"],
]
INPUTS = {
    "more.jsonl": [{"prompt": "Parity?", "chosen": "Same both ways.", "rejected": "Not."}],
    "bad.jsonl": [{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": 1}],
    "gold.jsonl": [{"prompt": "Gold?", "chosen": "Known answer.", "rejected": "Wrong."}],
}
PASSWORD = "parity-password\n"
VOLATILE = {"created", "updated", "started", "ended", "time", "seconds", "server", "last_seen"}


def normalized(value, folder: str):
    """The JSON with times dropped and the side's own folder named alike."""
    if isinstance(value, dict):
        return {k: normalized(v, folder) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list | tuple):
        return [normalized(v, folder) for v in value]
    if isinstance(value, str):
        return re.sub(r"\d{4}-\d\d-\d\d[ T][\d:.+]+", "<time>", value.replace(folder, "<side>"))
    return value


@pytest.fixture(scope="module")
def sides(tmp_path_factory):
    """Two identical stores: `local` alone, `served` held by a running server; and the
    files both import (`inputs`)."""
    root = tmp_path_factory.mktemp("parity")
    inputs = root / "inputs"
    inputs.mkdir()
    for name, records in INPUTS.items():
        (inputs / name).write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    first = root / "local" / "store.duckdb"
    first.parent.mkdir()
    with Store(first) as store:
        import_paths(store, [REPO / "data"])
        add_users(store)
    second = root / "served" / "store.duckdb"
    second.parent.mkdir()
    shutil.copy(first, second)
    server = Server(second)
    yield {"local": first, "served": second, "inputs": inputs}
    server.stop()


def run(db: Path, args: list[str], tiny: Path, inputs: Path) -> tuple[int, object]:
    """Exit code and JSON (or the error line) of one command on the store `db` (`tiny`: the
    tiny model's folder; `inputs`: the files to import)."""
    filled = [a.format(out=db.parent, data=REPO / "data", tiny=tiny, inputs=inputs) for a in args]
    result = CliRunner().invoke(main, [*filled, "--db", str(db), "--json"], input=PASSWORD)
    if result.exit_code != 0:
        return result.exit_code, result.stderr.strip()
    return 0, json.loads(result.stdout)


def test_every_command_gives_the_same_json_with_and_without_a_server(sides, tiny_lm_dir):
    assert Store.__name__  # the local store is opened per command, the served one is held
    for args in COMMANDS:
        local = run(sides["local"], args, tiny_lm_dir, sides["inputs"])
        served = run(sides["served"], args, tiny_lm_dir, sides["inputs"])
        assert normalized(local, str(sides["local"].parent)) == normalized(
            served, str(sides["served"].parent)
        ), args
    for name in ("dpo.jsonl", "sft.jsonl"):
        local_file = (sides["local"].parent / name).read_text()
        assert local_file == (sides["served"].parent / name).read_text()
    assert len(COMMANDS) >= 25


def test_the_server_never_runs_a_job_command_in_its_own_process():
    """A command that is one job goes through the jobs route; the actions route refuses it."""
    from app.commands.actions import command_action
    from app.commands.jobs import JOB_COMMANDS
    from curation.errors import NotFound

    assert set(JOB_COMMANDS) == {"curate_command", "generate", "run", "learn", "train"}
    for name in JOB_COMMANDS:
        with pytest.raises(NotFound, match=f"no command {name} runs in the server"):
            command_action(name)
    assert command_action("stats").__name__ == "stats"
