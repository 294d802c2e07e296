"""One-click DPO: trains on what was just labelled, honours the preset, and refuses bad settings
before it makes anything."""

from __future__ import annotations

import json

import pytest

from curation import import_paths
from curation.labelling.gold import add_gold
from curation.labelling.queue import next_pair_for
from curation.labelling.votes import record_label
from curation.snapshots.freeze import create_snapshot, list_snapshots, show_snapshot
from curation.snapshots.fresh import fresh_snapshot
from curation.snapshots.snapshot_policy import SnapshotPolicy
from tests.models import build_tiny_causal_lm
from tests.training_helpers import VARIED_PAIRS, make_snapshot
from training.one_click import one_click_dpo
from training.runs import RunError, cancel_run

TINY = {"per_device_train_batch_size": 2, "max_length": 64, "lora_rank": 4, "lora_alpha": 8}


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "lm")


def snapshot_names(store) -> list[str]:
    return sorted(info.name for info in list_snapshots(store))


def labelled_and_unlabelled(store, folder) -> None:
    """Snapshot s1 of labelled pairs, then one unlabelled candidate pair."""
    make_snapshot(store, folder)
    unlabelled = folder / "candidates.jsonl"
    unlabelled.write_text(
        '{"prompt": "Name a fruit.", "responses": ["An apple.", "A chair."]}\n', "utf-8"
    )
    import_paths(store, [unlabelled])


def test_one_click_makes_a_snapshot_only_when_labels_changed(store, tmp_path, tiny_lm):
    labelled_and_unlabelled(store, tmp_path)  # new candidates alone change no training data

    first = one_click_dpo(store, model=str(tiny_lm), preset="smoke", settings=TINY)
    assert (first.snapshot, first.snapshot_created) == ("s1", False)  # nothing new since s1
    cancel_run(store, first.run.id)

    served = next_pair_for(store, "ann")
    record_label(store, "ann", served.pair_id, "a")
    second = one_click_dpo(store, model=str(tiny_lm), preset="smoke", settings=TINY)
    assert second.snapshot_created and second.changed == ["labels"]
    assert second.snapshot.startswith("auto-") and second.run.snapshot == second.snapshot
    assert "labels changed" in second.describe()
    cancel_run(store, second.run.id)

    chosen = {**TINY, "loss_type": "sigmoid"}
    third = one_click_dpo(store, model=str(tiny_lm), preset="smoke", settings=chosen)
    assert (third.snapshot, third.snapshot_created) == (second.snapshot, False)
    assert third.run.config["settings"]["loss_type"] == "sigmoid"  # the caller's settings win
    cancel_run(store, third.run.id)
    assert snapshot_names(store) == sorted(["s1", second.snapshot])
    assert show_snapshot(store, second.snapshot).policy == show_snapshot(store, "s1").policy


def test_a_fresh_snapshot_keeps_the_newest_policy_and_a_refusing_check_makes_none(store, tmp_path):
    labelled_and_unlabelled(store, tmp_path)
    record_label(store, "ann", next_pair_for(store, "ann").pair_id, "a")

    def refuse(counts: dict) -> None:
        assert counts["train"]["dpo"] > 0
        raise LookupError("not enough")

    with pytest.raises(LookupError):
        fresh_snapshot(store, refuse)
    assert snapshot_names(store) == ["s1"]
    fresh = fresh_snapshot(store, lambda counts: None)
    assert fresh.created and fresh.changed == ["labels"]
    assert show_snapshot(store, fresh.name).policy["test_fraction"] == 0.3
    add_gold(store, fresh_pair(store), "a", "root")
    assert not fresh_snapshot(store).created  # no rule of its policy reads gold answers
    create_snapshot(store, "g", SnapshotPolicy(test_fraction=0.3, min_gold_accuracy=0.5))
    add_gold(store, fresh_pair(store), "b", "root")
    assert fresh_snapshot(store).changed == ["gold"]  # they decide a gold rule's labels


def fresh_pair(store) -> str:
    return store.con.execute("SELECT id FROM pairs ORDER BY id LIMIT 1").fetchone()[0]


def test_one_click_honours_the_preset_and_makes_the_first_snapshot(store, tmp_path, tiny_lm):
    source = tmp_path / "pairs.jsonl"
    source.write_text("".join(json.dumps(p) + "\n" for p in VARIED_PAIRS), "utf-8")
    import_paths(store, [source])
    started = one_click_dpo(store, model=str(tiny_lm), preset="smoke", settings=TINY)
    settings = started.run.config["settings"]
    assert (settings["max_steps"], settings["eval_pairs"], settings["sample_prompts"]) == (3, 16, 2)
    assert settings["loss_type"] == "ipo"  # the one-click default, below the caller's settings
    assert started.snapshot_created and snapshot_names(store) == [started.snapshot]
    assert cancel_run(store, started.run.id).status == "cancelled"


def test_bad_settings_are_refused_before_a_snapshot_is_made(store, tmp_path, tiny_lm):
    labelled_and_unlabelled(store, tmp_path)
    served = next_pair_for(store, "ann")
    record_label(store, "ann", served.pair_id, "b")  # a new snapshot would be due
    with pytest.raises(RunError, match="beta must be positive"):
        one_click_dpo(store, model=str(tiny_lm), settings={"beta": -1})
    assert snapshot_names(store) == ["s1"]
    assert store.con.execute("SELECT count(*) FROM runs").fetchone() == (0,)


def test_one_click_as_a_train_job_says_which_snapshot_it_chose(store, tmp_path, tiny_lm):
    from app.commands.train import run_started
    from app.job_requests import start_job, stop_job
    from curation.jobs.runner import job_view

    make_snapshot(store, tmp_path)
    params = {"one_click": True, "model": str(tiny_lm), "preset": "smoke", "settings": TINY}
    view = job_view(start_job(store, "train", params))
    run_id = view["params"]["run_id"]
    assert view["result"]["one_click"] == {
        "snapshot": "s1",
        "snapshot_created": False,
        "changed": [],
    }
    said = run_started(view).splitlines()
    assert said == [
        f"one-click DPO: run {run_id} ({view['status']}) on snapshot s1 (nothing changed since)",
        f"run {run_id}: {' '.join(view['command'])}",
    ]
    assert stop_job(store, view["id"]).status == "cancelled"


def test_one_click_then_cancel_and_resume_over_http(store, tmp_path, tiny_lm):
    from fastapi.testclient import TestClient

    from app.context import AppContext
    from app.server import create_app
    from curation.labelling.accounts import add_user

    make_snapshot(store, tmp_path)
    add_user(store, "root", "admin", "root-password")
    admin = ("root", "root-password")
    with TestClient(create_app(AppContext(store))) as client:
        body = {"model": str(tiny_lm), "preset": "smoke", "settings": TINY}
        run = client.post("/api/v1/runs/one-click", json=body, auth=admin).json()
        assert run["snapshot"] == "s1" and run["method"] == "dpo"
        assert run["one_click"] == {
            "snapshot_created": False,
            "changed": [],
            "message": f"one-click DPO: run {run['id']} ({run['status']}) on snapshot s1 "
            "(nothing changed since)",
        }
        path = f"/api/v1/runs/{run['id']}"
        assert client.post(f"{path}/cancel", auth=admin).json()["status"] == "cancelled"
        resumed = client.post(f"{path}/resume", auth=admin).json()
        assert resumed["id"] == run["id"] and resumed["status"] in ("queued", "running")
        assert client.post(f"{path}/cancel", auth=admin).json()["status"] == "cancelled"
