"""Rank models from pairwise labels: Bradley-Terry ratings, bootstrap intervals, length control.

Every label in force on a pair whose two responses come from different models is one game
(a judge's latest verdict on a pair is one more, when judges are included). Choices map to
a score for side A: `a` → 1, `b` → 0, `tie` and `both_bad` → ½: a tie counts as half a win
for each side, the convention of Chatbot Arena's Bradley-Terry fit (a logistic regression with
fractional targets, the same as duplicating each tie as one win and one loss of weight ½).

The model: P(A beats B) = sigmoid(theta_A - theta_B). A weak prior keeps every rating finite, even for a
model that won or lost every game: each model plays `prior` virtual tied games against a fixed
anchor of strength 0. Ratings are shown on the Elo scale, 1000 + 400 * theta / ln(10), centred so that
their mean is 1000. Confidence intervals are percentiles of ratings refitted on bootstrap
resamples of the games (drawn as multinomial counts over distinct outcomes, so every resample
is one vectorised Newton step for all replicates at once).

Length control follows AlpacaEval's length-controlled win rate: the same regression gets a
term gamma * tanh((len_A - len_B) / sd), and a model's length-controlled win rate is its predicted
win rate against the opponents it met, with that term at zero (answers of equal length). A
model that only writes longer gains on the raw board and not on the length-controlled one.
Length-controlled ratings get bootstrap intervals the same way as the raw ones.

A bootstrap of very few games cannot show how uncertain a rating is (one game resampled is
always that game: a zero-width interval), so every interval also spans the normal
approximation of the fitted (prior-regularised) likelihood, rating ± z·sd, which stays wide
while games are few. A model with fewer than `provisional_games` games (default 20) is marked
provisional: its rating and rank say little yet.

Models are counted under their identity (`curation.arena.model_names`): answers stored under a
run's model folder and under `run:<id>` are one model, the other names listed as its aliases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np
import pyarrow as pa

from curation.arena.leaderboard_text import leaderboard_text
from curation.arena.model_names import model_identities
from curation.store.store import Store

ELO_BASE = 1000.0
ELO_SCALE = 400.0 / math.log(10.0)
DEFAULT_BOOTSTRAP = 1000
DEFAULT_PROVISIONAL_GAMES = 20
_MAX_NEWTON_STEPS = 100
_RIDGE = 1e-6
_SCORE_OF_CHOICE = "CASE choice WHEN 'a' THEN 1.0 WHEN 'b' THEN 0.0 ELSE 0.5 END"
_MODEL_OF = "coalesce(i{r}.identity, {r}.model, CASE WHEN {r}.is_reference THEN 'reference' END)"
_IDENTITIES = "ps_model_identities"


@dataclass
class Games:
    """Pairwise games: for each, the models on side A and B (indexes into `models`), the score
    of side A (1 win, ½ tie, 0 loss), and the lengths in characters of both answers;
    `aliases` maps a model to the other names it was used under."""

    models: list[str]
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray
    len_a: np.ndarray
    len_b: np.ndarray
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.score)

    @classmethod
    def from_named(
        cls,
        model_a: list[str],
        model_b: list[str],
        score: list[float],
        len_a: list[int] | None = None,
        len_b: list[int] | None = None,
    ) -> Games:
        """Games from model names per side; lengths default to equal.

        >>> games = Games.from_named(["x", "y"], ["y", "z"], [1.0, 0.5])
        >>> games.models, games.a.tolist(), games.b.tolist()
        (['x', 'y', 'z'], [0, 1], [1, 2])
        """
        models = sorted(set(model_a) | set(model_b))
        index = {name: i for i, name in enumerate(models)}
        zeros = [0] * len(score)
        return cls(
            models=models,
            a=np.array([index[m] for m in model_a], dtype=np.int64),
            b=np.array([index[m] for m in model_b], dtype=np.int64),
            score=np.asarray(score, dtype=np.float64),
            len_a=np.asarray(zeros if len_a is None else len_a, dtype=np.float64),
            len_b=np.asarray(zeros if len_b is None else len_b, dtype=np.float64),
        )


@dataclass
class ModelStanding:
    """One model on the board; `provisional` when it played fewer games than the board asks."""

    model: str
    rating: float
    interval: tuple[float, float]
    rank: int
    games: int
    provisional: bool
    wins: float
    losses: float
    ties: float
    win_rate: float
    lc_rating: float
    lc_interval: tuple[float, float]
    lc_win_rate: float
    aliases: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        row = dict(vars(self))
        row["interval"] = list(self.interval)
        row["lc_interval"] = list(self.lc_interval)
        return row


@dataclass
class Leaderboard:
    """Standings (best rating first), the pairwise win-rate and game-count matrices, the
    fitted length coefficient gamma (per unit of tanh-scaled length difference), and the games
    below which a model is provisional."""

    standings: list[ModelStanding]
    models: list[str]
    win_rates: np.ndarray
    games: np.ndarray
    length_coefficient: float
    total_games: int
    bootstrap: int
    confidence: float
    provisional_games: int = DEFAULT_PROVISIONAL_GAMES

    def text(self) -> str:
        """An aligned table, best first (see `leaderboard_text`)."""
        return leaderboard_text(self.to_dict())

    def to_dict(self) -> dict:
        """JSON-ready: `models` is the list of standings; matrices keyed by model name."""

        def matrix(values: np.ndarray, cast: type) -> dict:
            return {
                m: {
                    o: (None if math.isnan(values[i, j]) else cast(values[i, j]))
                    for j, o in enumerate(self.models)
                    if i != j
                }
                for i, m in enumerate(self.models)
            }

        return {
            "models": [s.to_dict() for s in self.standings],
            "win_rates": matrix(self.win_rates, float),
            "games": matrix(self.games.astype(float), int),
            "length_coefficient": self.length_coefficient,
            "total_games": self.total_games,
            "bootstrap": self.bootstrap,
            "confidence": self.confidence,
            "provisional_games": self.provisional_games,
            "ties": "half a win for each side",
        }


def _model_aliases(store: Store) -> tuple[pa.Table, dict[str, list[str]]]:
    """Every model name in the responses (and the names they were used under, `model_path`)
    with its identity, as a table to join; and per identity, its other names."""
    rows = store.con.execute(
        "SELECT DISTINCT model, meta->>'model_path' FROM responses WHERE model IS NOT NULL"
    ).fetchall()
    identity = model_identities(store, sorted({name for row in rows for name in row if name}))
    aliases: dict[str, list[str]] = {}
    for name, model in identity.items():
        if name != model:
            aliases.setdefault(model, []).append(name)
    table = pa.table({"name": list(identity), "identity": list(identity.values())})
    return table, aliases


def games_from_store(store: Store, *, judges: bool = False) -> Games:
    """The games in the store: human labels in force (and the latest verdict of each judge on
    each pair when `judges`), on pairs whose responses come from two different models.

    A reference answer without a model plays as `reference`; `both_bad` counts as a tie;
    skips and failed judgments are not games. Each model plays under its identity.
    """
    sources = ["SELECT pair_id, choice FROM current_labels WHERE choice <> 'skip'"]
    if judges:
        sources.append(
            "SELECT pair_id, choice FROM judgments WHERE choice IN ('a', 'b', 'tie') "
            "QUALIFY row_number() OVER (PARTITION BY pair_id, judge_key ORDER BY id DESC) = 1"
        )
    votes = " UNION ALL ".join(sources)
    model_a, model_b = _MODEL_OF.format(r="ra"), _MODEL_OF.format(r="rb")
    identities, aliases = _model_aliases(store)
    con = store.con
    con.register(_IDENTITIES, identities)
    try:
        rows = con.execute(
            f"""SELECT model_a, model_b, score, len_a, len_b FROM (
                SELECT {model_a} AS model_a, {model_b} AS model_b, {_SCORE_OF_CHOICE} AS score,
                       length(ra.text) AS len_a, length(rb.text) AS len_b
                FROM ({votes}) v JOIN pairs p ON p.id = v.pair_id
                JOIN responses ra ON ra.id = p.response_a JOIN responses rb ON rb.id = p.response_b
                LEFT JOIN {_IDENTITIES} ira ON ira.name = ra.model
                LEFT JOIN {_IDENTITIES} irb ON irb.name = rb.model)
            WHERE model_a IS NOT NULL AND model_b IS NOT NULL AND model_a <> model_b"""
        ).fetchall()
    finally:
        con.unregister(_IDENTITIES)
    columns = list(zip(*rows, strict=True)) if rows else [[], [], [], [], []]
    games = Games.from_named(*(list(c) for c in columns))
    games.aliases = {m: aliases[m] for m in games.models if m in aliases}
    return games


def fit_logistic(
    design: np.ndarray,
    target: np.ndarray,
    weights: np.ndarray,
    ridge: float | np.ndarray = _RIDGE,
) -> np.ndarray:
    """Weighted logistic regressions sharing rows, one per row of `weights`, by Newton's method.

    `design` is (rows, features), `target` (rows,) in [0, 1], `weights` (fits, rows); returns
    coefficients (fits, features). `ridge` (one value, or one per feature) is an L2 penalty;
    the tiny default only keeps unidentified coefficients at zero.
    """
    fits, features = weights.shape[0], design.shape[1]
    theta = np.zeros((fits, features))
    ridge = np.broadcast_to(np.asarray(ridge, dtype=np.float64), (features,))
    eye = np.diag(ridge)
    for _ in range(_MAX_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(theta @ design.T)))
        gradient = (weights * (target - p)) @ design - ridge * theta
        curvature = weights * p * (1.0 - p)
        hessian = np.einsum("fr,rd,re->fde", curvature, design, design, optimize=True)
        step = np.linalg.solve(hessian + eye, gradient[..., None])[..., 0]
        step = np.clip(step, -5.0, 5.0)  # damp the first steps of far-off fits
        theta += step
        if np.abs(step).max() < 1e-9:
            break
    return theta


def _outcome_cells(games: Games) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (model A, model B, score) outcomes and how many games each holds."""
    keys = np.stack([games.a, games.b, np.round(games.score * 2).astype(np.int64)], axis=1)
    cells, counts = np.unique(keys, axis=0, return_counts=True)
    return cells[:, 0], cells[:, 1], cells[:, 2] / 2.0, counts


def _pairwise_design(a: np.ndarray, b: np.ndarray, n_models: int) -> np.ndarray:
    """Rows with +1 for the model on side A and -1 for side B."""
    design = np.zeros((len(a), n_models))
    rows = np.arange(len(a))
    design[rows, a] += 1.0
    design[rows, b] -= 1.0
    return design


def _with_prior(design: np.ndarray, target: np.ndarray, n_models: int, prior: float):
    """Append one row per model: a tie of weight `prior` against an anchor of strength 0."""
    anchor = np.zeros((n_models, design.shape[1]))
    anchor[:, :n_models] = np.eye(n_models)
    return np.vstack([design, anchor]), np.concatenate([target, np.full(n_models, 0.5)])


def _resampled_weights(
    counts: np.ndarray, n_models: int, prior: float, bootstrap: int, seed: int
) -> np.ndarray:
    """Row weights of one fit per row: the observed counts of each outcome cell, then
    `bootstrap` multinomial resamples of the games; the prior's rows weigh `prior` in all."""
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=bootstrap)
    weights = np.vstack([counts, draws]).astype(np.float64)
    return np.hstack([weights, np.full((len(weights), n_models), prior)])


@dataclass
class Fit:
    """Fitted strengths: `theta` (centred, natural-log odds), a (bootstrap, models) array of
    strengths refitted on resampled games, each strength's standard deviation under the normal
    approximation of the penalised likelihood, and the length coefficient (0 when not fitted)."""

    theta: np.ndarray
    resampled: np.ndarray
    sd: np.ndarray
    length_coefficient: float = 0.0


def _centred_fit(
    design: np.ndarray, weights: np.ndarray, coefficients: np.ndarray, k: int, ridge: np.ndarray
) -> Fit:
    """The centred strengths (the first `k` coefficients) of every fit, and the standard
    deviations of the first fit's from the inverse Hessian of its penalised likelihood."""
    theta = coefficients[:, :k] - coefficients[:, :k].mean(axis=1, keepdims=True)
    p = 1.0 / (1.0 + np.exp(-(design @ coefficients[0])))
    hessian = (design * (weights[0] * p * (1.0 - p))[:, None]).T @ design + np.diag(ridge)
    covariance = np.linalg.inv(hessian)[:k, :k]
    centre = np.eye(k) - 1.0 / k
    sd = np.sqrt(np.clip(np.diag(centre @ covariance @ centre), 0.0, None))
    return Fit(theta[0], theta[1:], sd)


def bradley_terry(
    games: Games,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    prior: float = 1.0,
    seed: int = 0,
) -> Fit:
    """Bradley-Terry strengths of `games`' models, refitted on `bootstrap` resamples."""
    k = len(games.models)
    a, b, score, counts = _outcome_cells(games)
    design, target = _with_prior(_pairwise_design(a, b, k), score, k, prior)
    weights = _resampled_weights(counts, k, prior, bootstrap, seed)
    coefficients = fit_logistic(design, target, weights)
    return _centred_fit(design, weights, coefficients, k, np.full(k, _RIDGE))


def length_controlled(
    games: Games, *, prior: float = 1.0, bootstrap: int = 0, seed: int = 0
) -> Fit:
    """Strengths with a length term held at zero, and the length coefficient gamma.

    gamma has a Gaussian prior of the same strength as the ratings' (an L2 penalty `prior`),
    so that where length alone separates the models (few games, one model always longer) the
    effect is shared between the length term and the ratings instead of running off to infinity.
    Games are grouped by outcome and length feature (rounded to 0.01) so that resampling them
    is one vectorised fit, as for the raw ratings.
    """
    k = len(games.models)
    difference = games.len_a - games.len_b
    spread = float(difference.std()) or 1.0
    length_feature = np.round(np.tanh(difference / spread), 2)
    keys = np.stack([games.a, games.b, games.score * 2, length_feature * 100], axis=1)
    cells, counts = np.unique(np.round(keys).astype(np.int64), axis=0, return_counts=True)
    design = np.hstack([_pairwise_design(cells[:, 0], cells[:, 1], k), cells[:, 3:4] / 100.0])
    design, target = _with_prior(design, cells[:, 2] / 2.0, k, prior)
    weights = _resampled_weights(counts, k, prior, bootstrap, seed)
    ridge = np.append(np.full(k, _RIDGE), max(prior, _RIDGE))
    coefficients = fit_logistic(design, target, weights, ridge)
    fit = _centred_fit(design, weights, coefficients, k, ridge)
    fit.length_coefficient = float(coefficients[0, k])
    return fit


def to_elo(theta: np.ndarray) -> np.ndarray:
    """Strengths on the Elo scale: 1000 at the mean, +400 for ten-to-one odds.

    >>> to_elo(np.array([0.0, math.log(10.0)])).round(1).tolist()
    [1000.0, 1400.0]
    """
    return ELO_BASE + ELO_SCALE * theta


def _record(games: Games) -> tuple[np.ndarray, np.ndarray]:
    """Points scored and games played between each ordered pair of models."""
    k = len(games.models)
    points, played = np.zeros((k, k)), np.zeros((k, k))
    np.add.at(points, (games.a, games.b), games.score)
    np.add.at(points, (games.b, games.a), 1.0 - games.score)
    np.add.at(played, (games.a, games.b), 1.0)
    np.add.at(played, (games.b, games.a), 1.0)
    return points, played


def _predicted_win_rate(theta: np.ndarray, played: np.ndarray) -> np.ndarray:
    """Each model's mean predicted chance of beating the opponents it met, weighted by games."""
    chance = 1.0 / (1.0 + np.exp(-(theta[:, None] - theta[None, :])))
    totals = played.sum(axis=1)
    return np.divide(
        (chance * played).sum(axis=1), totals, out=np.full(len(theta), np.nan), where=totals > 0
    )


def _intervals(fit: Fit, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Elo-scale intervals spanning both the bootstrap percentiles and rating ± z·sd."""
    tail = (1.0 - confidence) / 2.0
    rating = to_elo(fit.theta)
    spread = ELO_SCALE * NormalDist().inv_cdf(1.0 - tail) * fit.sd
    low, high = rating - spread, rating + spread
    if len(fit.resampled):
        boot_low, boot_high = np.quantile(to_elo(fit.resampled), [tail, 1.0 - tail], axis=0)
        low, high = np.minimum(low, boot_low), np.maximum(high, boot_high)
    return low, high


def rank_models(
    games: Games,
    *,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    prior: float = 1.0,
    seed: int = 0,
    provisional_games: int = DEFAULT_PROVISIONAL_GAMES,
) -> Leaderboard:
    """The leaderboard of `games`: ratings with intervals, raw and length-controlled win rates.

    `rank` is Chatbot Arena's: 1 + the number of models whose interval lies wholly above.
    Models with fewer than `provisional_games` games are marked provisional.
    """
    k = len(games.models)
    if k == 0:
        empty = np.zeros((0, 0))
        return Leaderboard([], [], empty, empty, 0.0, 0, bootstrap, confidence, provisional_games)
    fit = bradley_terry(games, bootstrap=bootstrap, prior=prior, seed=seed)
    lc_fit = length_controlled(games, prior=prior, bootstrap=bootstrap, seed=seed + 1)
    ratings, lc_ratings = to_elo(fit.theta), to_elo(lc_fit.theta)
    low, high = _intervals(fit, confidence)
    lc_low, lc_high = _intervals(lc_fit, confidence)
    points, played = _record(games)
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rates = points / played
    ties = np.zeros(k)
    tied = games.score == 0.5
    np.add.at(ties, games.a[tied], 1.0)
    np.add.at(ties, games.b[tied], 1.0)
    games_per_model = played.sum(axis=1)
    points_per_model = points.sum(axis=1)
    lc_win_rate = _predicted_win_rate(lc_fit.theta, played)
    standings = [
        ModelStanding(
            model=games.models[i],
            rating=float(ratings[i]),
            interval=(float(low[i]), float(high[i])),
            rank=1 + int((low > high[i]).sum()),
            games=int(games_per_model[i]),
            provisional=bool(games_per_model[i] < provisional_games),
            wins=float(points_per_model[i] - ties[i] / 2.0),
            losses=float(games_per_model[i] - points_per_model[i] - ties[i] / 2.0),
            ties=float(ties[i]),
            win_rate=float(points_per_model[i] / games_per_model[i]),
            lc_rating=float(lc_ratings[i]),
            lc_interval=(float(lc_low[i]), float(lc_high[i])),
            lc_win_rate=float(lc_win_rate[i]),
            aliases=sorted(games.aliases.get(games.models[i], [])),
        )
        for i in range(k)
    ]
    standings.sort(key=lambda s: -s.rating)
    return Leaderboard(
        standings,
        list(games.models),
        win_rates,
        played,
        lc_fit.length_coefficient,
        len(games),
        bootstrap,
        confidence,
        provisional_games,
    )


def store_leaderboard(
    store: Store,
    *,
    judges: bool = False,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    confidence: float = 0.95,
    seed: int = 0,
    provisional_games: int = DEFAULT_PROVISIONAL_GAMES,
) -> Leaderboard:
    """The leaderboard of the models in `store`, from human labels (and judges when asked)."""
    return rank_models(
        games_from_store(store, judges=judges),
        bootstrap=bootstrap,
        confidence=confidence,
        seed=seed,
        provisional_games=provisional_games,
    )
