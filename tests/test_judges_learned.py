"""Judges learned from the labels of a snapshot: the light judge, the reward-model route,
calibration, the best judge for the queue and suggestions, and their errors."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import assert_one_error_line
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.job_requests import start_job, stop_job
from curation import Store, import_paths
from curation.jobs.records import JobRecord, get_job
from curation.jobs.runner import job_progress, wait_for_job, watch_jobs
from curation.snapshots.freeze import create_snapshot
from curation.snapshots.snapshot_policy import SnapshotPolicy
from curation.store.run_records import get_run
from judges.calibration import (
    Calibrator,
    calibration_figures,
    expected_calibration_error,
    reliability,
)
from judges.features import ResponseFeatures
from judges.learned import features_dir
from tests.server_helpers import (
    USERS,
    Server,
    add_users,
    log_in,
    needs_chromium,
    screenshot,
)
from training.runs import cancel_run

KIND_WORDS = ["glad to help, here is how", "happy to explain it", "sure, step by step"]
RUDE_WORDS = ["go away and stop asking", "not my problem", "figure it out yourself"]
FILLER = ["alpha", "beta", "gamma", "delta"]


def _answer(rng: random.Random, opening: list[str]) -> str:
    """An answer that starts with one of `opening` and runs on for a random number of words,
    so its length says nothing about which kind it is."""
    return " ".join([rng.choice(opening), *rng.choices(FILLER, k=rng.randint(0, 8))])


def write_signal_pairs(path: Path, n: int = 80) -> Path:
    """Preference pairs whose labels follow the wording of the answers (kind beats rude)."""
    rng = random.Random(0)
    records = [
        {
            "prompt": f"Question {i}: tell me about topic {i}",
            "chosen": _answer(rng, KIND_WORDS),
            "rejected": _answer(rng, RUDE_WORDS),
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    return path


def files_of(db: Path) -> Path:
    """The files folder beside a store file."""
    return db.with_name(f"{db.stem}.files")


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def run_json(*args: str) -> dict:
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def signal_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of labelled pairs with a learnable signal, a snapshot of them, and a few
    unlabelled pairs."""
    root = tmp_path_factory.mktemp("learned")
    db = root / "store.duckdb"
    unlabelled = root / "open.jsonl"
    rng = random.Random(1)
    unlabelled.write_text(
        "".join(
            json.dumps(
                {
                    "prompt": f"Open question {i}",
                    "responses": [_answer(rng, KIND_WORDS), _answer(rng, RUDE_WORDS)],
                }
            )
            + "\n"
            for i in range(6)
        ),
        "utf-8",
    )
    with Store(db) as store:
        import_paths(store, [write_signal_pairs(root / "pairs.jsonl")])
        import_paths(store, [unlabelled], format="responses")
        create_snapshot(store, "v1", SnapshotPolicy(test_fraction=0.3))
    return db


@pytest.fixture(scope="module")
def learned(signal_db: Path, tiny_lm_dir: Path) -> dict:
    """`judge learn --method light` on the signal store with the tiny model."""
    return run_json("judge", "learn", "--model", str(tiny_lm_dir), "--db", str(signal_db))


def test_the_light_judge_learns_the_signal_and_beats_chance_on_held_out_pairs(
    learned: dict, signal_db: Path
) -> None:
    assert learned["method"] == "light" and learned["snapshot"] == "v1"
    assert learned["train_pairs"] + learned["test_pairs"] == 80
    mine = learned["heldout"][learned["judge"]]
    assert mine["judge_key"] == learned["judge_key"] and not mine["baseline"]
    assert mine["n"] == learned["test_pairs"]
    assert mine["agreement"] >= 0.8, mine  # chance is 0.5; lengths carry no signal here
    low, high = mine["interval"]
    assert 0 <= low < mine["agreement"] <= high <= 1
    assert mine["ece"] is not None and mine["calibrated_ece"] is not None
    for rule in ("longer", "shorter", "refusal"):
        baseline = learned["heldout"][rule]
        assert baseline["baseline"] and baseline["n"] == learned["test_pairs"]
    assert learned["heldout"]["shorter"]["calibrated_ece"] is not None  # fitted on train pairs
    with Store(signal_db) as store:
        test_verdicts = store.con.execute(
            "SELECT count(*) FROM judgments WHERE judge_key = ?", [learned["judge_key"]]
        ).fetchone()[0]
    assert test_verdicts == learned["test_pairs"]  # it judged the test pairs only


def test_features_are_cached_per_model_and_text(learned: dict, signal_db: Path, tiny_lm_dir):
    cache = features_dir(files_of(signal_db))
    assert len(list(cache.glob("*.npz"))) == 1
    conversations = [([{"role": "user", "content": "Hi"}], "Hello there")]
    first = ResponseFeatures(str(tiny_lm_dir), cache)
    computed = first(conversations + conversations)
    assert first.computed == 1  # the same text twice is read once
    again = ResponseFeatures(str(tiny_lm_dir), cache)
    np.testing.assert_array_equal(again(conversations), computed[:1])
    assert again.computed == 0 and again._loaded is None  # a cache hit never loads the model
    other = ResponseFeatures(str(tiny_lm_dir), cache, response_tokens=8)
    other(conversations)
    assert other.computed == 1  # other reading settings: another cache file


def test_an_interrupted_read_keeps_the_features_it_finished(tiny_lm_dir, tmp_path, monkeypatch):
    import judges.features

    monkeypatch.setattr(judges.features, "SAVE_EVERY", 1)
    prompt = [{"role": "user", "content": "Hi"}]

    def stop_after_one(done: int, total: int) -> None:
        if done == 2:  # the second response is read but not saved yet
            raise KeyboardInterrupt

    features = ResponseFeatures(str(tiny_lm_dir), tmp_path, batch_size=1)
    with pytest.raises(KeyboardInterrupt):
        features([(prompt, "one"), (prompt, "two")], stop_after_one)
    again = ResponseFeatures(str(tiny_lm_dir), tmp_path)
    again([(prompt, "one"), (prompt, "two")])
    assert again.computed == 1  # "one" was saved before the stop


def test_learning_again_reuses_every_feature(learned: dict, signal_db: Path, tiny_lm_dir):
    cache = features_dir(files_of(signal_db))
    stamps = {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")}
    again = run_json("judge", "learn", "--model", str(tiny_lm_dir), "--db", str(signal_db))
    assert again["judge_key"] == learned["judge_key"]  # same labels, same classifier
    assert {p: p.stat().st_mtime_ns for p in cache.glob("*.npz")} == stamps  # nothing new read


def test_the_learned_judge_runs_by_its_key_from_the_command_line(learned: dict, signal_db):
    key = learned["judge_key"]
    ran = run_json("judge", "--judge", key[:10], "--pairs", "all", "--db", str(signal_db))
    assert ran["judge_key"] == key and ran["judge"] == learned["judge"]
    assert ran["cached"] == learned["test_pairs"] and ran["judged"] == 80 + 6 - ran["cached"]
    report = run_json("judge", "report", "--db", str(signal_db))["judges"][learned["judge"]]
    assert report["agreement"] >= 0.8 and report["ece"] is not None
    assert report["calibrated_ece"] == pytest.approx(
        learned["heldout"][learned["judge"]]["calibrated_ece"]
    )


def test_the_best_judge_orders_the_queue_and_is_suggested(learned: dict, signal_db: Path):
    run_json("judge", "--judge", learned["judge_key"], "--db", str(signal_db))  # unlabelled
    prioritized = run_json("judge", "prioritize", "--db", str(signal_db))
    assert prioritized == {"prioritized": 6, "judge": learned["judge"]}
    setting = run_json("judge", "suggestions", "--on", "best", "--db", str(signal_db))
    assert setting == {"enabled": True, "judge_key": learned["judge_key"]}


def copy_store(db: Path, folder: Path) -> Path:
    """A copy of a store file and its files folder in `folder`."""
    copy = folder / "copy.duckdb"
    shutil.copy(db, copy)
    shutil.copytree(files_of(db), files_of(copy))
    return copy


@needs_chromium
def test_the_judge_tab_names_the_best_judge_and_plots_reliability(
    learned: dict, signal_db: Path, tmp_path: Path, browser
) -> None:
    db = copy_store(signal_db, tmp_path)
    with Store(db) as store:
        add_users(store)
    server = Server(db)
    try:
        page = log_in(browser, server, "root")
        page.get_by_role("tab", name="Judge").click()
        best = page.locator("#judge-best")
        best.locator("text=Best judge").wait_for(timeout=60_000)
        assert learned["judge"] in best.inner_text() and "snapshot v1" in best.inner_text()
        page.locator("#judge-reliability img, #judge-reliability svg").first.wait_for()
        screenshot(page, tmp_path, "judge_tab_learned")
        page.close()
    finally:
        server.stop()


def test_learning_over_http_is_for_admins(
    learned: dict, signal_db: Path, tmp_path: Path, tiny_lm_dir
):
    from fastapi.testclient import TestClient

    from app.context import AppContext
    from app.server import create_app

    with Store(copy_store(signal_db, tmp_path)) as store:
        add_users(store)
        with TestClient(create_app(AppContext(store))) as client:
            body = {"method": "light", "model": str(tiny_lm_dir)}
            annotator = ("ann", USERS["ann"][1])
            admin = ("root", USERS["root"][1])
            post = client.post
            assert post("/api/v1/judges/learn", json=body, auth=annotator).status_code == 403
            bad = {**body, "method": "heavy"}
            assert post("/api/v1/judges/learn", json=bad, auth=admin).status_code == 422
            missing = post("/api/v1/judges/learn", json={**body, "snapshot": "nope"}, auth=admin)
            assert missing.status_code == 404 and "no snapshot named" in missing.json()["detail"]
            answer = post("/api/v1/judges/learn", json=body, auth=admin)
            assert answer.status_code == 200, answer.text
            assert answer.json()["kind"] == "learn"
            done = wait_for_job(store, answer.json()["id"])
            assert done.status == "succeeded", done.error
            assert done.result["judge_key"] == learned["judge_key"]
            figures = client.get("/api/v1/judges/heldout", auth=admin).json()
            assert figures["snapshot"] == "v1" and figures["heldout"] == learned["heldout"]
            assert client.get("/api/v1/judges/heldout", auth=annotator).status_code == 403


def test_the_reliability_plot_shows_judge_names_as_written() -> None:
    from app.tabs.judge import reliability_figure

    bins = reliability(np.array([0.2, 0.7, 0.9]), np.array([0, 1, 1]))
    figure = reliability_figure({"learned:$x$": bins})
    legend = [t for t in figure.axes[0].get_legend().get_texts() if "$" in t.get_text()]
    assert [t.get_text() for t in legend] == ["learned:$x$"]
    assert not legend[0].get_parse_math()


def test_the_reward_route_trains_a_reward_model_and_registers_it(
    signal_db: Path, tiny_lm_dir: Path, tmp_path: Path
) -> None:
    db = copy_store(signal_db, tmp_path)
    args = ("judge", "learn", "--method", "reward", "--model", str(tiny_lm_dir))
    result = run_json(*args, "--max-steps", "2", "--db", str(db))
    assert result["method"] == "reward" and result["run_id"] is not None
    mine = result["heldout"][result["judge"]]
    assert mine["kind"] == "reward" and mine["n"] == result["test_pairs"]
    ran = run_json("judge", "--judge", result["judge_key"], "--pairs", "all", "--db", str(db))
    assert ran["judge"] == result["judge"] and ran["cached"] == result["test_pairs"]


def test_the_judge_tab_learns_a_judge_and_sets_it_beside_the_rules(
    learned: dict, signal_db: Path, tiny_lm_dir: Path, tmp_path: Path
) -> None:
    import gradio as gr

    from app.context import AppContext
    from app.tabs import judge as judge_tab
    from tests.test_tab_handlers import as_user

    root = as_user("root")
    with Store(copy_store(signal_db, tmp_path)) as store:
        add_users(store)
        ctx = AppContext(store)
        with pytest.raises(gr.Error, match="needs the admin role"):
            judge_tab.learn(ctx, as_user("ann"), "light", "", str(tiny_lm_dir), 0)
        with pytest.raises(gr.Error, match="no snapshot named"):
            judge_tab.learn(ctx, root, "light", "nope", str(tiny_lm_dir), 0)
        started = judge_tab.learn(ctx, root, "light", " ", str(tiny_lm_dir), 0)
        assert "learn job" in started["summary"]
        assert wait_for_job(store, started["followed"]).status == "succeeded"
        ended = judge_tab.follow(ctx, root, started["followed"])
    mine = learned["heldout"][learned["judge"]]
    assert ended["followed"] is None and learned["judge_key"] in ended["summary"]
    assert f"held-out agreement {mine['agreement']:.3f}" in ended["summary"]
    assert "best rule baseline" in ended["summary"]


def _reward_job(store: Store, tiny_lm_dir: Path) -> JobRecord:
    """A reward learning job on the store (its training run queued first)."""
    params = {"method": "reward", "model": str(tiny_lm_dir), "max_steps": 2}
    return start_job(store, "learn", params)


def test_a_reward_job_waits_for_its_run_and_fails_with_the_runs_cause(
    signal_db: Path, tiny_lm_dir: Path, tmp_path: Path
) -> None:
    with Store(copy_store(signal_db, tmp_path)) as store:
        job = _reward_job(store, tiny_lm_dir)
        run_id = job.params["run_id"]
        watch_jobs(store)  # the run is not recorded as ended until the runs' watcher says so
        assert get_job(store, job.id).status == "queued"
        assert job_progress(job)["phase"] == f"waiting for training run {run_id} (running)"
        cancel_run(store, run_id)
        watch_jobs(store)
        failed = get_job(store, job.id)
        assert failed.status == "failed" and failed.pid is None
        assert failed.error.startswith(f"training run {run_id} cancelled")


def test_stopping_a_learning_job_cancels_the_run_it_waits_for(
    signal_db: Path, tiny_lm_dir: Path, tmp_path: Path
) -> None:
    with Store(copy_store(signal_db, tmp_path)) as store:
        job = _reward_job(store, tiny_lm_dir)
        assert stop_job(store, job.id).status == "cancelled"
        assert get_run(store, job.params["run_id"]).status == "cancelled"


def test_learn_errors_are_one_line(tmp_path: Path, write_jsonl) -> None:
    empty = tmp_path / "empty.duckdb"
    assert invoke("init", "--db", str(empty)).exit_code == 0
    result = invoke("judge", "learn", "--db", str(empty))
    assert result.exit_code == 1
    line = assert_one_error_line(result.stderr)
    assert "the store has 0 labelled training pairs; learning a judge needs at least 10" in line
    result = invoke(
        "judge", "learn", "--method", "reward", "--model", "/no/such", "--db", str(empty)
    )
    assert "model folder /no/such does not exist" in assert_one_error_line(result.stderr)
    assert invoke("snapshot", "list", "--db", str(empty), "--json").stdout.count("name") == 0
    few = tmp_path / "few.duckdb"
    pairs = write_signal_pairs(tmp_path / "few.jsonl", n=6)
    assert invoke("import", str(pairs), "--db", str(few)).exit_code == 0
    assert invoke("snapshot", "create", "s", "--db", str(few)).exit_code == 0
    result = invoke("judge", "learn", "--db", str(few))
    assert "learning a judge needs at least 10" in assert_one_error_line(result.stderr)
    result = invoke("judge", "learn", "--snapshot", "nope", "--db", str(few))
    assert "no snapshot named 'nope'" in assert_one_error_line(result.stderr)
    result = invoke("judge", "learn", "--max-steps", "3", "--db", str(few))
    assert "reward method only" in assert_one_error_line(result.stderr)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(alphabet="abcdef0123456789xyz-_$", min_size=1, max_size=30))
def test_an_unknown_judge_is_one_line_and_changes_nothing(name: str, tmp_path: Path) -> None:
    db = tmp_path / "names.duckdb"
    if not db.exists():
        assert invoke("init", "--db", str(db)).exit_code == 0
    result = invoke("judge", "--judge", name, "--pairs", "all", "--db", str(db))
    assert result.exit_code == 1
    assert "unknown judge" in assert_one_error_line(result.stderr)
    with Store(db) as store:
        assert store.con.execute("SELECT count(*) FROM judges").fetchone()[0] == 0


def test_calibration_error_on_a_constructed_example() -> None:
    # Two bins: p 0.2 where people chose A 1 time in 5, p 0.9 where they did 3 times in 5.
    p_a = np.array([0.2] * 5 + [0.9] * 5)
    human_a = np.array([1, 0, 0, 0, 0, 1, 1, 1, 0, 0])
    # |0.2 - 0.2| * 5/10 + |0.9 - 0.6| * 5/10
    assert expected_calibration_error(p_a, human_a) == pytest.approx(0.15)
    assert expected_calibration_error(1 - p_a, 1 - human_a) == pytest.approx(0.15)
    # An overconfident judge (0.9 where people agree half the time) is pulled to 0.5.
    sure = np.full(40, 0.9)
    coin = np.array([1, 0] * 20)
    for method in ("platt", "isotonic"):
        calibrated = Calibrator(method).fit(sure, coin).apply(sure[:4])
        np.testing.assert_allclose(calibrated, 0.5, atol=1e-6)
    figures = calibration_figures((sure, coin), (sure, coin))
    assert figures["ece"] == pytest.approx(0.4)
    assert figures["calibrated_ece"] == pytest.approx(0.0, abs=1e-6)
    assert calibration_figures((sure[:3], coin[:3]), (sure, coin))["calibrated_ece"] is None
