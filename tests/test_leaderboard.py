"""The model leaderboard: Bradley-Terry on synthetic tournaments, length control, ties,
provisional ratings, one identity per model, the store and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from app.cli import main
from curation.arena.leaderboard import (
    Games,
    bradley_terry,
    games_from_store,
    rank_models,
    store_leaderboard,
    to_elo,
)
from curation.arena.model_names import model_identity
from curation.store.store import Store
from tests.arena_helpers import arena_store, vote


def tournament(
    strengths: list[float],
    games: int,
    rng: np.random.Generator,
    *,
    lengths: list[float] | None = None,
    length_bias: float = 0.0,
) -> Games:
    """Random games between random model pairs, won by the Bradley-Terry law of `strengths`
    (plus `length_bias` per unit of tanh-scaled length difference when `lengths` are given)."""
    k = len(strengths)
    a = rng.integers(0, k, games)
    b = (a + rng.integers(1, k, games)) % k
    true = np.asarray(strengths)
    base = np.asarray(lengths if lengths is not None else [100.0] * k)
    len_a = base[a] * rng.lognormal(0.0, 0.4, games)
    len_b = base[b] * rng.lognormal(0.0, 0.4, games)
    difference = len_a - len_b
    logit = true[a] - true[b] + length_bias * np.tanh(difference / difference.std())
    score = (rng.random(games) < 1.0 / (1.0 + np.exp(-logit))).astype(float)
    names = [f"model-{i}" for i in range(k)]
    return Games.from_named(
        [names[i] for i in a], [names[i] for i in b], score.tolist(), len_a.tolist(), len_b.tolist()
    )


def test_ranking_is_recovered_and_intervals_cover_the_true_ratings():
    strengths = [1.0, 0.5, 0.0, -0.5, -1.0]
    true_elo = to_elo(np.asarray(strengths) - np.mean(strengths))
    covered, checked = 0, 0
    for seed in range(20):
        games = tournament(strengths, 2000, np.random.default_rng(seed))
        board = rank_models(games, bootstrap=300, seed=seed)
        assert [s.model for s in board.standings] == [f"model-{i}" for i in range(5)]
        for standing in board.standings:
            low, high = standing.interval
            assert low < standing.rating < high
            covered += low <= true_elo[int(standing.model[-1])] <= high
            checked += 1
    assert covered / checked >= 0.88  # nominal 95%, with some room for a finite bootstrap


def test_intervals_narrow_with_more_games():
    rng = np.random.default_rng(7)
    widths = []
    for games in (200, 5000):
        board = rank_models(tournament([0.3, 0.0, -0.3], games, rng), bootstrap=300)
        widths.append(np.mean([s.interval[1] - s.interval[0] for s in board.standings]))
    assert widths[1] < widths[0] / 3


def test_a_model_that_only_writes_longer_tops_the_raw_board_but_not_the_length_controlled_one():
    # model-0 is better; model-1 is no better than the rest but writes three times longer,
    # and the (synthetic) annotators favour longer answers.
    games = tournament(
        [0.5, 0.0, 0.0, 0.0],
        4000,
        np.random.default_rng(3),
        lengths=[100.0, 300.0, 100.0, 100.0],
        length_bias=1.5,
    )
    board = rank_models(games, bootstrap=100)
    by_model = {s.model: s for s in board.standings}
    assert board.standings[0].model == "model-1"
    assert by_model["model-1"].win_rate > by_model["model-0"].win_rate
    assert max(board.standings, key=lambda s: s.lc_win_rate).model == "model-0"
    assert max(board.standings, key=lambda s: s.lc_rating).model == "model-0"
    assert by_model["model-1"].lc_win_rate < 0.55
    assert board.length_coefficient == pytest.approx(1.5, abs=0.3)


def test_length_controlled_intervals_hold_their_rating_and_narrow_with_more_games():
    rng = np.random.default_rng(5)
    widths = []
    for count in (300, 6000):
        games = tournament(
            [0.4, 0.0, -0.4], count, rng, lengths=[100.0, 300.0, 100.0], length_bias=1.0
        )
        board = rank_models(games, bootstrap=200)
        for standing in board.standings:
            low, high = standing.lc_interval
            assert low <= standing.lc_rating <= high
        widths.append(np.mean([s.lc_interval[1] - s.lc_interval[0] for s in board.standings]))
    assert widths[1] < widths[0] / 3
    assert board.to_dict()["models"][0]["lc_interval"] == list(board.standings[0].lc_interval)


def test_ties_count_half_a_win_for_each_side():
    games = Games.from_named(["x"] * 10, ["y"] * 10, [0.5] * 8 + [1.0, 0.0])
    board = rank_models(games, bootstrap=50)
    x, y = sorted(board.standings, key=lambda s: s.model)
    assert x.rating == pytest.approx(y.rating) == pytest.approx(1000.0)
    assert (x.wins, x.losses, x.ties, x.win_rate) == (1, 1, 8, 0.5)
    assert board.to_dict()["win_rates"] == {"x": {"y": 0.5}, "y": {"x": 0.5}}


def test_a_model_that_won_every_game_gets_a_finite_rating_and_rank_one():
    games = Games.from_named(["x"] * 30 + ["y"] * 30, ["y"] * 30 + ["z"] * 30, [1.0] * 60)
    board = rank_models(games, bootstrap=200)
    assert [s.model for s in board.standings] == ["x", "y", "z"]
    assert all(np.isfinite(s.rating) and np.isfinite(s.interval[1]) for s in board.standings)
    assert [s.rank for s in board.standings] == [1, 2, 3]


def test_an_empty_store_gives_an_empty_board(store):
    board = rank_models(games_from_store(store))
    assert board.to_dict()["models"] == []


def test_store_games_count_human_labels_and_optionally_judges(store, tmp_path):
    pair_ids = arena_store(store, tmp_path)
    for pair_id in pair_ids[:3]:
        vote(store, pair_id, "alice", "good")
    for pair_id in pair_ids[3:]:
        vote(store, pair_id, "alice", "reference")
    with store.transaction() as con:
        con.execute(
            "INSERT INTO judgments (pair_id, judge_key, choice) VALUES (?, 'j1', 'tie'), (?, 'j1', 'failed')",
            [pair_ids[0], pair_ids[1]],
        )
    human = games_from_store(store)
    assert human.models == ["bad", "good", "reference"] and len(human) == 6
    with_judges = games_from_store(store, judges=True)
    assert len(with_judges) == 7 and sorted(with_judges.score.tolist()).count(0.5) == 1
    board = rank_models(human, bootstrap=100)
    assert board.standings[-1].model == "bad"


def test_cli_leaderboard_json_lists_models_with_rating_interval_and_games(db_path, tmp_path):
    with Store(db_path) as store:
        for pair_id in arena_store(store, tmp_path)[:3]:
            vote(store, pair_id, "alice", "good")
    result = CliRunner().invoke(
        main, ["leaderboard", "--db", str(db_path), "--json", "--bootstrap", "100"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [m["model"] for m in data["models"]] == ["good", "bad"]
    first = data["models"][0]
    assert first["games"] == 3 and first["interval"][0] <= first["rating"] <= first["interval"][1]
    assert data["games"] == {"bad": {"good": 3}, "good": {"bad": 3}}
    text = CliRunner().invoke(main, ["leaderboard", "--db", str(db_path)]).output
    assert "good" in text.splitlines()[1] and "games" in text


def test_models_with_few_games_are_provisional_with_a_configurable_threshold():
    games = Games.from_named(["x"] * 5 + ["y"] * 30, ["y"] * 5 + ["z"] * 30, [1.0] * 35)
    board = rank_models(games, bootstrap=100)
    by_model = {s.model: s for s in board.standings}
    assert {m: (s.games, s.provisional) for m, s in by_model.items()} == {
        "x": (5, True),
        "y": (35, False),
        "z": (30, False),
    }
    data = board.to_dict()
    assert data["provisional_games"] == 20
    assert {m["model"]: m["provisional"] for m in data["models"]}["x"] is True
    lenient = rank_models(games, bootstrap=100, provisional_games=5)
    assert not any(s.provisional for s in lenient.standings)
    strict = rank_models(games, bootstrap=100, provisional_games=36)
    assert all(s.provisional for s in strict.standings)


@pytest.mark.parametrize("bootstrap", [0, 200])
def test_one_game_never_gives_a_certain_interval(bootstrap):
    board = rank_models(Games.from_named(["x"], ["y"], [1.0]), bootstrap=bootstrap)
    for standing in board.standings:
        assert standing.provisional and standing.games == 1
        for low, high in (standing.interval, standing.lc_interval):
            assert low < standing.rating < high or low < standing.lc_rating < high
            assert high - low > 400  # wider than ten-to-one odds either way
    assert [s.rank for s in board.standings] == [1, 1]  # neither is known to be better


def test_intervals_from_many_games_stay_close_to_the_bootstrap():
    games = tournament([0.5, 0.0, -0.5], 3000, np.random.default_rng(11))
    board = rank_models(games, bootstrap=300)
    resampled = to_elo(bradley_terry(games, bootstrap=300).resampled)
    low, high = np.quantile(resampled, [0.025, 0.975], axis=0)
    bootstrap_width = dict(zip(games.models, high - low, strict=True))
    for standing in board.standings:
        width = standing.interval[1] - standing.interval[0]
        assert bootstrap_width[standing.model] <= width < 1.3 * bootstrap_width[standing.model]


def run_model_folder(store: Store, run_id: int) -> Path:
    """A tiny causal LM saved where run `run_id` keeps its model."""
    from tests.models import build_tiny_causal_lm

    return build_tiny_causal_lm(store.files_dir / "runs" / str(run_id) / "model")


def test_a_runs_model_folder_and_its_own_answers_are_one_model(
    db_path, tmp_path, monkeypatch, store
):
    from curation.arena.pairing import pair_responses
    from curation.arena.run_pairs import add_run_pairs

    pair_ids = arena_store(store, tmp_path)
    prompt_ids = [r[0] for r in store.con.execute("SELECT id FROM prompts ORDER BY id").fetchall()]
    run_model_folder(store, 3)
    store.close()
    monkeypatch.chdir(db_path.parent / f"{db_path.stem}.files")
    args = ["generate", "--model", "runs/3/model", "--n", "1", "--temperature", "0"]
    generated = CliRunner().invoke(
        main, [*args, "--max-new-tokens", "4", "--db", str(db_path), "--json"]
    )
    assert generated.exit_code == 0, generated.output
    with Store(db_path) as store:
        assert store.con.execute(
            "SELECT DISTINCT model, meta->>'model_path' FROM responses WHERE source = 'generate' "
            "AND model NOT IN ('good', 'bad')"
        ).fetchall() == [("run:3", "runs/3/model")]
        across = pair_responses(store, "across", ["runs/3/model", "good"]).pair_ids
        rows = [{"prompt_id": p, "base": f"Base {p}", "trained": f"Tuned {p}"} for p in prompt_ids]
        add_run_pairs(store, 3, "good", rows)
        own = [
            r[0]
            for r in store.con.execute("SELECT id FROM pairs WHERE origin = 'run:3'").fetchall()
        ]
        assert len(across) == 3 and len(own) == 3
        for pair_id in pair_ids[:3]:
            vote(store, pair_id, "alice", "good")
        for pair_id in across + own:
            vote(store, pair_id, "alice", "run:3")
        board = store_leaderboard(store, bootstrap=50)
    by_model = {s.model: s for s in board.standings}
    assert set(by_model) == {"run:3", "good", "bad"}
    assert by_model["run:3"].games == 6 and by_model["run:3"].wins == 6
    assert by_model["run:3"].aliases == ["runs/3/model"]


def test_names_stored_before_identities_merge_at_read_time(store, tmp_path):
    pair_ids = arena_store(store, tmp_path)
    folder = run_model_folder(store, 4)
    with store.transaction() as con:  # answers stored under the folder's absolute path
        con.execute("UPDATE responses SET model = ? WHERE model = 'bad'", [str(folder)])
    for pair_id in pair_ids[:3]:
        vote(store, pair_id, "alice", "good")
    games = games_from_store(store)
    assert games.models == ["good", "run:4"] and games.aliases == {"run:4": [str(folder)]}


def test_model_identity_of_run_folders_exports_and_other_names(store, tmp_path, monkeypatch):
    from training.export import export_run_model

    runs = store.files_dir / "runs"
    (runs / "7" / "model").mkdir(parents=True)
    (runs / "7" / "model" / "adapter_config.json").write_text("{}")
    run = {"id": 7, "status": "succeeded", "out_dir": str(runs / "7"), "method": "dpo"}
    exported = export_run_model(run, tmp_path / "shipped")
    monkeypatch.chdir(tmp_path)
    assert {
        name: model_identity(store, name)
        for name in (
            str(runs / "7" / "model"),
            str(runs / "7"),
            "runs/7/model",  # relative to the store's files folder
            str(runs / "7" / "checkpoints" / "checkpoint-2"),
            str(exported),
            "shipped",  # relative to the working folder
            "run:7",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "smollm2-135m",
            str(tmp_path),
        )
    } == {
        str(runs / "7" / "model"): "run:7",
        str(runs / "7"): "run:7",
        "runs/7/model": "run:7",
        str(runs / "7" / "checkpoints" / "checkpoint-2"): "run:7/checkpoints/checkpoint-2",
        str(exported): "run:7",
        "shipped": "run:7",
        "run:7": "run:7",
        "HuggingFaceTB/SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "smollm2-135m": "smollm2-135m",
        str(tmp_path): str(tmp_path),
    }


def test_a_run_is_known_by_its_job_folder_and_no_other_job_is(store):
    from curation.jobs.records import insert_job
    from curation.store.run_records import insert_run

    jobs = store.files_dir / "jobs"

    def add_run(con, job_id):
        insert_run(con, 4, snapshot="s", method="dpo", model="m", config={}, job_id=job_id)

    run_job = insert_job(store, "train", {"run_id": 4}, {}, jobs, link=add_run)
    other_job = insert_job(store, "generate", {}, {}, jobs)
    (jobs / str(run_job.id) / "checkpoints" / "c-1").mkdir(parents=True)
    assert model_identity(store, str(jobs / str(run_job.id) / "model")) == "run:4"
    assert model_identity(store, f"jobs/{run_job.id}/checkpoints/c-1") == "run:4/checkpoints/c-1"
    other = str(jobs / str(other_job.id))
    assert model_identity(store, other) == other


def test_cli_leaderboard_marks_provisional_models_and_takes_a_threshold(db_path, tmp_path):
    with Store(db_path) as store:
        for pair_id in arena_store(store, tmp_path)[:3]:
            vote(store, pair_id, "alice", "good")
    base = ["leaderboard", "--db", str(db_path), "--bootstrap", "50"]
    text = CliRunner().invoke(main, base).stdout.splitlines()
    assert (
        text[1].split()[:3] == ["1?", "good", text[1].split()[2]] and text[1].split()[2][-1] == "?"
    )
    assert "? provisional: fewer than 20 games" in text[3]
    data = json.loads(
        CliRunner().invoke(main, [*base, "--json", "--provisional-games", "3"]).stdout
    )
    assert data["provisional_games"] == 3 and not any(m["provisional"] for m in data["models"])
    refused = CliRunner().invoke(main, [*base, "--provisional-games", "-1"])
    assert refused.exit_code == 2 and "--provisional-games" in refused.stderr


def test_the_tabs_table_marks_provisional_models_and_lists_aliases():
    from app.tabs.leaderboard import TABLE_COLUMNS, standings_table

    games = Games.from_named(["x"] * 5 + ["y"] * 30, ["y"] * 5 + ["z"] * 30, [1.0] * 35)
    games.aliases = {"x": ["/store.files/runs/1/model"]}
    frame = standings_table(rank_models(games, bootstrap=50))
    assert list(frame.columns) == TABLE_COLUMNS
    table = frame.set_index("model")
    assert table["provisional"].to_dict() == {"x": "provisional", "y": "", "z": ""}
    assert table.loc["x", "also known as"] == "/store.files/runs/1/model"
    assert (table["high"] > table["low"]).all()
