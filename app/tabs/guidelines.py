"""The labelling guidelines as annotators see them: a collapsible panel atop the Label tab."""

from __future__ import annotations

import gradio as gr

from app.context import AppContext
from app.safe_text import markdown_view, render
from curation.guidelines import get_guidelines


def create_guidelines_panel(ctx: AppContext) -> None:
    """A closed "Guidelines" panel, shown once an admin has written some (sanitized Markdown)."""
    with gr.Accordion("Guidelines", open=False, visible=False) as panel:
        text = markdown_view(elem_id="guidelines")

    def show(request: gr.Request) -> list:
        ctx.require_user(request, "annotator")
        guidelines = get_guidelines(ctx.store)
        return [gr.Accordion(visible=bool(guidelines)), render(guidelines)]

    ctx.on_page_load(show, None, [panel, text])
