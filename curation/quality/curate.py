"""One curation pass: duplicate clusters and quality flags for the whole store, in one transaction.

The slow parts, grouping texts (MinHash) and counting tokens with a tokenizer, may be done
before, out of the process that holds the store: a curation job's worker does them, and the
pass then takes its `groups` and `tokens` (`curation.quality.curate_job`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from curation.errors import PrefstudioError
from curation.quality.dedupe import DuplicateReport, drop_group_tables, find_duplicates
from curation.quality.flags import FlagRules, compute_flags, flag_counts, replace_flags
from curation.quality.minhash import DEFAULT_THRESHOLD
from curation.store.store import Store


class CurateError(PrefstudioError):
    """Curation was asked for with settings it cannot use."""


@dataclass
class CurateReport:
    """Pairs per flag kind after the pass, and the duplicate clusters it found."""

    flags: dict[str, int]
    duplicates: DuplicateReport
    near_dup_threshold: float
    rules: FlagRules = field(repr=False)

    def to_dict(self) -> dict:
        return {
            "flags": self.flags,
            "clusters": self.duplicates.to_dict()["counts"],
            "largest_clusters": self.duplicates.largest,
            "near_dup_threshold": self.near_dup_threshold,
            "max_tokens": self.rules.max_tokens,
            "truncation_tokens": self.rules.truncation_tokens,
        }

    @staticmethod
    def text(report: dict) -> str:
        """A report (as to_dict gives it) as text: the duplicate clusters per subject and kind,
        then the pairs flagged per kind."""
        lines = ["duplicate clusters (clusters / extra members):"]
        for subject, kinds in report["clusters"].items():
            cells = [f"{kind} {c['clusters']} / {c['duplicates']}" for kind, c in kinds.items()]
            lines.append(f"  {subject:>8}: " + ", ".join(cells))
        flagged = ", ".join(f"{k} {v}" for k, v in report["flags"].items()) or "none"
        return "\n".join([*lines, f"pairs flagged: {flagged}"])


def check_threshold(near_dup_threshold: float) -> None:
    """Raise CurateError unless the near-duplicate threshold is in (0, 1]."""
    if not 0 < near_dup_threshold <= 1:
        raise CurateError(
            f"near-duplicate threshold must be above 0 and at most 1, got {near_dup_threshold}"
        )


def curate(
    store: Store,
    *,
    near_dup_threshold: float = DEFAULT_THRESHOLD,
    rules: FlagRules | None = None,
    groups: dict[str, pa.Table] | None = None,
    tokens: pa.Table | None = None,
) -> CurateReport:
    """Recompute duplicate clusters and flags; dismissed flags stay dismissed.

    `groups` (the prompts' and responses' `group_table`s) and `tokens` (id, tokens) are used
    when given, else computed here. Running it twice on unchanged data changes nothing the
    second time.
    """
    check_threshold(near_dup_threshold)
    rules = rules or FlagRules()
    with store.transaction() as con:  # on error, the rollback drops the temporary tables too
        duplicates = find_duplicates(con, near_dup_threshold, groups=groups)
        compute_flags(con, rules, tokens)
        replace_flags(con)
        drop_group_tables(con)
        counts = flag_counts(con)
    return CurateReport(counts, duplicates, near_dup_threshold, rules)
