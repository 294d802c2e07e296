"""The Label tab: compare two anonymous responses to one prompt and vote."""

from __future__ import annotations

import gradio as gr

from app.context import AppContext

KEYBOARD_JS = ""


def create_label_tab(ctx: AppContext) -> None:
    """Build the Label tab."""
    gr.Markdown("Labelling arrives here.")
