"""The Leaderboard tab: models ranked by Bradley-Terry ratings, with intervals and length control."""

from __future__ import annotations

import math
from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.safe_text import plain_figure
from app.tabs.handlers import Outputs, handler, wire
from curation.arena.leaderboard import Leaderboard, store_leaderboard

TABLE_COLUMNS = [
    "rank",
    "model",
    "rating",
    "low",
    "high",
    "games",
    "provisional",
    "win rate",
    "LC win rate",
    "LC rating",
    "LC low",
    "LC high",
    "also known as",
]


def standings_table(board: Leaderboard) -> pd.DataFrame:
    """One row per model, best first, with the interval's ends as columns; models with too
    few games say `provisional`, and a model's other names (a run's folder) are listed."""
    rows = [
        {
            "rank": s.rank,
            "model": s.model,
            "rating": round(s.rating),
            "low": round(s.interval[0]),
            "high": round(s.interval[1]),
            "games": s.games,
            "provisional": "provisional" if s.provisional else "",
            "win rate": round(s.win_rate, 3),
            "LC win rate": round(s.lc_win_rate, 3),
            "LC rating": round(s.lc_rating),
            "LC low": round(s.lc_interval[0]),
            "LC high": round(s.lc_interval[1]),
            "also known as": ", ".join(s.aliases),
        }
        for s in board.standings
    ]
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def ratings_figure(board: Leaderboard) -> Any:
    """Ratings with their confidence intervals, and length-controlled ratings beside them."""
    from matplotlib.figure import Figure

    standings = board.standings[::-1]  # best on top
    figure = Figure(figsize=(7, 0.5 * len(standings) + 1.2), layout="constrained")
    axes = figure.subplots()
    y = range(len(standings))
    ratings = [s.rating for s in standings]
    errors = [
        [s.rating - s.interval[0] for s in standings],
        [s.interval[1] - s.rating for s in standings],
    ]
    axes.errorbar(ratings, y, xerr=errors, fmt="o", capsize=4, label="rating, interval")
    lc_errors = [
        [s.lc_rating - s.lc_interval[0] for s in standings],
        [s.lc_interval[1] - s.lc_rating for s in standings],
    ]
    axes.errorbar(
        [s.lc_rating for s in standings],
        [i - 0.2 for i in y],  # just below the raw rating, so both intervals show
        xerr=lc_errors,
        fmt="D",
        mfc="none",
        color="C1",
        capsize=3,
        label="length-controlled, interval",
    )
    axes.set_yticks(list(y), [s.model for s in standings])
    axes.set_ylim(-0.7, len(standings) - 0.3)
    axes.set_title("Ratings: raw and length-controlled")
    axes.set_xlabel(f"Elo-scale rating ({round(board.confidence * 100)}% interval)")
    axes.legend(loc="best", fontsize="small")
    return plain_figure(figure)


def win_rate_figure(board: Leaderboard) -> Any:
    """The win-rate matrix: row model's share of points against the column model."""
    from matplotlib.figure import Figure

    order = [board.models.index(s.model) for s in board.standings]
    names = [board.models[i] for i in order]
    rates = board.win_rates[order][:, order]
    size = 0.7 * len(names) + 2
    figure = Figure(figsize=(size + 1, size), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(rates, vmin=0, vmax=1, cmap="RdBu")
    for i in range(len(names)):
        for j in range(len(names)):
            games = int(board.games[order[i], order[j]])
            if i != j and games and not math.isnan(rates[i, j]):
                axes.text(
                    j, i, f"{rates[i, j]:.2f}\n({games})", ha="center", va="center", fontsize=8
                )
    axes.set_xticks(range(len(names)), names, rotation=45, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("opponent")
    axes.set_title("Win rate of the row model against the column model")
    figure.colorbar(image, ax=axes, label="win rate (ties half), games in brackets")
    return plain_figure(figure)


@handler("admin")
def show_leaderboard(ctx: AppContext, user: str, include_judges: bool) -> Outputs:
    """The standings, a summary of how they were reached, and the two plots."""
    board = store_leaderboard(ctx.store, judges=include_judges)
    if not board.standings:
        text = "No games yet: label pairs whose two responses come from different models."
        return {"summary": text, "table": standings_table(board), "ratings": None, "matrix": None}
    text = (
        f"{board.total_games} games between {len(board.standings)} models; ties count half "
        f"a win each. Ratings from fewer than {board.provisional_games} games are "
        f"provisional. Length coefficient {board.length_coefficient:+.2f}: positive when "
        "longer answers win more often, which the LC columns discount."
    )
    return {
        "summary": text,
        "table": standings_table(board),
        "ratings": ratings_figure(board),
        "matrix": win_rate_figure(board),
    }


def create_leaderboard_tab(ctx: AppContext) -> None:
    """Build the Leaderboard tab (admin): table, ratings plot and win-rate matrix."""
    with gr.Row():
        judges = gr.Checkbox(label="Count judges' verdicts too", elem_id="leaderboard-judges")
        refresh = gr.Button("Refresh", size="sm", elem_id="leaderboard-refresh")
    view = {"summary": gr.Markdown(elem_id="leaderboard-summary")}
    view["table"] = gr.Dataframe(
        headers=TABLE_COLUMNS, interactive=False, label="Standings", elem_id="leaderboard-table"
    )
    with gr.Row():
        view["ratings"] = gr.Plot(show_label=False, elem_id="leaderboard-ratings")
        view["matrix"] = gr.Plot(show_label=False, elem_id="leaderboard-matrix")
    for trigger in (refresh.click, judges.change):
        wire(ctx, trigger, show_leaderboard, [judges], view)
