"""Counts over the store, as `prefstudio stats` reports them."""

from __future__ import annotations

from dataclasses import dataclass

from curation.labelling.gold_scores import gold_report
from curation.quality.flags import flag_counts
from curation.store.store import Store, fetch_one

COUNTED_TABLES = (
    "prompts",
    "responses",
    "pairs",
    "labels",
    "ratings",
    "judgments",
    "snapshots",
    "runs",
)


def store_stats(store: Store, *, with_agreement: bool = False) -> dict:
    """Row counts per table, pairs labelled, and pairs per flag kind (dismissed flags excluded).

    With `with_agreement`, also `agreement`: annotator agreement and biases (`curation.quality.agreement`),
    and `gold`: gold pairs, their rate, and each annotator's gold accuracy (`curation.labelling.gold_scores`).
    """
    con = store.con
    counted = ", ".join(f"(SELECT count(*) FROM {table}) AS {table}" for table in COUNTED_TABLES)
    columns = [*COUNTED_TABLES, "labelled_pairs", "annotators"]
    values = fetch_one(
        con,
        f"SELECT {counted}, (SELECT count(*) FROM pair_votes), "
        "(SELECT count(DISTINCT annotator) FROM labels WHERE annotator NOT LIKE 'import:%')",
    )
    counts: dict = dict(zip(columns, values, strict=True))
    counts["flags"] = flag_counts(con)  # the same figures `curate` reports
    if with_agreement:
        from curation.quality.agreement import annotator_agreement

        counts["agreement"] = annotator_agreement(store).to_dict()
        counts["gold"] = gold_report(store)
    return counts


@dataclass(frozen=True)
class StoreStats:
    """The counts of `store_stats`, with the agreement figures."""

    counts: dict

    def to_dict(self) -> dict:
        return self.counts

    def text(self) -> str:
        """One line per count, the flags, then the agreement figures."""
        from curation.quality.agreement import agreement_lines

        counts = self.counts
        lines = [
            f"{name:>15}: {value}" for name, value in counts.items() if not isinstance(value, dict)
        ]
        flags = ", ".join(f"{k} {v}" for k, v in counts["flags"].items())
        lines.append(f"{'flags':>15}: " + (flags or "none"))
        return "\n".join([*lines, *agreement_lines(counts["agreement"])])


def stats_report(store: Store) -> StoreStats:
    """Every count of `store_stats`, with annotator agreement and gold accuracy."""
    return StoreStats(store_stats(store, with_agreement=True))
