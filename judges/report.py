"""The judge report: per judge, agreement with human labels, Cohen's kappa, calibration error
and position and length biases, next to the rule baselines run on the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from curation import Store
from curation.judging.judge_reads import verdicts
from curation.judging.judgments import judged_pair_ids, report_counts
from curation.snapshots.freeze import latest_snapshot
from judges.calibration import expected_calibration_error, reliability
from judges.heldout import snapshot_heldout, unique_label
from judges.registry import RULE_KINDS, build_judge
from judges.runs import run_judge


def ratio(part: float, whole: float) -> float | None:
    """part / whole, or None when there is nothing to divide.

    >>> ratio(1, 4), ratio(0, 0)
    (0.25, None)
    """
    return part / whole if whole else None


def cohen_kappa(aa: int, ab: int, ba: int, bb: int) -> float | None:
    """Cohen's kappa of two raters choosing a or b; `ab` counts (human a, judge b) and so on.

    >>> round(cohen_kappa(40, 10, 10, 40), 6)
    0.6
    >>> cohen_kappa(10, 0, 0, 0) is None  # one category only: chance agreement is total
    True
    """
    n = aa + ab + ba + bb
    if n == 0:
        return None
    observed = (aa + bb) / n
    expected = ((aa + ab) * (aa + ba) + (ba + bb) * (ab + bb)) / (n * n)
    return None if expected == 1 else (observed - expected) / (1 - expected)


def run_baselines(store: Store) -> None:
    """Run the rule judges over every pair another judge has judged (cached, so cheap)."""
    pair_ids = judged_pair_ids(store, exclude_names=RULE_KINDS)
    if not pair_ids:
        return
    for kind in RULE_KINDS:
        run_judge(store, build_judge(kind), pairs="all", pair_ids=pair_ids)


def calibration_errors(store: Store) -> dict[str, dict[str, float | None]]:
    """Per judge key: `ece` of p_a against the human majority over its labelled pairs, and
    `calibrated_ece` on the newest snapshot's test pairs after a calibrator fitted on its
    train pairs (None without a snapshot or with too few verdicts there)."""
    found = verdicts(store).dropna(subset=["human"])
    errors = {
        key: {
            "ece": expected_calibration_error(rows["p_a"], rows["human"] == "a"),
            "calibrated_ece": None,
        }
        for key, rows in found.groupby("judge_key")
    }
    snapshot = latest_snapshot(store)
    heldout = snapshot_heldout(store, snapshot)[0] if snapshot else {}
    for figures in heldout.values():
        errors.setdefault(figures["judge_key"], {"ece": None})
        errors[figures["judge_key"]]["calibrated_ece"] = figures["calibrated_ece"]
    return errors


def reliability_curves(store: Store) -> dict[str, pd.DataFrame]:
    """Per judge other than the rule baselines, the reliability bins of its p_a against the
    human majority over its labelled pairs (see `judges.calibration.reliability`)."""
    found = verdicts(store).dropna(subset=["human"])
    found = found[~found["name"].isin(RULE_KINDS)]
    judges = found.drop_duplicates("judge_key")
    labels = judges["label"].tolist()
    curves = {}
    for judge in judges.itertuples(index=False):
        rows = found[found["judge_key"] == judge.judge_key]
        label = unique_label(judge.label, judge.judge_key, labels)
        curves[label] = reliability(rows["p_a"], rows["human"] == "a")
    return curves


@dataclass(frozen=True)
class JudgeReport:
    """Every judge with verdicts in the store, by label: their figures (see `judge_report`)."""

    judges: dict[str, dict]

    def to_dict(self) -> dict:
        return {"judges": self.judges}

    def rows(self) -> list[list[object]]:
        """One row per judge (label, then REPORT_COLUMNS), figures rounded to 3 places."""
        rows = []
        for label, figures in self.judges.items():
            values = [figures[c] for c in REPORT_COLUMNS]
            rows.append([label, *(round(v, 3) if isinstance(v, float) else v for v in values)])
        return rows

    def text(self) -> str:
        """An aligned table, one judge per line."""
        rows = self.rows()
        if not rows:
            return "no judgments yet; run `prefstudio judge --judge ...` first"
        header = ["judge", *REPORT_COLUMNS]
        cells = [header, *[["-" if v is None else str(v) for v in row] for row in rows]]
        widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
        lines = [
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in cells
        ]
        return "\n".join(lines)


def judge_report(store: Store, *, baselines: bool = True) -> JudgeReport:
    """Every judge with verdicts in the store, with its figures.

    Figures: n (pairs judged), failed, ties, agreement with the human majority label and
    Cohen's kappa over the pairs where both picked a side (`agreement_n` of them),
    `p_agreement` (whether p_a, which averages both orders, leans to the human side; over
    `p_agreement_n` pairs with p_a off 0.5, so it counts inconsistent verdicts too), the share of
    non-failed verdicts that were position-consistent, `prefer_longer` (share of decided
    verdicts on pairs of unequal length that chose the longer response) and `prefer_first`
    (share of single-order picks that chose the response shown first; None for judges that
    never see an order), and the calibration errors `ece` and `calibrated_ece` (see
    `calibration_errors`). With `baselines`, the rule judges are first run on the same pairs.
    """
    if baselines:
        run_baselines(store)
    counts = report_counts(store)
    labels = counts["label"].tolist()
    errors = calibration_errors(store)
    judges = {}
    for row in counts.itertuples(index=False):
        label = unique_label(row.label, row.judge_key, labels)
        table = (row.human_a_judge_a, row.human_a_judge_b, row.human_b_judge_a, row.human_b_judge_b)
        agreement_n = sum(table)
        judges[label] = {
            "judge_key": row.judge_key,
            "kind": row.name,
            "baseline": row.name in RULE_KINDS,
            "n": int(row.n),
            "failed": int(row.failed),
            "ties": int(row.ties),
            "agreement_n": int(agreement_n),
            "agreement": ratio(table[0] + table[3], agreement_n),
            "kappa": cohen_kappa(*(int(x) for x in table)),
            "p_agreement": ratio(row.p_agree, row.p_decided),
            "p_agreement_n": int(row.p_decided),
            "position_consistency": ratio(row.consistent, row.consistency_n),
            "prefer_longer": ratio(row.chose_longer, row.length_decided),
            "prefer_first": None if row.order_free else ratio(row.first_picks, row.order_picks),
            "ece": None,
            "calibrated_ece": None,
            **errors.get(row.judge_key, {}),
        }
    return JudgeReport(judges)


REPORT_COLUMNS = (
    "n",
    "failed",
    "ties",
    "agreement",
    "kappa",
    "ece",
    "calibrated_ece",
    "p_agreement",
    "position_consistency",
    "prefer_longer",
    "prefer_first",
)
