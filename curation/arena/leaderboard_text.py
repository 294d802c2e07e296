"""A leaderboard as an aligned text table: what `prefstudio leaderboard` prints."""

from __future__ import annotations


def leaderboard_text(board: dict) -> str:
    """The board (as Leaderboard.to_dict gives it) as an aligned text table, best first.

    A provisional model's rank and rating carry a `?`; a model's other names follow the table.
    """
    if not board["models"]:
        return "no games yet: label pairs whose responses come from two different models"
    pct = round(board["confidence"] * 100)
    header = (
        f"{'rank':>4}  {'model':<28} {'rating':>7}  {f'{pct}% interval':>15}  {'games':>6}  "
        f"{'win rate':>8}  {'LC win rate':>11}  {'LC rating':>9}  {'LC interval':>11}"
    )
    rows = [
        f"{_provisional(s, s['rank']):>4}  {s['model'][:28]:<28} {_provisional(s, round(s['rating'])):>7}  "
        f"{_span(s['interval']):>15}  {s['games']:>6}  "
        f"{s['win_rate']:>8.1%}  {s['lc_win_rate']:>11.1%}  {s['lc_rating']:>9.0f}  "
        f"{_span(s['lc_interval']):>11}"
        for s in board["models"]
    ]
    games = (
        f"{board['total_games']} games; ties count half a win each; ? provisional: fewer than "
        f"{board['provisional_games']} games"
    )
    aliases = [
        f"{s['model']} also played as {', '.join(s['aliases'])}"
        for s in board["models"]
        if s["aliases"]
    ]
    return "\n".join([header, *rows, games, *aliases])


def _provisional(standing: dict, value: object) -> str:
    """`value` with a `?` when the standing is provisional."""
    return f"{value}?" if standing["provisional"] else str(value)


def _span(interval: list[float]) -> str:
    """An interval of ratings, rounded: `1480-1520`."""
    return f"{interval[0]:.0f}-{interval[1]:.0f}"
