"""Snapshots: policy to rows, deterministic cluster-aware split, hashes, immutability,
verification, the dataset card, CLI and API."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import PREFERENCES, assert_one_error_line
from hypothesis import given, settings
from hypothesis import strategies as st

from app.cli import main
from curation import Store, import_paths
from curation.errors import ExportError
from curation.quality.curate import curate
from curation.snapshots.freeze import (
    SnapshotError,
    create_snapshot,
    export_snapshot,
    latest_snapshot,
    list_snapshots,
    show_snapshot,
    snapshot_files,
    snapshots_dir,
    verify_snapshot,
)
from curation.snapshots.snapshot_policy import PolicyError, SnapshotPolicy
from curation.snapshots.snapshot_verify import file_sha256

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
]


def topic_prompt(n: int) -> str:
    """A 15-word prompt unique to `n` (its words are n's digits spelled and rotated)."""
    digits = [WORDS[int(d)] for d in f"{n:04d}"]
    return " ".join([*digits, *WORDS[n % 7 : n % 7 + 11]])


def pair_id_for(store, prompt: str) -> str:
    return store.con.execute(
        "SELECT p.id FROM pairs p JOIN prompts q ON q.id = p.prompt_id "
        "WHERE json_extract_string(q.messages, '$[0].content') = ?",
        [prompt],
    ).fetchall()[0][0]


def add_label(store, pair_id: str, annotator: str, choice: str) -> None:
    store.con.execute(
        "INSERT INTO labels (pair_id, annotator, choice) VALUES (?, ?, ?)",
        [pair_id, annotator, choice],
    )


def rows(path: Path) -> list[dict]:
    return pd.read_parquet(path).to_dict("records")


@pytest.fixture
def labelled(store, write_jsonl):
    """A store with the shared preference records (one import label each)."""
    import_paths(store, [write_jsonl("prefs.jsonl", PREFERENCES)])
    return store


def test_snapshot_writes_every_format_and_split_with_a_manifest(labelled):
    info = create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    files = snapshot_files(labelled, "v1")
    assert set(files) == {"dpo", "kto", "sft"} and all(
        set(s) == {"train", "test"} for s in files.values()
    )
    assert files["dpo"]["train"] == snapshots_dir(labelled) / "v1" / "dpo" / "train.parquet"
    dpo = rows(files["dpo"]["train"])
    assert sorted((r["prompt"], r["chosen"], r["rejected"]) for r in dpo) == sorted(
        (p["prompt"], p["chosen"], p["rejected"]) for p in PREFERENCES
    )
    assert {"prompt_id", "pair_id"} <= set(dpo[0])
    assert set(rows(files["kto"]["train"])[0]) == {"prompt", "completion", "label"}
    assert set(rows(files["sft"]["train"])[0]) == {"prompt", "completion"}
    assert info.counts["train"] == {"dpo": 2, "kto": 4, "sft": 2}
    assert info.counts["test"] == {"dpo": 0, "kto": 0, "sft": 0}
    manifest = json.loads((snapshots_dir(labelled) / "v1" / "manifest.json").read_text())
    assert manifest["sha256"] == info.sha256 and manifest["policy"]["test_fraction"] == 0.0
    assert set(manifest["sources"]) >= {"prompts", "responses", "pairs", "labels", "judgments"}
    assert set(manifest["files"]) == {
        *(f"{fmt}/{split}.parquet" for fmt in files for split in ("train", "test")),
        "README.md",
    }
    assert verify_snapshot(labelled, "v1").verified


def test_names_are_never_reused_and_must_be_safe(labelled):
    create_snapshot(labelled, "v1")
    with pytest.raises(SnapshotError, match="never reused"):
        create_snapshot(labelled, "v1")
    for bad in ("../escape", "a/b", "", ".hidden", "x" * 65):
        with pytest.raises(SnapshotError, match="not valid"):
            create_snapshot(labelled, bad)
    assert [s.name for s in list_snapshots(labelled)] == ["v1"]


def test_a_snapshot_never_changes_when_the_store_does(labelled, write_jsonl):
    first = create_snapshot(labelled, "v1")
    add_label(labelled, pair_id_for(labelled, PREFERENCES[0]["prompt"]), "ann", "tie")
    import_paths(
        labelled, [write_jsonl("more.jsonl", [{"prompt": "New?", "chosen": "Y", "rejected": "N"}])]
    )
    second = create_snapshot(labelled, "v2")
    assert (
        verify_snapshot(labelled, "v1").verified
        and show_snapshot(labelled, "v1").sha256 == first.sha256
    )
    assert second.sha256 != first.sha256
    assert latest_snapshot(labelled) == "v2"


def test_same_data_and_policy_give_the_same_files(labelled):
    a = create_snapshot(labelled, "a", SnapshotPolicy(test_fraction=0.5))
    b = create_snapshot(labelled, "b", SnapshotPolicy(test_fraction=0.5))
    assert show_snapshot(labelled, "a").files == show_snapshot(labelled, "b").files
    assert a.sha256 == b.sha256


def test_near_duplicate_prompts_never_straddle_the_split(store, write_jsonl):
    records = []
    for n in range(40):
        base = topic_prompt(n)
        for variant in (base, base + " please", base.upper()):  # near, near, exact
            records.append({"prompt": variant, "chosen": f"Good {n}.", "rejected": f"Bad {n}."})
    import_paths(store, [write_jsonl("clusters.jsonl", records)])
    create_snapshot(store, "s", SnapshotPolicy(test_fraction=0.5))
    files = snapshot_files(store, "s")["dpo"]
    split_of = {r["prompt"]: split for split in ("train", "test") for r in rows(files[split])}
    assert len(split_of) == len(records)
    for n in range(40):
        base = topic_prompt(n)
        assert split_of[base] == split_of[base + " please"] == split_of[base.upper()], n
    assert 5 < sum(s == "test" for s in split_of.values()) / 3 < 35  # both splits are used


def test_policy_min_votes_unanimity_ties_and_both_bad(store, write_jsonl):
    prompts = ["P1?", "P2?", "P3?", "P4?"]
    records = [{"prompt": p, "responses": [f"{p} first", f"{p} second"]} for p in prompts]
    import_paths(store, [write_jsonl("pairs.jsonl", records)])
    ids = [pair_id_for(store, p) for p in prompts]
    for annotator, choices in {
        "x": ["a", "a", "tie", "both_bad"],
        "y": ["a", "b", "tie", "both_bad"],
    }.items():
        for pair_id, choice in zip(ids, choices, strict=True):
            add_label(store, pair_id, annotator, choice)
    add_label(store, ids[1], "z", "a")  # P2: a 2, b 1
    lenient = create_snapshot(
        store, "lenient", SnapshotPolicy(test_fraction=0.0, ties="kto_good", both_bad="kto_bad")
    )
    assert lenient.counts["pairs"] == {
        "preferences": 2,
        "from_judge": 0,
        "ties": 1,
        "both_bad": 1,
        "excluded_by_flags": 0,
        "undecided": 0,
    }
    kto = rows(snapshot_files(store, "lenient")["kto"]["train"])
    labels = {(r["prompt"], r["label"]) for r in kto}
    assert ("P3?", True) in labels and ("P4?", False) in labels and len(kto) == 8
    strict = create_snapshot(
        store, "strict", SnapshotPolicy(test_fraction=0.0, agreement="unanimous", min_votes=2)
    )
    assert strict.counts["train"]["dpo"] == 1 and strict.counts["train"]["kto"] == 2
    assert (
        create_snapshot(store, "three", SnapshotPolicy(min_votes=3, test_fraction=0.0)).counts[
            "pairs"
        ]["preferences"]
        == 1
    )


def test_flags_exclude_pairs_and_judges_fill_gaps(store, write_jsonl):
    labelled = [
        {"prompt": "Same?", "chosen": "Yes.", "rejected": "yes."},  # identical after normalization
        {"prompt": "Fine?", "chosen": "Fine.", "rejected": "Bad."},
    ]
    unlabelled = [
        {"prompt": "Open?", "responses": ["Sure, open.", "Closed."]},
        {"prompt": "Shaky?", "responses": ["Maybe.", "Perhaps."]},
    ]
    import_paths(store, [write_jsonl("l.jsonl", labelled), write_jsonl("u.jsonl", unlabelled)])
    curate(store)
    for prompt, p_a in (("Open?", 0.9), ("Shaky?", 0.6)):
        store.con.execute(
            "INSERT INTO judgments (pair_id, judge_key, p_a, choice) VALUES (?, 'j1', ?, 'a')",
            [pair_id_for(store, prompt), p_a],
        )
    policy = SnapshotPolicy(test_fraction=0.0, judge_key="j1", judge_min_confidence=0.8)
    info = create_snapshot(store, "s", policy)
    assert (
        info.counts["pairs"]["excluded_by_flags"] == 1 and info.counts["pairs"]["from_judge"] == 1
    )
    prompts = sorted(r["prompt"] for r in rows(snapshot_files(store, "s")["dpo"]["train"]))
    assert prompts == ["Fine?", "Open?"]
    keep_identical = SnapshotPolicy(test_fraction=0.0, exclude_flags=())
    assert create_snapshot(store, "all", keep_identical).counts["train"]["dpo"] == 2


def test_policy_files_yaml_and_json_and_their_errors(tmp_path):
    (tmp_path / "p.yaml").write_text("min_votes: 2\nexclude_flags: [empty]\ntest_fraction: 0.2\n")
    policy = SnapshotPolicy.from_file(tmp_path / "p.yaml")
    assert policy.min_votes == 2 and policy.exclude_flags == ("empty",)
    (tmp_path / "p.json").write_text(json.dumps({"ties": "kto_good"}))
    assert SnapshotPolicy.from_file(tmp_path / "p.json").ties == "kto_good"
    for text, message in (
        ("min_vote: 2", "unknown setting min_vote"),
        ("ties: keep", "ties is 'keep'"),
        ("test_fraction: 1.5", "test_fraction must be in"),
        ("exclude_flags: [bogus]", "unknown kinds bogus"),
        ("[1, 2", "not valid YAML"),
        ("min_votes: 1\nties: [a\n", r"bad.yaml, line 3: not valid YAML"),
    ):
        (tmp_path / "bad.yaml").write_text(text)
        with pytest.raises(PolicyError, match=message):
            SnapshotPolicy.from_file(tmp_path / "bad.yaml")


def test_an_empty_snapshot_is_refused(store):
    with pytest.raises(SnapshotError, match="nothing to snapshot"):
        create_snapshot(store, "empty")
    assert list_snapshots(store) == [] and list(snapshots_dir(store).iterdir()) == []


def test_a_failed_snapshot_leaves_no_row_and_no_folder(labelled, monkeypatch):
    import curation.snapshots.freeze as snapshots

    def broken(folder, paths):
        raise OSError("disk full")

    monkeypatch.setattr(snapshots, "hash_folder_files", broken)
    with pytest.raises(OSError, match="disk full"):
        create_snapshot(labelled, "v1")
    assert list_snapshots(labelled) == [] and list(snapshots_dir(labelled).iterdir()) == []


def test_export_from_a_snapshot_split(labelled, tmp_path):
    create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    report = export_snapshot(labelled, "v1", "rm", tmp_path / "rm.jsonl")
    exported = [json.loads(line) for line in (tmp_path / "rm.jsonl").read_text().splitlines()]
    assert report.rows == 2 and set(exported[0]) == {"prompt", "chosen", "rejected"}
    with pytest.raises(Exception, match="no test rows"):
        export_snapshot(labelled, "v1", "dpo", tmp_path / "t.jsonl", split="test")
    with pytest.raises(ExportError, match="not labels; export labels without --snapshot"):
        export_snapshot(labelled, "v1", "labels", tmp_path / "l.jsonl")


def test_snapshot_cli_create_list_show_and_export(labelled, db_path, tmp_path):
    labelled.close()
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, [*args, "--db", str(db_path)])

    policy = tmp_path / "policy.yaml"
    policy.write_text("test_fraction: 0.0\n")
    created = run("snapshot", "create", "v1", "--policy", str(policy), "--json")
    assert created.exit_code == 0, created.output
    shown = json.loads(run("snapshot", "show", "v1", "--json").stdout)
    assert shown["sha256"] == json.loads(created.stdout)["sha256"]
    assert shown["counts"]["train"]["dpo"] == 2 and shown["counts"]["test"]["dpo"] == 0
    assert [
        s["name"] for s in json.loads(run("snapshot", "list", "--json").stdout)["snapshots"]
    ] == ["v1"]
    out = tmp_path / "kto.parquet"
    exported = run(
        "export", "--format", "kto", "--out", str(out), "--as", "parquet", "--snapshot", "v1"
    )
    assert exported.exit_code == 0, exported.output and len(pd.read_parquet(out)) == 4
    again = run("snapshot", "create", "v1")
    assert again.exit_code == 1 and "never reused" in assert_one_error_line(again.stderr)
    missing = run("snapshot", "show", "nope")
    assert missing.exit_code == 1 and "no snapshot named 'nope'" in assert_one_error_line(
        missing.stderr
    )


def snapshot_folder(store, name: str) -> Path:
    return snapshots_dir(store) / name


def tamper(path: Path, change) -> None:
    """Change a read-only snapshot file the way a user or a bad disk might."""
    path.chmod(0o644)
    path.write_bytes(change(path.read_bytes()))


def flip_byte(data: bytes, offset: int = 0) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0xFF]) + data[offset + 1 :]


def test_snapshot_files_are_read_only_and_folders_stay_the_owners(labelled):
    create_snapshot(labelled, "v1")
    folder = snapshot_folder(labelled, "v1")
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"manifest.json", "README.md", "train.parquet"}
    assert all(p.stat().st_mode & 0o777 == 0o444 for p in files)
    folders = [folder, *(p for p in folder.rglob("*") if p.is_dir())]
    assert all(p.stat().st_mode & 0o700 == 0o700 for p in folders)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_any_changed_byte_in_any_file_is_named(data, tmp_path_factory):
    folder_of_test = tmp_path_factory.mktemp("flip")
    records = folder_of_test / "prefs.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in PREFERENCES))
    with Store(folder_of_test / "store.duckdb") as store:
        import_paths(store, [records])
        create_snapshot(store, "v1", SnapshotPolicy(test_fraction=0.0))
        folder = snapshot_folder(store, "v1")
        paths = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
        target = data.draw(st.sampled_from(paths), label="file")
        size = (folder / target).stat().st_size
        offset = data.draw(st.integers(0, size - 1), label="offset")
        tamper(folder / target, lambda raw: flip_byte(raw, offset))
        check = verify_snapshot(store, "v1")
    assert not check.verified
    assert check.changed == [target] and check.missing == [] and check.extra == []
    if target != "manifest.json":
        assert check.recomputed_sha256 != check.sha256


def test_verify_names_changed_missing_and_extra_files(labelled):
    create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    folder = snapshot_folder(labelled, "v1")
    intact = verify_snapshot(labelled, "v1")
    assert intact.verified and intact.recomputed_sha256 == intact.sha256
    tamper(folder / "kto" / "train.parquet", flip_byte)
    (folder / "sft" / "test.parquet").unlink()
    (folder / "dpo" / "extra.parquet").write_bytes(b"not part of it")
    check = verify_snapshot(labelled, "v1").to_dict()
    assert check["verified"] is False
    assert (check["changed"], check["missing"], check["extra"]) == (
        ["kto/train.parquet"],
        ["sft/test.parquet"],
        ["dpo/extra.parquet"],
    )
    assert check["problems"][0] == "kto/train.parquet changed"


def test_a_manifest_rewritten_to_match_changed_files_does_not_verify(labelled):
    create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    folder = snapshot_folder(labelled, "v1")
    tamper(folder / "dpo" / "train.parquet", flip_byte)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["dpo/train.parquet"] = file_sha256(folder / "dpo" / "train.parquet")
    tamper(folder / "manifest.json", lambda _: json.dumps(manifest).encode())
    check = verify_snapshot(labelled, "v1")
    assert not check.verified and check.changed == ["manifest.json"]
    assert check.recomputed_sha256 != check.sha256


def test_snapshot_verify_cli_exits_1_naming_the_first_changed_file(labelled, db_path):
    create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    folder = snapshot_folder(labelled, "v1")
    labelled.close()
    runner = CliRunner()

    def verify(*extra: str):
        return runner.invoke(main, ["snapshot", "verify", "v1", "--db", str(db_path), *extra])

    ok = verify("--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["verified"] is True
    assert verify().stdout.startswith("snapshot v1 verifies: sha256 ")
    tamper(folder / "dpo" / "train.parquet", flip_byte)
    (folder / "README.md").unlink()
    (folder / "notes.txt").write_text("hello")
    failed = verify("--json")
    assert failed.exit_code == 1
    line = assert_one_error_line(failed.stderr)
    assert line == "error: snapshot v1 does not verify: dpo/train.parquet changed (and 2 more)"
    listed = json.loads(failed.stdout)
    assert (listed["changed"], listed["missing"], listed["extra"]) == (
        ["dpo/train.parquet"],
        ["README.md"],
        ["notes.txt"],
    )
    text = verify()
    assert text.exit_code == 1 and text.stdout == ""
    missing = runner.invoke(main, ["snapshot", "verify", "nope", "--db", str(db_path)])
    assert missing.exit_code == 1
    assert "no snapshot named 'nope'" in assert_one_error_line(missing.stderr)


def test_the_dataset_card_loads_and_load_dataset_reads_every_config(store, write_jsonl, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    records = [
        {"prompt": f"Question {n}?", "chosen": f"Answer {n}.", "rejected": f"Wrong {n}!"}
        for n in range(30)
    ]
    records.append({"prompt": "Same?", "chosen": "Yes.", "rejected": "yes."})  # flagged
    import_paths(store, [write_jsonl("prefs.jsonl", records)])
    curate(store)
    info = create_snapshot(store, "v1", SnapshotPolicy(test_fraction=0.3))
    assert info.counts["test"]["dpo"] > 0 and info.counts["pairs"]["excluded_by_flags"] == 1
    folder = snapshot_folder(store, "v1")
    card = DatasetCard.load(folder / "README.md")
    configs = {c["config_name"]: c for c in card.data.to_dict()["configs"]}
    assert set(configs) == {"dpo", "kto", "sft"} and configs["dpo"]["default"] is True
    assert configs["kto"]["data_files"] == [
        {"split": "train", "path": "kto/train.parquet"},
        {"split": "test", "path": "kto/test.parquet"},
    ]
    for text in (
        "| dpo |",
        f"| {info.counts['train']['dpo']} | {info.counts['test']['dpo']} |",
        "| test_fraction | 0.3 |",
        "| exclude_flags | identical, empty, duplicate, excluded |",
        "| identical | 1 |",
        "| prefs | 30 |",
        "| import:prefs | 31 |",
    ):
        assert text in card.text, text
    cache = str(tmp_path / "hf-cache")
    dpo = datasets.load_dataset(str(folder), cache_dir=cache)
    assert {split: len(rows) for split, rows in dpo.items()} == {
        "train": info.counts["train"]["dpo"],
        "test": info.counts["test"]["dpo"],
    }
    assert sorted(dpo["train"]["prompt"]) == sorted(
        r["prompt"] for r in rows(folder / "dpo" / "train.parquet")
    )
    kto = datasets.load_dataset(str(folder), "kto", split="train", cache_dir=cache)
    assert set(kto.column_names) == {"prompt", "completion", "label"}
    assert len(kto) == info.counts["train"]["kto"]


def test_a_card_lists_only_splits_with_rows_so_load_dataset_works(labelled, tmp_path):
    import datasets
    from huggingface_hub import DatasetCard

    create_snapshot(labelled, "v1", SnapshotPolicy(test_fraction=0.0))
    folder = snapshot_folder(labelled, "v1")
    configs = DatasetCard.load(folder / "README.md").data.to_dict()["configs"]
    assert all(c["data_files"] == [c["data_files"][0]] for c in configs)
    loaded = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "hf-cache"))
    assert list(loaded) == ["train"] and len(loaded["train"]) == 2


def test_the_same_data_and_policy_give_the_same_card(labelled):
    create_snapshot(labelled, "a")
    create_snapshot(labelled, "b")
    card = "README.md"
    assert (snapshot_folder(labelled, "a") / card).read_text() == (
        snapshot_folder(labelled, "b") / card
    ).read_text()


def test_snapshot_verify_route_is_admin_only_and_reports_changes(labelled):
    from fastapi.testclient import TestClient

    from app.context import AppContext
    from app.server import create_app
    from curation.labelling.accounts import add_user

    create_snapshot(labelled, "v1")
    add_user(labelled, "ann", "annotator", "ann-password")
    add_user(labelled, "root", "admin", "root-password")
    admin = ("root", "root-password")
    with TestClient(create_app(AppContext(labelled))) as client:
        path = "/api/v1/snapshots/v1/verify"
        assert client.get(path).status_code == 401
        assert client.get(path, auth=("ann", "ann-password")).status_code == 403
        intact = client.get(path, auth=admin)
        assert intact.status_code == 200 and intact.json()["verified"] is True
        (snapshot_folder(labelled, "v1") / "sft" / "train.parquet").unlink()
        broken = client.get(path, auth=admin).json()
        assert broken["verified"] is False and broken["missing"] == ["sft/train.parquet"]
        unknown = client.get("/api/v1/snapshots/nope/verify", auth=admin)
        assert unknown.status_code == 404 and "no snapshot named 'nope'" in unknown.json()["detail"]


def test_snapshot_verify_goes_through_a_running_server(labelled, db_path):
    import subprocess
    import sys

    from tests.server_helpers import Server

    create_snapshot(labelled, "v1")
    folder = snapshot_folder(labelled, "v1")
    labelled.close()

    def verify() -> subprocess.CompletedProcess:
        command = [
            sys.executable,
            "-m",
            "app.cli",
            "snapshot",
            "verify",
            "v1",
            "--db",
            str(db_path),
        ]
        return subprocess.run([*command, "--json"], capture_output=True, text=True, timeout=120)

    server = Server(db_path)
    try:
        intact = verify()
        assert intact.returncode == 0, intact.stderr
        assert json.loads(intact.stdout)["verified"] is True
        (folder / "kto" / "test.parquet").unlink()
        broken = verify()
        assert broken.returncode == 1
        assert assert_one_error_line(broken.stderr) == (
            "error: snapshot v1 does not verify: kto/test.parquet missing"
        )
        assert json.loads(broken.stdout)["missing"] == ["kto/test.parquet"]
    finally:
        server.stop()
