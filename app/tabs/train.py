"""The Train tab (admin): choose a snapshot, method, model and preset, preview the exact command,
launch (or one-click DPO), follow the run live (loss, rewards, KL, log tail), cancel or resume,
and browse past runs. It only reads runs: the server's run watcher finishes and launches them."""

from __future__ import annotations

from typing import Any

import gradio as gr
import yaml

from app import safe_text
from app.context import AppContext
from curation.errors import PrefstudioError
from curation.snapshots.freeze import list_snapshots
from curation.store.run_records import RunRecord, get_run, list_runs
from training.methods import METHODS
from training.models import EMBEDDED_MODEL
from training.one_click import one_click_dpo
from training.presets import PRESETS, preset_settings
from training.run_spec import RunSpec
from training.run_views import eval_summary, metric_curves, runs_table
from training.runs import (
    RunError,
    cancel_run,
    cuda_device_count,
    log_tail,
    plan_run,
    resume_run,
    run_progress,
    runs_dir,
    start_run,
    worker_command,
)

PLOTS = ("loss", "rewards", "kl")
LOG_LINES = 12  # the log box shows the tail: as many lines as it is tall


def settings_yaml(model: str, preset: str) -> str:
    """Suggested settings for a model and preset, as the YAML shown in the editor."""
    return yaml.safe_dump(preset_settings(model, preset), sort_keys=False)


def parse_settings(text: str) -> dict[str, Any]:
    """The settings editor's YAML as a mapping; gr.Error when it is not one."""
    try:
        values = yaml.safe_load(text or "") or {}
    except yaml.YAMLError as error:
        raise safe_text.error(
            f"Settings are not valid YAML: {str(error).splitlines()[0]}"
        ) from None
    if not isinstance(values, dict):
        raise safe_text.error("Settings must be a mapping of names to values.")
    return values


def command_preview(ctx: AppContext, spec: RunSpec) -> str:
    """The command and config.yaml a run of `spec` would get (nothing is written)."""
    folder = runs_dir(ctx.store) / "<id>"
    command = " ".join(worker_command(folder, cuda_device_count()))
    config = yaml.safe_dump(spec.to_dict(), sort_keys=False)
    return f"{command}\n\n# {folder}/config.yaml\n{config}"


def followed_view(record: RunRecord | None) -> dict[str, Any]:
    """What the live part of the tab shows for the followed run."""
    if record is None:
        return {
            "status": "No run yet.",
            "log": "",
            "plots": [metric_curves(None, p) for p in PLOTS],
        }
    progress = run_progress(record)
    status = eval_summary(record)
    if record.active and progress:
        total = progress.get("max_steps")
        status += f"\n\n{progress.get('phase', 'starting')}" + (
            f": {progress.get('step', 0)} of {total}" if total else ""
        )
    elif record.status == "queued":
        status += "\n\nqueued: starts when the run before it ends"
    return {
        "status": status,
        "log": log_tail(record, LOG_LINES),
        "plots": [metric_curves(record, plot) for plot in PLOTS],
    }


def create_train_tab(ctx: AppContext) -> None:
    """Build the Train tab; every handler checks the admin role on the server."""
    followed = gr.State(None)  # id of the run shown below
    with gr.Row():
        snapshot = gr.Dropdown([], label="Snapshot", elem_id="train-snapshot")
        method = gr.Radio(list(METHODS), value="dpo", label="Method", elem_id="train-method")
        model = gr.Dropdown(
            [EMBEDDED_MODEL],
            value=EMBEDDED_MODEL,
            allow_custom_value=True,
            label="Base model (hub id, folder, or smollm2-135m)",
            elem_id="train-model",
        )
        preset = gr.Dropdown(
            list(PRESETS), value="standard", label="Preset", elem_id="train-preset"
        )
    settings = gr.Code(language="yaml", label="Settings (YAML)", elem_id="train-settings")
    with gr.Row():
        preview = gr.Button("Preview command", elem_id="train-preview")
        launch = gr.Button("Launch", variant="primary", elem_id="train-launch")
        one_click = gr.Button("One-click DPO", variant="primary", elem_id="train-one-click")
    command = gr.Code(label="Exact command of the run", interactive=False, elem_id="train-command")
    status = safe_text.markdown_view(elem_id="train-status")
    with gr.Row():
        cancel = gr.Button("Cancel run", variant="stop", elem_id="train-cancel")
        resume = gr.Button("Resume from last checkpoint", elem_id="train-resume")
    with gr.Row():
        loss_plot = gr.LinePlot(x="step", y="value", color="metric", label="Loss")
        reward_plot = gr.LinePlot(
            x="step", y="value", color="metric", label="Reward accuracy and margin"
        )
        kl_plot = gr.LinePlot(x="step", y="value", color="metric", label="KL (KTO)")
    log = gr.Textbox(
        label="Log (last lines)",
        lines=LOG_LINES,
        max_lines=LOG_LINES,
        interactive=False,
        autoscroll=True,
        elem_id="train-log",
    )
    runs = gr.Dataframe(
        label="Runs (select one to follow it)", interactive=False, elem_id="train-runs"
    )
    timer = gr.Timer(2.0)
    live = [status, log, loss_plot, reward_plot, kl_plot, runs]

    def live_outputs(run_id: int | None) -> list:
        record = get_run(ctx.store, run_id) if run_id is not None else None
        view = followed_view(record)
        return [
            safe_text.render(view["status"]),
            view["log"],
            *view["plots"],
            runs_table(list_runs(ctx.store)),
        ]

    def on_load(chosen_model: str, chosen_preset: str, request: gr.Request) -> list:
        if not ctx.is_admin(request):  # the tab is hidden from annotators: nothing to show
            return [gr.skip()] * (3 + len(live))
        records = list_runs(ctx.store, status=("running", "queued")) or list_runs(ctx.store)[:1]
        run_id = records[0].id if records else None
        names = [info.name for info in list_snapshots(ctx.store)]
        return [
            run_id,
            gr.Dropdown(choices=names, value=names[0] if names else None),
            settings_yaml(chosen_model, chosen_preset),
            *live_outputs(run_id),
        ]

    def suggest(chosen_model: str, chosen_preset: str, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        return settings_yaml(chosen_model, chosen_preset)

    def plan(name: str | None, how: str, base: str, text: str) -> RunSpec:
        if not name:
            raise safe_text.error(
                "Choose a snapshot (make one in the Curate tab), or use One-click DPO."
            )
        return plan_run(
            ctx.store, snapshot=name, method=how, model=base, settings=parse_settings(text)
        )

    def show_command(name, how, base, text, request: gr.Request) -> str:
        ctx.require_user(request, "admin")
        try:
            return command_preview(ctx, plan(name, how, base, text))
        except PrefstudioError as error:
            raise safe_text.error(str(error)) from None

    def start(name, how, base, text, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        try:
            record = start_run(ctx.store, plan(name, how, base, text))
        except PrefstudioError as error:
            raise safe_text.error(str(error)) from None
        safe_text.info(f"Run {record.id} {record.status}; it keeps going if you close this page.")
        return [record.id, " ".join(record.command), *live_outputs(record.id)]

    def start_one_click(base: str, chosen_preset: str, text: str, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        try:
            started = one_click_dpo(
                ctx.store, model=base, preset=chosen_preset, settings=parse_settings(text)
            )
        except PrefstudioError as error:
            raise safe_text.error(str(error)) from None
        safe_text.info(started.describe())
        record = started.run
        return [record.id, " ".join(record.command), *live_outputs(record.id)]

    def act_on_followed(action, run_id: int | None, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        if run_id is None:
            raise safe_text.error("No run is followed.")
        try:
            action(ctx.store, run_id)
        except RunError as error:
            raise safe_text.error(str(error)) from None
        return live_outputs(run_id)

    def stop(run_id: int | None, request: gr.Request) -> list:
        return act_on_followed(cancel_run, run_id, request)

    def restart(run_id: int | None, request: gr.Request) -> list:
        return act_on_followed(resume_run, run_id, request)

    def follow(table, event: gr.SelectData, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        run_id = int(table.iloc[event.index[0]]["id"])
        return [run_id, *live_outputs(run_id)]

    def tick(run_id: int | None, request: gr.Request) -> list:
        if not ctx.is_admin(request):
            return [gr.skip()] * len(live)
        return live_outputs(run_id)

    form = [snapshot, method, model, settings]
    gr.on([model.change, preset.change], suggest, [model, preset], settings, show_progress="hidden")
    preview.click(show_command, form, command)
    launch.click(start, form, [followed, command, *live])
    one_click.click(start_one_click, [model, preset, settings], [followed, command, *live])
    cancel.click(stop, followed, live)
    resume.click(restart, followed, live)
    runs.select(follow, runs, [followed, *live])
    timer.tick(tick, followed, live, show_progress="hidden")
    # Each page load re-attaches to the newest active run (or shows the newest run).
    ctx.on_page_load(on_load, [model, preset], [followed, snapshot, settings, *live])
