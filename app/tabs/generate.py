"""The Generate tab: write candidates with one or more models, then pair them for labelling.

Models run as a generation job in a worker process: the tab starts it, shows its progress
(a timer reads the job; the server's watcher stores the batches) and cancels it. Asking an
OpenAI-compatible server instead runs here, since it only waits on that server.
"""

from __future__ import annotations

import threading

import gradio as gr

from app.context import AppContext
from app.job_requests import start_job
from app.safe_text import literal, markdown_view, render, shows_errors
from app.tabs.job_panel import job_text
from curation.arena.pairing import STRATEGIES, pair_responses
from curation.jobs.records import get_job
from curation.jobs.runner import cancel_job
from training.generate import SamplingSettings
from training.generate_remote import ServerOptions, generate_on_server
from training.models import EMBEDDED_MODEL

PROMPT_CHOICES = {
    "without a response from the model yet": "unlabeled",
    "all prompts": "all",
    "from an uploaded file": "file",
}


def report_text(report: dict, counted: str) -> str:
    """A generation report (as GenerateReport.to_dict gives it) as safe Markdown."""
    ending = "stopped early; what was done is kept" if report["cancelled"] else "done"
    lines = [
        f"- {literal(model)}: {added} {counted}" for model, added in report["per_model"].items()
    ]
    return render(
        "\n".join(
            [
                f"**{ending}**: {report['prompts_done']} of {report['prompts']} prompts, "
                f"{report['new_tokens']} new tokens in {report['seconds']:.1f} s",
                *lines,
            ]
        )
    )


def create_generate_tab(ctx: AppContext) -> None:
    """Build the Generate tab (admin): models, prompts, sampling, progress, cancel, pairing."""
    stop_events: dict[str, threading.Event] = {}
    with gr.Row():
        with gr.Column():
            models = gr.Dropdown(
                [EMBEDDED_MODEL],
                value=[EMBEDDED_MODEL],
                multiselect=True,
                allow_custom_value=True,
                label="Models (hub id, folder, a run's adapter folder, or smollm2-135m)",
                elem_id="generate-models",
            )
            server_url = gr.Textbox(
                label="OpenAI-compatible server (base URL; empty: run the models here). "
                "Key from $OPENAI_API_KEY",
                placeholder="http://localhost:8000/v1",
                elem_id="generate-base-url",
            )
            prompts = gr.Radio(
                list(PROMPT_CHOICES), value=next(iter(PROMPT_CHOICES)), label="Prompts"
            )
            prompt_file = gr.File(label="Prompt file (a `prompt` field per record)")
            limit = gr.Number(
                value=None, precision=0, minimum=1, label="At most this many prompts per model"
            )
        with gr.Column():
            n = gr.Slider(1, 8, value=2, step=1, label="Samples per prompt", elem_id="generate-n")
            temperature = gr.Slider(
                0, 2, value=0.7, step=0.05, label="Temperature (0: greedy)", elem_id="generate-temp"
            )
            top_p = gr.Slider(0.05, 1, value=0.95, step=0.05, label="top_p")
            max_new_tokens = gr.Number(
                value=256, precision=0, minimum=1, label="Max new tokens", elem_id="generate-max"
            )
            batch_size = gr.Number(value=8, precision=0, minimum=1, label="Batch size")
    with gr.Row():
        start = gr.Button("Generate", variant="primary", elem_id="generate-start")
        cancel = gr.Button("Cancel", elem_id="generate-cancel")
    report = markdown_view(elem_id="generate-report")
    followed = gr.State(None)  # id of the generation job shown
    timer = gr.Timer(1.0)
    gr.Markdown("### Pair for labelling")
    with gr.Row():
        strategy = gr.Radio(list(STRATEGIES), value="across", label="Strategy")
        pair_models = gr.Dropdown(
            [EMBEDDED_MODEL],
            multiselect=True,
            allow_custom_value=True,
            label="Models (two or more for across)",
            elem_id="pair-models",
        )
        per_prompt = gr.Number(value=1, precision=0, minimum=1, label="Pairs per prompt")
        pair_button = gr.Button("Pair and queue", elem_id="pair-start")
    pair_report = markdown_view(elem_id="pair-report")

    @shows_errors
    def run(
        chosen: list[str],
        which: str,
        upload: str | None,
        most: float | None,
        samples: float,
        temp: float,
        nucleus: float,
        new_tokens: float,
        batch: float,
        server: str,
        request: gr.Request,
        progress=gr.Progress(),  # noqa: B008
    ) -> tuple[str, int | None]:
        ctx.require_user(request, "admin")
        source = PROMPT_CHOICES[which]
        if source == "file" and not upload:
            raise gr.Error("Upload a prompt file, or choose other prompts.")
        if not chosen:
            raise gr.Error("Choose at least one model.")
        sampling = dict(
            n=int(samples), temperature=temp, top_p=nucleus, max_new_tokens=int(new_tokens)
        )
        prompts_ = upload if source == "file" else source
        limit_ = int(most) if most else None
        url = server.strip()
        if not url:
            params = dict(models=chosen, prompts=prompts_, limit=limit_, batch_size=int(batch))
            job = start_job(ctx.store, "generate", {**params, **sampling})
            return job_text(job), job.id
        stop = stop_events[request.session_hash] = threading.Event()
        progress(0, desc="asking the server")
        try:
            result = generate_on_server(
                ctx.store, chosen, ServerOptions(url), prompts=prompts_, limit=limit_,
                settings=SamplingSettings(**sampling), should_stop=stop.is_set,
                progress=lambda done, total: progress((done, total), desc="samples", unit="sample"),
            )  # fmt: skip
        finally:
            stop_events.pop(request.session_hash, None)
        return report_text(result.to_dict(), "samples received"), None

    def follow(job_id: int | None, request: gr.Request) -> str:
        if job_id is None or not ctx.is_admin(request):
            return gr.skip()
        job = get_job(ctx.store, job_id)
        if job.status in ("succeeded", "cancelled"):
            return report_text(job.result, "new responses")
        return job_text(job)

    @shows_errors
    def stop_generation(job_id: int | None, request: gr.Request) -> None:
        ctx.require_user(request, "admin")
        event = stop_events.get(request.session_hash)
        if event is not None:
            event.set()
            gr.Info("Stopping after the requests in flight.")
        elif job_id is not None and get_job(ctx.store, job_id).active:
            cancel_job(ctx.store, job_id)
            gr.Info("Generation cancelled; the batches done are kept.")
        else:
            gr.Info("Nothing is being generated.")

    @shows_errors
    def pair(chosen: list[str], how: str, per: float, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        result = pair_responses(ctx.store, how, chosen or [], per_prompt=int(per or 1))
        return (
            f"{result.added} new {how} pairs queued for labelling; "
            f"{result.identical_skipped} identical candidates left out."
        )

    inputs = [models, prompts, prompt_file, limit, n, temperature, top_p, max_new_tokens]
    start.click(run, [*inputs, batch_size, server_url], [report, followed])
    cancel.click(stop_generation, followed, None)
    timer.tick(follow, followed, report, show_progress="hidden")
    pair_button.click(pair, [pair_models, strategy, per_prompt], pair_report)
