"""Judge runs over a real store: selection, caching, resuming, failures, the report, and use."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from curation import Store, import_paths
from curation.judging.judgments import (
    JudgmentError,
    get_suggestions,
    set_suggestions,
    suggestion_for,
    uncertain_pairs,
)
from judges.base import Judge, OrderScore, PairItem, Verdict, combine_orders
from judges.llm import LogitJudge
from judges.priorities import prioritize
from judges.report import JudgeReport, judge_report
from judges.rules import LongerJudge
from judges.runs import run_judge

# Hand-made pairs: prompt -> (response a, response b, human scores or None when unlabelled),
# and what a scripted judge says about each in the orders (A, B) and (B, A).
CASES = {
    "P1": ("Paris is the capital of France.", "Lyon.", [1, 0], (0.9, 0.2)),
    "P2": ("No.", "Yes, certainly: boil it for 7 minutes.", [0, 1], (0.8, 0.7)),
    "P3": ("Short good.", "A long but worse answer here.", [1, 0], (0.3, 0.6)),
    "P4": ("x", "yy", [1, 1], (0.6, 0.3)),
    "P5": ("Unlabelled one.", "Unlabelled two!", None, (None, 0.5)),
    "P6": ("Fine answer that is long.", "Short.", [0, 1], (0.1, 0.95)),
}


class ScriptedJudge(Judge):
    """A fake judge that says, for each prompt, what CASES scripts for both orders."""

    name = "scripted"

    def __init__(self, script: dict[str, tuple] | None = None) -> None:
        super().__init__()
        self.script = script or {prompt: case[3] for prompt, case in CASES.items()}
        self.calls: list[list[str]] = []

    @property
    def order_free(self) -> bool:
        return False

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        self.calls.append([item.prompt[0]["content"] for item in items])
        return [
            combine_orders(*(OrderScore(p) for p in self.script[item.prompt[0]["content"]]))
            for item in items
        ]


class CountingJudge(LongerJudge):
    """The longer-response rule, counting the pairs it is asked to judge."""

    def __init__(self) -> None:
        super().__init__()
        self.judged = 0

    def judge(self, items: Sequence[PairItem]) -> list[Verdict]:
        self.judged += len(items)
        return super().judge(items)


@pytest.fixture
def cases_store(store: Store, write_jsonl) -> Store:
    """A store holding the CASES pairs, with human labels from their scores."""
    records = []
    for prompt, (a, b, scores, _) in CASES.items():
        record = {"prompt": prompt, "responses": [a, b]}
        if scores:
            record["scores"] = scores
        records.append(record)
    import_paths(store, [write_jsonl("cases.jsonl", records)], format="responses")
    return store


def test_report_figures_on_a_hand_made_case(cases_store: Store) -> None:
    summary = run_judge(cases_store, ScriptedJudge(), pairs="all")
    assert summary.judged == 6 and summary.choices == {"a": 2, "tie": 1, "b": 2, "failed": 1}
    report = judge_report(cases_store).judges
    assert set(report) == {"scripted", "longer", "shorter", "refusal"}
    scripted = report["scripted"]
    assert (scripted["n"], scripted["failed"], scripted["ties"]) == (6, 1, 1)
    # Decided on a human majority: P1 (a, a), P3 (a, b), P6 (b, b); P2 is a judge tie,
    # P4 a human tie, P5 failed.
    assert scripted["agreement_n"] == 3
    assert scripted["agreement"] == pytest.approx(2 / 3)
    assert scripted["kappa"] == pytest.approx(0.4)
    # p_a leans: P1 0.85 (a, right), P2 0.55 (a, wrong), P3 0.35 (b, wrong), P6 0.075 (b, right)
    assert (scripted["p_agreement"], scripted["p_agreement_n"]) == (0.5, 4)
    assert scripted["position_consistency"] == pytest.approx(4 / 5)  # P2 flipped with the order
    assert scripted["prefer_first"] == pytest.approx(6 / 10)
    assert scripted["prefer_longer"] == pytest.approx(2 / 4)  # P1, P3 longer; P4, P6 shorter
    longer = report["longer"]
    assert longer["baseline"] and longer["n"] == 6  # run on the same pairs
    assert (longer["agreement"], longer["kappa"], longer["prefer_longer"]) == (0.5, 0.0, 1.0)
    assert longer["prefer_first"] is None and longer["position_consistency"] == 1.0
    assert report["shorter"]["prefer_longer"] == 0.0
    table = {row[0]: row for row in JudgeReport(report).rows()}
    assert table["scripted"][1:4] == [6, 1, 1] and table["scripted"][4] == 0.667


def test_a_rerun_costs_nothing(cases_store: Store) -> None:
    first, second = CountingJudge(), CountingJudge()
    summary = run_judge(cases_store, first, pairs="all")
    assert (summary.selected, summary.cached, summary.judged, first.judged) == (6, 0, 6, 6)
    summary = run_judge(cases_store, second, pairs="all")
    assert (summary.selected, summary.cached, summary.judged, second.judged) == (6, 6, 0, 0)
    count = cases_store.con.execute("SELECT count(*) FROM judgments").fetchone()[0]
    assert count == 6


def test_a_cached_llm_run_does_not_even_load_the_model(
    cases_store: Store, tiny_lm_dir: Path
) -> None:
    judge = LogitJudge(str(tiny_lm_dir), batch_size=4)
    run_judge(cases_store, judge, pairs="all", limit=3)
    assert judge.forward_passes == 2  # three pairs, six orders, four per batch
    again = LogitJudge(str(tiny_lm_dir), batch_size=16)  # batch size is not part of the key
    summary = run_judge(cases_store, again, pairs="all", limit=3)
    assert (summary.cached, summary.judged, again.forward_passes) == (3, 0, 0)
    assert again._loaded is None


def test_limit_and_selection_pick_the_pairs(cases_store: Store) -> None:
    assert run_judge(cases_store, LongerJudge(), pairs="unlabeled").selected == 1  # P5
    assert run_judge(cases_store, LongerJudge(), pairs="labeled").selected == 5  # a tie is a label
    assert run_judge(cases_store, LongerJudge(), pairs="all", limit=2).selected == 2
    with pytest.raises(JudgmentError, match="unknown pair selection 'labelled'"):
        run_judge(cases_store, LongerJudge(), pairs="labelled")
    with pytest.raises(JudgmentError, match="limit must be positive"):
        run_judge(cases_store, LongerJudge(), limit=0)


def test_failed_verdicts_stay_failed_and_are_judged_again_on_rerun(cases_store: Store) -> None:
    run_judge(cases_store, ScriptedJudge(), pairs="all")
    fixed = {prompt: (0.7, 0.4) if prompt == "P5" else case[3] for prompt, case in CASES.items()}
    retry = ScriptedJudge(fixed)
    summary = run_judge(cases_store, retry, pairs="all")
    assert summary.judged == 1 and retry.calls == [["P5"]]
    rows = cases_store.con.execute(
        "SELECT choice FROM judgments WHERE pair_id IN "
        "(SELECT p.id FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id "
        " WHERE pr.messages->>'$[0].content' = 'P5') ORDER BY id"
    ).fetchall()
    assert rows == [("failed",), ("a",)]  # the failure is kept, the new verdict is in force
    assert judge_report(cases_store, baselines=False).judges["scripted"]["failed"] == 0


def test_an_interrupted_run_keeps_its_finished_chunks(cases_store: Store) -> None:
    class Crashing(CountingJudge):
        def judge(self, items):
            if self.judged >= 2:
                raise RuntimeError("power cut")
            return super().judge(items)

    with pytest.raises(RuntimeError):
        run_judge(cases_store, Crashing(), pairs="all", chunk_size=2)
    resumed = CountingJudge()
    seen = []
    summary = run_judge(
        cases_store, resumed, pairs="all", chunk_size=2, progress=lambda d, t: seen.append((d, t))
    )
    assert (summary.cached, summary.judged, resumed.judged) == (2, 4, 4)
    assert seen == [(0, 4), (2, 4), (4, 4)]


def test_suggestions_are_off_by_default_and_never_show_failures(cases_store: Store) -> None:
    judge = ScriptedJudge()
    run_judge(cases_store, judge, pairs="all")
    ids = dict(
        cases_store.con.execute(
            "SELECT pr.messages->>'$[0].content', p.id FROM pairs p "
            "JOIN prompts pr ON pr.id = p.prompt_id"
        ).fetchall()
    )
    assert get_suggestions(cases_store) == {"enabled": False, "judge_key": None}
    assert suggestion_for(cases_store, ids["P1"]) is None
    set_suggestions(cases_store, True, judge.key())
    assert suggestion_for(cases_store, ids["P1"]) == {
        "judge": "scripted",
        "choice": "a",
        "p_a": pytest.approx(0.85),
    }
    assert suggestion_for(cases_store, ids["P5"]) is None  # its verdict failed
    with pytest.raises(JudgmentError, match="no judge with key 'nope'"):
        set_suggestions(cases_store, True, "nope")
    assert set_suggestions(cases_store, False) == {"enabled": False, "judge_key": None}


def test_unsure_and_disagreeing_pairs_go_first_in_the_queue(store: Store, write_jsonl) -> None:
    records = [
        {"prompt": f"Q{i}", "responses": [f"first {i}", f"second answer {i}"]} for i in range(3)
    ]
    import_paths(store, [write_jsonl("open.jsonl", records)], format="responses")
    sure = ScriptedJudge({"Q0": (0.95, 0.05), "Q1": (0.55, 0.45), "Q2": (0.9, 0.1)})
    other = ScriptedJudge({"Q0": (0.9, 0.1), "Q1": (0.6, 0.4), "Q2": (0.1, 0.9)})
    other.name = "other"
    for judge in (sure, other):
        run_judge(store, judge, pairs="all")
    run_judge(store, LongerJudge(), pairs="all")  # a baseline: left out of priorities
    rows = uncertain_pairs(store, exclude_names=("longer",))
    prompts = dict(
        store.con.execute(
            "SELECT p.id, pr.messages->>'$[0].content' FROM pairs p JOIN prompts pr ON pr.id = p.prompt_id"
        ).fetchall()
    )
    assert [prompts[p] for p in rows["pair_id"]] == ["Q2", "Q1", "Q0"]
    assert rows["reason"].iloc[0].startswith("judges disagree")
    assert prioritize(store).prioritized == 3
    stored = store.con.execute(
        "SELECT pair_id, priority FROM queue_priorities ORDER BY priority DESC"
    ).fetchall()
    assert [prompts[p] for p, _ in stored] == ["Q2", "Q1", "Q0"]


def test_a_snapshot_selects_its_preference_pairs(cases_store: Store) -> None:
    from curation.snapshots.freeze import create_snapshot

    create_snapshot(cases_store, "s1")
    summary = run_judge(cases_store, LongerJudge(), pairs="snapshot:s1")
    assert summary.selected == 4  # P1, P2, P3, P6 have a winner; the tie and the unlabelled do not
