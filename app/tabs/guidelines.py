"""The labelling guidelines as annotators see them: a collapsible panel atop the Label tab."""

from __future__ import annotations

import gradio as gr

from app.context import AppContext
from app.safe_text import markdown_view, render
from app.tabs.handlers import Outputs, handler, on_page_load
from curation.labelling.guidelines import get_guidelines


@handler("annotator", passive=True)
def show_guidelines(ctx: AppContext, user: str) -> Outputs:
    """The panel, shown only when an admin has written guidelines, and its text."""
    guidelines = get_guidelines(ctx.store)
    return {"panel": gr.Accordion(visible=bool(guidelines)), "text": render(guidelines)}


def create_guidelines_panel(ctx: AppContext) -> None:
    """A closed "Guidelines" panel, shown once an admin has written some (sanitized Markdown)."""
    with gr.Accordion("Guidelines", open=False, visible=False) as panel:
        text = markdown_view(elem_id="guidelines")
    on_page_load(ctx, show_guidelines, None, {"panel": panel, "text": text})
