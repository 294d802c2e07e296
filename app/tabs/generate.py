"""The Generate tab: write candidates with one or more models, then pair them for labelling.

Generation runs as a job in a worker process, whether the models run there or are asked on an
OpenAI-compatible server: the tab starts it, shows its progress (a timer reads the job; the
server's watcher stores the batches) and cancels it.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr

from app.context import AppContext
from app.job_requests import start_job
from app.safe_text import markdown_view, text_lines
from app.tabs.handlers import Outputs, handler, named, wire
from app.tabs.job_panel import cancel_followed, job_controls, job_report_text, job_text
from curation.arena.pairing import STRATEGIES, pair_responses
from curation.jobs.records import JobRecord, get_job
from training.generate import GenerateReport, GenerationError
from training.models import EMBEDDED_MODEL

PROMPT_CHOICES = {
    "without a response from the model yet": "unlabeled",
    "all prompts": "all",
    "from an uploaded file": "file",
}
FORM = (
    "models",
    "prompts",
    "prompt_file",
    "limit",
    "n",
    "temperature",
    "top_p",
    "max_new_tokens",
    "batch_size",
    "base_url",
)


def job_params(form: dict[str, Any]) -> dict[str, Any]:
    """A generation job's parameters from the tab's form (by component name)."""
    source = PROMPT_CHOICES[form["prompts"]]
    if source == "file" and not form["prompt_file"]:
        raise GenerationError("Upload a prompt file, or choose other prompts.")
    if not form["models"]:
        raise GenerationError("Choose at least one model.")
    url = (form["base_url"] or "").strip()
    return {
        "models": form["models"],
        "prompts": form["prompt_file"] if source == "file" else source,
        "limit": int(form["limit"]) if form["limit"] else None,
        "n": int(form["n"]),
        "temperature": form["temperature"],
        "top_p": form["top_p"],
        "max_new_tokens": int(form["max_new_tokens"]),
        "batch_size": int(form["batch_size"]),
        **({"base_url": url} if url else {}),
    }


def followed_text(job: JobRecord) -> str:
    """The followed job: its status, and its report once it has succeeded or been cancelled."""
    return job_report_text(job, GenerateReport.text, ("succeeded", "cancelled"))


@handler("admin")
def start(ctx: AppContext, user: str, form: dict[str, Any]) -> Outputs:
    """Start a generation job with the form's models, prompts and sampling, and follow it."""
    job = start_job(ctx.store, "generate", job_params(form))
    return {"report": job_text(job), "followed": job.id}


@handler("admin", passive=True)
def follow(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """The timer: the followed job's progress, or its report once it has ended."""
    return {} if job_id is None else {"report": followed_text(get_job(ctx.store, job_id))}


@handler("admin")
def cancel(ctx: AppContext, user: str, job_id: int | None) -> Outputs:
    """Cancel the followed generation job; the batches it stored are kept."""
    job = cancel_followed(
        ctx.store,
        job_id,
        "Nothing is being generated.",
        "Generation cancelled; the batches done are kept.",
    )
    return {"report": followed_text(job)} if job else {}


@handler("admin")
def pair(ctx: AppContext, user: str, models: list[str], how: str, per: float | None) -> Outputs:
    """Pair the models' candidates and queue the new pairs for labelling."""
    result = pair_responses(ctx.store, how, models or [], per_prompt=int(per or 1))
    return {"pair_report": text_lines(result.text())}


def create_generate_tab(ctx: AppContext) -> None:
    """Build the Generate tab (admin): models, prompts, sampling, progress, cancel, pairing."""
    c = {**_generation_section(), **_pairing_section()}
    followed = named(c, "report", "followed")
    wire(ctx, c["start"].click, start, named(c, *FORM), followed)
    wire(ctx, c["cancel"].click, cancel, [c["followed"]], named(c, "report"))
    ticks = partial(c["timer"].tick, show_progress="hidden")
    wire(ctx, ticks, follow, [c["followed"]], named(c, "report"))
    paired = [c["pair_models"], c["strategy"], c["per_prompt"]]
    wire(ctx, c["pair"].click, pair, paired, named(c, "pair_report"))


def _generation_section() -> dict[str, Any]:
    """The form (models or a server, prompts, sampling), Generate, Cancel and the report."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            c["models"] = gr.Dropdown(
                [EMBEDDED_MODEL],
                value=[EMBEDDED_MODEL],
                multiselect=True,
                allow_custom_value=True,
                label="Models (hub id, folder, a run's adapter folder, or smollm2-135m)",
                elem_id="generate-models",
            )
            c["base_url"] = gr.Textbox(
                label="OpenAI-compatible server (base URL; empty: run the models here). "
                "Key from $OPENAI_API_KEY where the app runs",
                placeholder="http://localhost:8000/v1",
                elem_id="generate-base-url",
            )
            c["prompts"] = gr.Radio(
                list(PROMPT_CHOICES), value=next(iter(PROMPT_CHOICES)), label="Prompts"
            )
            c["prompt_file"] = gr.File(label="Prompt file (a `prompt` field per record)")
            c["limit"] = gr.Number(
                value=None, precision=0, minimum=1, label="At most this many prompts per model"
            )
        with gr.Column():
            c.update(_sampling_fields())
    return c | job_controls("start", "Generate", "report", "generate")


def _sampling_fields() -> dict[str, Any]:
    """Samples per prompt, temperature, top_p, answer length and batch size."""
    return {
        "n": gr.Slider(1, 8, value=2, step=1, label="Samples per prompt", elem_id="generate-n"),
        "temperature": gr.Slider(
            0, 2, value=0.7, step=0.05, label="Temperature (0: greedy)", elem_id="generate-temp"
        ),
        "top_p": gr.Slider(0.05, 1, value=0.95, step=0.05, label="top_p"),
        "max_new_tokens": gr.Number(
            value=256, precision=0, minimum=1, label="Max new tokens", elem_id="generate-max"
        ),
        "batch_size": gr.Number(value=8, precision=0, minimum=1, label="Batch size"),
    }


def _pairing_section() -> dict[str, Any]:
    """Pairing: strategy, models, pairs per prompt, and what was queued."""
    gr.Markdown("### Pair for labelling")
    c: dict[str, Any] = {}
    with gr.Row():
        c["strategy"] = gr.Radio(list(STRATEGIES), value="across", label="Strategy")
        c["pair_models"] = gr.Dropdown(
            [EMBEDDED_MODEL],
            multiselect=True,
            allow_custom_value=True,
            label="Models (two or more for across)",
            elem_id="pair-models",
        )
        c["per_prompt"] = gr.Number(value=1, precision=0, minimum=1, label="Pairs per prompt")
        c["pair"] = gr.Button("Pair and queue", elem_id="pair-start")
    c["pair_report"] = markdown_view(elem_id="pair-report")
    return c
