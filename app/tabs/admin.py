"""The Admin tab: annotators and their counts, labels over time, import, export, overlap."""

from __future__ import annotations

import gradio as gr

from app.context import AppContext


def create_admin_tab(ctx: AppContext) -> None:
    """Build the Admin tab."""
    gr.Markdown("Administration arrives here.")
