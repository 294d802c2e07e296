"""A real server process: the CLI works through it, and acknowledged labels survive kill -9."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import httpx
import pytest

from curation import Store, import_paths
from curation.arena.candidates import GeneratedResponse, add_generated_responses
from tests.conftest import PREFERENCES, REPO, assert_one_error_line
from tests.server_helpers import USERS, Server, add_users, free_port, make_store


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    make_store(folder / "store.duckdb", [REPO / "data" / "candidates.jsonl"])
    running = Server(folder / "store.duckdb")
    running.db_path = folder / "store.duckdb"
    yield running
    running.stop()


def test_cli_stats_import_export_go_through_the_server(server, write_jsonl, tmp_path):
    db = str(server.db_path)
    before = json.loads(cli("stats", "--db", db, "--json").stdout)
    path = write_jsonl("more.jsonl", PREFERENCES)
    imported = cli("import", str(path), "--db", db, "--json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["added"]["pairs"] == len(PREFERENCES)
    after = json.loads(cli("stats", "--db", db, "--json").stdout)
    assert after["pairs"] == before["pairs"] + len(PREFERENCES)
    out = tmp_path / "dpo.jsonl"
    exported = cli("export", "--format", "dpo", "--out", str(out), "--db", db)
    assert exported.returncode == 0, exported.stderr
    assert len(out.read_text().splitlines()) == len(PREFERENCES)


def test_cli_guidelines_go_through_the_server(server, tmp_path):
    db = str(server.db_path)
    text = tmp_path / "guidelines.md"
    text.write_text("Prefer answers that cite a source.\n", encoding="utf-8")
    result = cli("guidelines", "set", str(text), "--db", db)
    assert result.returncode == 0, result.stderr
    shown = cli("guidelines", "show", "--db", db, "--json")
    assert json.loads(shown.stdout) == {"guidelines": "Prefer answers that cite a source."}
    seen = httpx.get(f"{server.url}/api/v1/guidelines", auth=("ann", USERS["ann"][1])).json()
    assert seen == {"guidelines": "Prefer answers that cite a source."}


def test_cli_curate_and_snapshots_go_through_the_server(server, tmp_path):
    db = str(server.db_path)
    curated = cli("curate", "--db", db, "--json")
    assert curated.returncode == 0, curated.stderr
    assert "flags" in json.loads(curated.stdout)
    policy = tmp_path / "policy.yaml"
    policy.write_text("test_fraction: 0.25\n")
    created = cli("snapshot", "create", "remote1", "--policy", str(policy), "--db", db)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("snapshot remote1 (")
    listed = json.loads(cli("snapshot", "list", "--db", db, "--json").stdout)
    assert "remote1" in [s["name"] for s in listed["snapshots"]]
    shown = json.loads(cli("snapshot", "show", "remote1", "--db", db, "--json").stdout)
    assert shown["policy"]["test_fraction"] == 0.25
    policy.write_text("min_votes: 0\n")  # checked before anything is sent
    refused = cli("snapshot", "create", "remote2", "--policy", str(policy), "--db", db)
    assert refused.returncode == 1 and "min_votes" in assert_one_error_line(refused.stderr)


def test_cli_user_commands_go_through_the_server(server):
    db = str(server.db_path)
    added = subprocess.run(
        [sys.executable, "-m", "app.cli", "user", "add", "remote-ann", "--db", db],
        input="remote-password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout == "remote-ann: added as annotator\n"
    me = httpx.get(f"{server.url}/api/v1/me", auth=("remote-ann", "remote-password"))
    assert me.status_code == 200
    assert cli("user", "disable", "remote-ann", "--db", db).stdout == "remote-ann: disabled\n"
    me = httpx.get(f"{server.url}/api/v1/me", auth=("remote-ann", "remote-password"))
    assert me.status_code == 401
    on_the_command_line = cli("user", "passwd", "remote-ann", "--password", "x", "--db", db)
    assert "never from the command line" in on_the_command_line.stderr
    listed = json.loads(cli("user", "list", "--db", db, "--json").stdout)["users"]
    assert {"name": "remote-ann", "disabled": True}.items() <= next(
        u for u in listed if u["name"] == "remote-ann"
    ).items()


def test_cli_pair_and_leaderboard_go_through_the_server(tmp_path, write_jsonl):
    db = tmp_path / "arena.duckdb"
    questions = ["Name a prime number.", "Name a colour.", "Name a river."]
    with Store(db) as store:
        add_users(store)
        import_paths(store, [write_jsonl("prompts.jsonl", [{"prompt": q} for q in questions])])
        prompt_ids = [pid for (pid,) in store.con.execute("SELECT id FROM prompts").fetchall()]
        answers = [
            GeneratedResponse(pid, f"{model} answers {n}", model)
            for n, pid in enumerate(prompt_ids)
            for model in ("model-a", "model-b")
        ]
        add_generated_responses(store, answers)
    server = Server(db)
    try:
        paired = cli(
            "pair",
            "--strategy",
            "across",
            "--model",
            "model-a",
            "--model",
            "model-b",
            "--db",
            str(db),
            "--json",
        )
        assert paired.returncode == 0, paired.stderr
        assert json.loads(paired.stdout)["added"] == len(questions)
        admin = ("root", USERS["root"][1])
        for _ in questions:  # model-a's answer wins every game
            pair = httpx.get(f"{server.url}/api/v1/next", auth=admin).json()
            choice = "a" if pair["a"].startswith("model-a") else "b"
            body = {"pair_id": pair["pair_id"], "choice": choice}
            assert httpx.post(f"{server.url}/api/v1/labels", auth=admin, json=body).is_success
        board = cli("leaderboard", "--bootstrap", "20", "--db", str(db))
        assert board.returncode == 0, board.stderr
        first, second = board.stdout.splitlines()[1:3]
        assert "model-a" in first and "model-b" in second
        assert "\n3 games; ties count half a win each" in board.stdout
        refused = cli("pair", "--strategy", "across", "--model", "model-a", "--db", str(db))
        line = assert_one_error_line(refused.stderr)  # the command's own error, as without a server
        assert line == "error: pairing across models needs at least two different models"
    finally:
        server.stop()


def test_cli_judge_report_priorities_and_suggestions_go_through_the_server(tmp_path):
    db = tmp_path / "judged.duckdb"
    make_store(db, [REPO / "data" / "preferences.jsonl"])
    judged = cli("judge", "--judge", "length", "--pairs", "all", "--db", str(db))
    assert judged.returncode == 0, judged.stderr  # before the server holds the store
    server = Server(db)
    try:
        report = cli("judge", "report", "--db", str(db), "--json")
        assert report.returncode == 0, report.stderr
        judges = json.loads(report.stdout)["judges"]
        assert judges["longer"]["n"] > 0 and judges["longer"]["agreement_n"] > 0
        table = cli("judge", "report", "--db", str(db)).stdout
        assert table.startswith("judge ") and "\nlonger " in table
        prioritized = cli("judge", "prioritize", "--db", str(db), "--json")
        assert isinstance(json.loads(prioritized.stdout)["prioritized"], int)
        key = judges["longer"]["judge_key"]
        on = cli("judge", "suggestions", "--on", key, "--db", str(db))
        assert on.stdout == f"suggestions on, from judge {key}\n"
        shown = cli("judge", "suggestions", "--db", str(db), "--json")
        assert json.loads(shown.stdout) == {"enabled": True, "judge_key": key}
        assert cli("judge", "suggestions", "--off", "--db", str(db)).stdout == "suggestions off\n"
        judged_there = cli("judge", "--judge", "length", "--db", str(db), "--json")
        assert judged_there.returncode == 0, judged_there.stderr  # a judging job in the server
        assert json.loads(judged_there.stdout)["judged"] == 0  # the cache: judged before
    finally:
        server.stop()


def test_other_commands_say_a_server_holds_the_store(server):
    result = cli("init", "--db", str(server.db_path))
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert server.url in line and "held by the prefstudio server" in line


def test_acknowledged_label_survives_kill_9(tmp_path):
    make_store(tmp_path / "store.duckdb", [REPO / "data" / "candidates.jsonl"])
    server = Server(tmp_path / "store.duckdb")
    auth = ("ann", USERS["ann"][1])
    try:
        pair = httpx.get(f"{server.url}/api/v1/next", auth=auth).json()
        reply = httpx.post(
            f"{server.url}/api/v1/labels",
            auth=auth,
            json={"pair_id": pair["pair_id"], "choice": "b"},
        )
        assert reply.status_code == 200
    finally:
        server.kill()
    with Store(tmp_path / "store.duckdb") as store:
        row = store.con.execute(
            "SELECT pair_id, annotator FROM labels WHERE id = ?", [reply.json()["label_id"]]
        ).fetchone()
    assert row == (pair["pair_id"], "ann")


def test_a_second_server_on_a_taken_port_says_so_in_one_line(server, tmp_path):
    taken = cli("serve", "--db", str(tmp_path / "other.duckdb"), "--port", str(server.port))
    assert taken.returncode == 1 and taken.stdout == ""
    assert f"cannot listen on 127.0.0.1:{server.port}" in assert_one_error_line(taken.stderr)


def test_demo_serves_the_sample_with_its_guidelines_and_printed_accounts(tmp_path):
    port = free_port()
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.cli",
            "demo",
            "--dir",
            str(tmp_path / "demo"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        passwords = {}
        for line in demo.stdout:  # the accounts, then the address once it is serving
            if line.strip().startswith("log in as"):
                name, password = line.split()[3], line.split()[-1]
                passwords[name] = password
            if "serving" in line:
                break
        api = f"http://127.0.0.1:{port}/api/v1"
        for _ in range(100):
            try:
                httpx.get(f"{api}/health").raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        annotator = ("annotator", passwords["annotator"])
        guidelines = httpx.get(f"{api}/guidelines", auth=annotator).json()["guidelines"]
        assert guidelines.startswith("# How to compare two answers")
        stats = httpx.get(f"{api}/stats", auth=("admin", passwords["admin"])).json()
        assert stats["pairs"] >= 400 and stats["labels"] > 0
    finally:
        demo.terminate()
        demo.wait(timeout=30)


def test_demo_never_wipes_a_folder_it_did_not_make_or_one_still_served(server, tmp_path):
    foreign = cli("demo", "--dir", str(server.db_path.parent))
    assert foreign.returncode == 1
    assert "not a prefstudio demo folder" in assert_one_error_line(foreign.stderr)
    assert server.db_path.exists()

    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / ".prefstudio-demo").touch()
    held = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from curation import Store; "
            "s = Store(sys.argv[1]); print('open', flush=True); time.sleep(60)",
            str(demo / "prefstudio.duckdb"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert held.stdout.readline().strip() == "open"
        served = cli("demo", "--dir", str(demo))
        assert served.returncode == 1
        assert "in use by another process" in assert_one_error_line(served.stderr)
        assert (demo / "prefstudio.duckdb").exists()
    finally:
        held.kill()
        held.wait()


def unique_preferences(tag: str, count: int = 2) -> list[dict]:
    return [
        {"prompt": f"{tag}: question {i}?", "chosen": f"Answer {i}.", "rejected": "No idea."}
        for i in range(count)
    ]


def test_import_through_the_server_is_one_transaction_naming_the_users_files(
    server, write_jsonl, tmp_path
):
    db = str(server.db_path)
    good = write_jsonl("my data/good prefs.jsonl", unique_preferences("all-or-nothing"))
    bad = tmp_path / "my data" / "bad prefs.jsonl"
    bad.write_text(json.dumps(PREFERENCES[0]) + "\n{not json\n", encoding="utf-8")
    before = json.loads(cli("stats", "--db", db, "--json").stdout)
    remote = cli("import", str(good), str(bad), "--db", db)
    assert remote.returncode == 1
    line = assert_one_error_line(remote.stderr)
    assert json.loads(cli("stats", "--db", db, "--json").stdout) == before  # good not stored
    local = cli("import", str(good), str(bad), "--db", str(tmp_path / "local.duckdb"))
    # the same line as a local import gives: the user's own path, the line, the problem
    assert line.endswith(assert_one_error_line(local.stderr).removeprefix("error: "))
    assert f"{bad}, line 2: malformed JSON" in line and "uploads" not in line


def test_import_through_the_server_takes_spaces_twin_names_and_folders(
    server, write_jsonl, tmp_path
):
    db = str(server.db_path)
    first = write_jsonl("one dir/my prefs.jsonl", unique_preferences("spaces-1"))
    second = write_jsonl("two/my prefs.jsonl", unique_preferences("spaces-2", 3))
    write_jsonl("folder/inside/more.jsonl", unique_preferences("folder", 4))
    result = cli("import", str(first), str(second), str(tmp_path / "folder"), "--db", db, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [f["path"] for f in report["files"]] == [
        str(first),
        str(second),
        str(tmp_path / "folder" / "inside" / "more.jsonl"),
    ]
    assert [f["source"] for f in report["files"]] == ["my prefs", "my prefs", "more"]
    assert report["added"]["pairs"] == 2 + 3 + 4


def test_an_upload_over_the_servers_limit_is_refused_in_one_line(tmp_path, monkeypatch):
    make_store(tmp_path / "small.duckdb", [REPO / "data" / "candidates.jsonl"])
    monkeypatch.setenv("PREFSTUDIO_MAX_UPLOAD_MB", "0.0625")  # 64 KiB
    limited = Server(tmp_path / "small.duckdb")
    try:
        big = tmp_path / "big.jsonl"
        record = {"prompt": "Big?", "chosen": "y" * 100_000, "rejected": "n"}
        big.write_text(json.dumps(record) + "\n", encoding="utf-8")
        result = cli("import", str(big), "--db", str(tmp_path / "small.duckdb"))
        assert result.returncode == 1
        line = assert_one_error_line(result.stderr)
        assert (
            line
            == "error: the server refused: request body too large: at most 65536 bytes on this route"
        )
        small = tmp_path / "small.jsonl"
        small.write_text(json.dumps(PREFERENCES[0]) + "\n", encoding="utf-8")
        assert cli("import", str(small), "--db", str(tmp_path / "small.duckdb")).returncode == 0
    finally:
        limited.stop()
