"""Assembles the web UI from its tabs; each tab lives in app/tabs/<name>.py."""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from app.context import AppContext, role_allows
from app.safe_text import literal, markdown_view, render
from app.tabs.admin import create_admin_tab
from app.tabs.curate import create_curate_tab
from app.tabs.generate import create_generate_tab
from app.tabs.judge import create_judge_tab
from app.tabs.label import create_label_tab
from app.tabs.leaderboard import create_leaderboard_tab
from app.tabs.train import create_train_tab

# (title, builder, role needed to see the tab); tabs appear in this order.
TABS: list[tuple[str, Callable[[AppContext], None], str]] = [
    ("Label", create_label_tab, "annotator"),
    ("Admin", create_admin_tab, "admin"),
    ("Generate", create_generate_tab, "admin"),
    ("Leaderboard", create_leaderboard_tab, "admin"),
    ("Judge", create_judge_tab, "admin"),
    ("Curate", create_curate_tab, "admin"),
    ("Train", create_train_tab, "admin"),
]


def build_ui(ctx: AppContext) -> gr.Blocks:
    """The whole app: one tab per entry of TABS, those above the user's role hidden on load."""
    ctx.page_loads.clear()  # the tabs below register this page's loads
    with gr.Blocks(title="prefstudio") as blocks:
        with gr.Row():
            gr.Markdown("## prefstudio")
            who = markdown_view(elem_id="whoami")
            gr.Button("Log out", link="/logout", size="sm", scale=0)
        tabs = []
        for title, builder, role in TABS:
            with gr.Tab(title, visible=role == "annotator") as tab:
                builder(ctx)
            tabs.append((tab, role))

        def show_tabs_for(request: gr.Request) -> list:
            """Who is logged in, and which tabs their role may see."""
            role = ctx.role_of(request.username or "")
            visible = [gr.Tab(visible=role_allows(role, needed)) for _, needed in tabs]
            who_text = f"Logged in as **{literal(request.username)}** ({role})"
            return [render(who_text), *visible]

        blocks.load(show_tabs_for, outputs=[who, *(tab for tab, _ in tabs)])
        for fn, inputs, outputs in ctx.page_loads:
            blocks.load(fn, inputs, outputs)
    return blocks


def page_head() -> str:
    """Extra `<head>` markup the tabs need (keyboard shortcuts)."""
    from app.tabs.label import KEYBOARD_JS

    return f"<script>{KEYBOARD_JS}</script>"
