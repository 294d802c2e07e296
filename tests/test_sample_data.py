"""The bundled sample (data/) gives every part of the app something to show on a fresh store."""

from __future__ import annotations

from pathlib import Path

import pytest

from curation import Store, import_paths
from curation.arena.leaderboard import store_leaderboard
from curation.quality.agreement import annotator_agreement
from curation.quality.curate import curate
from curation.quality.length_stats import chosen_vs_rejected

SAMPLE = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory):
    """A store holding the whole sample, curated once."""
    with Store(tmp_path_factory.mktemp("sample") / "store.duckdb") as store:
        import_paths(store, [SAMPLE])
        yield store, curate(store)


def test_the_leaderboard_ranks_named_models_on_enough_games(sample) -> None:
    store, _ = sample
    board = store_leaderboard(store)
    standings = {s.model: s for s in board.standings}
    assert len(standings) >= 2
    assert all(not s.provisional for s in standings.values())
    # The verbose model wins more games than the length-controlled board credits it with.
    best, verbose = standings["atlas-7b-chat"], standings["breeze-3b-instruct"]
    assert best.rank == 1 and best.rating > verbose.rating
    assert verbose.lc_win_rate < verbose.win_rate


def test_two_annotators_label_the_same_pairs_and_sometimes_disagree(sample) -> None:
    store, report = sample
    agreement = annotator_agreement(store)
    (pair,) = [
        c for c in agreement.cohen if c.annotators == ("import:panel_ana", "import:panel_ben")
    ]
    assert pair.pairs == 20 and 0.5 < pair.agreement < 1
    assert pair.kappa is not None and 0 < pair.kappa < 0.5
    assert report.flags["label_conflict"] == 20 - round(20 * pair.agreement)


def test_length_predicts_the_labels_well_but_far_from_always(sample) -> None:
    store, _ = sample
    share = annotator_agreement(store).chosen_longer_share
    assert 0.6 < share < 0.85
    sizes = chosen_vs_rejected(store)
    concise = int((sizes.chosen < sizes.rejected).sum())
    assert concise >= 50  # labelled pairs where the shorter answer is the better one


def test_curation_finds_something_to_show(sample) -> None:
    _, report = sample
    assert report.flags.get("role_marker", 0) >= 1  # a small model leaking a "User:" turn
