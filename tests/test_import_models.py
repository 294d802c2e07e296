"""Multi-response rows may name the model of each response; the names reach the leaderboard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import table_counts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curation import BadInput, Store, import_paths
from curation.arena.leaderboard import games_from_store

ROW = {
    "prompt": "Name a colour.",
    "responses": ["Blue.", "I like turtles.", "Red, like a ripe tomato."],
    "models": ["model-a", "model-b", "model-c"],
    "scores": [2, 0, 3],
}


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), "utf-8")
    return path


def test_each_response_is_stored_with_its_model_and_plays_on_the_leaderboard(
    store: Store, tmp_path: Path
) -> None:
    unnamed = {"prompt": "Name a fruit.", "responses": ["Apple.", "Nope."], "scores": [1, 0]}
    import_paths(store, [write(tmp_path / "rows.jsonl", [ROW, unnamed])])
    stored = dict(store.con.execute("SELECT text, model FROM responses").fetchall())
    assert stored == {
        "Blue.": "model-a",
        "I like turtles.": "model-b",
        "Red, like a ripe tomato.": "model-c",
        "Apple.": None,
        "Nope.": None,
    }
    games = games_from_store(store)  # the rows without names play no game
    assert games.models == ["model-a", "model-b", "model-c"] and len(games) == 3


BAD_MODELS = st.one_of(
    st.lists(st.text(max_size=5), max_size=6).filter(lambda names: len(names) != 3),
    st.lists(st.one_of(st.integers(), st.none(), st.booleans()), min_size=3, max_size=3),
    st.text(max_size=5),
    st.integers(),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(models=BAD_MODELS)
def test_models_that_are_not_one_name_per_response_are_refused_storing_nothing(
    tmp_path: Path, models: object
) -> None:
    path = write(tmp_path / "bad.jsonl", [{**ROW, "models": models}])
    with Store(tmp_path / "store.duckdb") as store:
        with pytest.raises(BadInput) as caught:
            import_paths(store, [path])
        assert table_counts(store) == dict.fromkeys(table_counts(store), 0)
    message = str(caught.value)
    assert len(message.splitlines()) == 1
    assert 'line 1, field "models": expected a list of model names, one per response' in message
