"""Pair candidate responses for labelling: samples of one model, two models, or a reference.

Every strategy forms pairs per prompt, never pairs two texts that are the same after
normalization (case, surrounding and repeated whitespace), leaves existing pairs alone, and
puts the new pairs into the labelling queue with a priority (higher is served first).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from curation.arena.model_names import model_identity
from curation.errors import PrefstudioError
from curation.io.content_ids import pair_id_sql
from curation.labelling.queue import set_priorities
from curation.store.store import Store

STRATEGIES = ("within", "across", "reference")
# Across-model pairs feed the leaderboard, so they come first in the queue by default.
DEFAULT_PRIORITY = {"within": 0.5, "across": 1.0, "reference": 0.75}
_NORMALIZED = "lower(regexp_replace(trim({r}.text), '\\s+', ' ', 'g'))"


class PairingError(PrefstudioError):
    """Pairs cannot be formed as asked (unknown strategy, too few models)."""


@dataclass
class PairingReport:
    """What a pairing call did: pairs added, and candidates left out as identical texts."""

    strategy: str
    models: list[str]
    added: int
    identical_skipped: int
    pair_ids: list[str]

    def to_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "pair_ids"}

    def text(self) -> str:
        return (
            f"{self.added} new {self.strategy} pairs queued; "
            f"{self.identical_skipped} identical candidates left out"
        )


def _ranked_responses(name: str, condition: str) -> str:
    """A CTE of responses meeting `condition`, numbered per prompt in a stable order."""
    return (
        f"{name} AS (SELECT id, prompt_id, text, row_number() OVER "
        f"(PARTITION BY prompt_id ORDER BY created, id) AS n FROM responses WHERE {condition})"
    )


def _candidates_sql(strategy: str) -> str:
    """SELECT of candidate pairs (prompt_id, ra, rb, ta, tb, order_key) for one strategy.

    Parameters: `$a` (a model), `$b` (the other model, for `across`).
    """
    if strategy == "within":
        ctes = [_ranked_responses("x", "model = $a")]
        join = "FROM x AS a JOIN x AS b ON a.prompt_id = b.prompt_id AND a.n < b.n"
    elif strategy == "across":
        ctes = [_ranked_responses("xa", "model = $a"), _ranked_responses("xb", "model = $b")]
        join = "FROM xa AS a JOIN xb AS b ON a.prompt_id = b.prompt_id"
    else:
        ctes = [_ranked_responses("xa", "model = $a"), _ranked_responses("xb", "is_reference")]
        join = "FROM xa AS a JOIN xb AS b ON a.prompt_id = b.prompt_id"
    return (
        f"WITH {', '.join(ctes)} SELECT a.prompt_id, a.id AS ra, b.id AS rb, "
        f"{_NORMALIZED.format(r='a')} = {_NORMALIZED.format(r='b')} AS identical, "
        f"a.n + b.n AS order_key, a.n AS tiebreak {join}"
    )


def _insert_pairs(
    store: Store, strategy: str, model_a: str, model_b: str | None, per_prompt: int
) -> tuple[list[str], int]:
    """Insert the first `per_prompt` non-identical new pairs per prompt, in one transaction."""
    origin = f"pairing:{strategy}"
    with store.transaction() as con:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE ps_pair_candidates AS
            SELECT *, {pair_id_sql("ra", "rb")} AS pair_id
            FROM ({_candidates_sql(strategy)})""",
            {"a": model_a, "b": model_b} if strategy == "across" else {"a": model_a},
        )
        identical = con.execute(
            "SELECT count(*) FROM ps_pair_candidates WHERE identical"
        ).fetchall()[0][0]
        new_ids = con.execute(
            """INSERT INTO pairs (id, prompt_id, response_a, response_b, origin)
            SELECT pair_id, prompt_id, ra, rb, $origin FROM (
                SELECT *, row_number() OVER (PARTITION BY prompt_id
                                             ORDER BY order_key, tiebreak, pair_id) AS k
                FROM ps_pair_candidates
                WHERE NOT identical AND pair_id NOT IN (SELECT id FROM pairs))
            WHERE k <= $per_prompt
            RETURNING id""",
            {"origin": origin, "per_prompt": per_prompt},
        ).fetchall()
        con.execute("DROP TABLE ps_pair_candidates")
    return [row[0] for row in new_ids], int(identical)


def pair_responses(
    store: Store,
    strategy: str,
    models: list[str],
    *,
    per_prompt: int = 1,
    priority: float | None = None,
) -> PairingReport:
    """Form new pairs by `strategy` and queue them for labelling.

    - `within`: two samples of one model (`models` names one model, or each in turn);
    - `across`: one model against another, for every two of `models` (at least two);
    - `reference`: each model against the prompt's reference answer.

    At most `per_prompt` new pairs per prompt and model combination, earliest samples first.
    A model may be named by any of its names (`curation.arena.model_names`).
    """
    models = [model_identity(store, model) for model in models]
    if strategy not in STRATEGIES:
        raise PairingError(
            f"unknown pairing strategy {strategy!r}; choose from {', '.join(STRATEGIES)}"
        )
    if not models:
        raise PairingError("name at least one model to pair")
    if strategy == "across" and len(set(models)) < 2:
        raise PairingError("pairing across models needs at least two different models")
    if per_prompt < 1:
        raise PairingError(f"pairs per prompt must be at least 1, not {per_prompt}")
    if strategy == "across":
        combinations = list(itertools.combinations(dict.fromkeys(models), 2))
    else:
        combinations = [(model, None) for model in dict.fromkeys(models)]
    pair_ids: list[str] = []
    identical = 0
    for model_a, model_b in combinations:
        added, skipped = _insert_pairs(store, strategy, model_a, model_b, per_prompt)
        pair_ids += added
        identical += skipped
    level = DEFAULT_PRIORITY[strategy] if priority is None else priority
    queue_pairs(store, pair_ids, level, reason=f"new {strategy} pair")
    return PairingReport(strategy, list(dict.fromkeys(models)), len(pair_ids), identical, pair_ids)


def queue_pairs(store: Store, pair_ids: list[str], priority: float, reason: str) -> None:
    """Put new pairs into the labelling queue at `priority` (the labelling queue's own hook)."""
    if not pair_ids:
        return
    rows = pd.DataFrame({"pair_id": pair_ids, "priority": float(priority), "reason": reason})
    set_priorities(store, rows)
