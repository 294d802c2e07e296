"""The Train tab (admin): choose a snapshot, method, model and preset, preview the exact command,
launch (or one-click DPO), follow the run live (loss, rewards, KL, log tail), cancel or resume,
and browse past runs. It only reads runs: the server's run watcher finishes and launches them."""

from __future__ import annotations

from functools import partial
from typing import Any

import gradio as gr
import yaml

from app import safe_text
from app.context import AppContext
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
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
    log_tail,
    plan_run,
    planned_command,
    resume_run,
    run_command,
    run_progress,
    start_run,
)

PLOTS = ("loss", "rewards", "kl")
LOG_LINES = 12  # the log box shows the tail: as many lines as it is tall
DEFAULT_PRESET = "standard"


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
    folder, command = planned_command(ctx.store)
    config = yaml.safe_dump(spec.to_dict(), sort_keys=False)
    return f"{' '.join(command)}\n\n# {folder}/config.yaml\n{config}"


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
        total = progress.get("total")
        status += f"\n\n{progress.get('phase', 'starting')}" + (
            f": {progress.get('done', 0)} of {total}" if total else ""
        )
    elif record.status == "queued":
        status += "\n\nqueued: starts when the run before it ends"
    return {
        "status": status,
        "log": log_tail(record, LOG_LINES),
        "plots": [metric_curves(record, plot) for plot in PLOTS],
    }


LIVE = ("status", "log", "loss_plot", "reward_plot", "kl_plot", "runs")


def live_view(ctx: AppContext, run_id: int | None) -> Outputs:
    """The live part of the tab for the followed run (none: the newest), by component name."""
    view = followed_view(get_run(ctx.store, run_id) if run_id is not None else None)
    return {
        "status": safe_text.render(view["status"]),
        "log": view["log"],
        **dict(zip(LIVE[2:5], view["plots"], strict=True)),
        "runs": runs_table(list_runs(ctx.store)),
    }


def _plan(ctx: AppContext, name: str | None, method: str, model: str, text: str) -> RunSpec:
    """The run the form describes; a one-line error without a snapshot or with bad settings."""
    if not name:
        raise RunError("Choose a snapshot (make one in the Curate tab), or use One-click DPO.")
    return plan_run(
        ctx.store, snapshot=name, method=method, model=model, settings=parse_settings(text)
    )


def _followed(ctx: AppContext, record: RunRecord) -> Outputs:
    """Follow `record` from now on: its id, its command and the live view."""
    return {
        "followed": record.id,
        "command": " ".join(run_command(record)),
        **live_view(ctx, record.id),
    }


@handler("admin")
def load(ctx: AppContext, user: str) -> Outputs:
    """A page opens: follow the newest active run (or the newest run); list the snapshots."""
    records = list_runs(ctx.store, status=("running", "queued")) or list_runs(ctx.store)[:1]
    run_id = records[0].id if records else None
    names = [info.name for info in list_snapshots(ctx.store)]
    return {
        "followed": run_id,
        "snapshot": gr.Dropdown(choices=names, value=names[0] if names else None),
        **live_view(ctx, run_id),
    }


@handler("admin")
def suggest(ctx: AppContext, user: str, model: str, preset: str) -> Outputs:
    """The settings the preset suggests for the model."""
    return {"settings": settings_yaml(model, preset)}


@handler("admin")
def preview(ctx: AppContext, user: str, name: str, method: str, model: str, text: str) -> Outputs:
    """The command and config a run of the form would get; nothing is written."""
    return {"command": command_preview(ctx, _plan(ctx, name, method, model, text))}


@handler("admin")
def launch(ctx: AppContext, user: str, name: str, method: str, model: str, text: str) -> Outputs:
    """Queue the run the form describes (it starts at once when no other run trains)."""
    record = start_run(ctx.store, _plan(ctx, name, method, model, text))
    safe_text.info(f"Run {record.id} {record.status}; it keeps going if you close this page.")
    return _followed(ctx, record)


@handler("admin")
def one_click(ctx: AppContext, user: str, model: str, preset: str, text: str) -> Outputs:
    """One-click DPO on fresh labels with the preset and the settings shown."""
    started = one_click_dpo(ctx.store, model=model, preset=preset, settings=parse_settings(text))
    safe_text.info(started.describe())
    return _followed(ctx, started.run)


@handler("admin")
def cancel(ctx: AppContext, user: str, run_id: int | None) -> Outputs:
    """Cancel the followed run."""
    if run_id is None:
        raise RunError("No run is followed.")
    cancel_run(ctx.store, run_id)
    return live_view(ctx, run_id)


@handler("admin")
def resume(ctx: AppContext, user: str, run_id: int | None) -> Outputs:
    """Queue the followed (failed or cancelled) run again."""
    if run_id is None:
        raise RunError("No run is followed.")
    resume_run(ctx.store, run_id)
    return live_view(ctx, run_id)


@handler("admin")
def follow(ctx: AppContext, user: str, table: Any, event: gr.SelectData) -> Outputs:
    """Follow the run selected in the runs table."""
    run_id = int(table.iloc[event.index[0]]["id"])
    return {"followed": run_id, **live_view(ctx, run_id)}


@handler("admin", passive=True)
def tick(ctx: AppContext, user: str, run_id: int | None) -> Outputs:
    """The timer: the followed run as the watcher last recorded it."""
    return live_view(ctx, run_id)


def create_train_tab(ctx: AppContext) -> None:
    """Build the Train tab; every handler checks the admin role on the server."""
    c: dict[str, Any] = {"followed": gr.State(None)}  # id of the run shown below
    with gr.Row():
        c["snapshot"] = gr.Dropdown([], label="Snapshot", elem_id="train-snapshot")
        c["method"] = gr.Radio(list(METHODS), value="dpo", label="Method", elem_id="train-method")
        c["model"] = gr.Dropdown(
            [EMBEDDED_MODEL],
            value=EMBEDDED_MODEL,
            allow_custom_value=True,
            label="Base model (hub id, folder, or smollm2-135m)",
            elem_id="train-model",
        )
        c["preset"] = gr.Dropdown(
            list(PRESETS), value=DEFAULT_PRESET, label="Preset", elem_id="train-preset"
        )
    # The default model's settings from the start: a page-load event filling them in could
    # land after the user's own choice of model or preset and undo it.
    c["settings"] = gr.Code(
        settings_yaml(EMBEDDED_MODEL, DEFAULT_PRESET),
        language="yaml",
        label="Settings (YAML)",
        elem_id="train-settings",
    )
    with gr.Row():
        c["preview"] = gr.Button("Preview command", elem_id="train-preview")
        c["launch"] = gr.Button("Launch", variant="primary", elem_id="train-launch")
        c["one_click"] = gr.Button("One-click DPO", variant="primary", elem_id="train-one-click")
    c["command"] = gr.Code(
        label="Exact command of the run", interactive=False, elem_id="train-command"
    )
    c.update(_live_section())
    _wire_train_tab(ctx, c)


def _live_section() -> dict[str, Any]:
    """The followed run's status, cancel and resume, curves, log tail and the runs table."""
    c: dict[str, Any] = {"status": safe_text.markdown_view(elem_id="train-status")}
    with gr.Row():
        c["cancel"] = gr.Button("Cancel run", variant="stop", elem_id="train-cancel")
        c["resume"] = gr.Button("Resume from last checkpoint", elem_id="train-resume")
    with gr.Row():
        c["loss_plot"] = gr.LinePlot(x="step", y="value", color="metric", label="Loss")
        c["reward_plot"] = gr.LinePlot(
            x="step", y="value", color="metric", label="Reward accuracy and margin"
        )
        c["kl_plot"] = gr.LinePlot(x="step", y="value", color="metric", label="KL (KTO)")
    c["log"] = gr.Textbox(
        label="Log (last lines)",
        lines=LOG_LINES,
        max_lines=LOG_LINES,
        interactive=False,
        autoscroll=True,
        elem_id="train-log",
    )
    c["runs"] = gr.Dataframe(
        label="Runs (select one to follow it)", interactive=False, elem_id="train-runs"
    )
    c["timer"] = gr.Timer(2.0)
    return c


def _wire_train_tab(ctx: AppContext, c: dict[str, Any]) -> None:
    """Connect the Train tab's events to its handlers."""
    live = named(c, *LIVE)
    started = named(c, "followed", "command", *LIVE)
    form = [c["snapshot"], c["method"], c["model"], c["settings"]]
    chosen = [c["model"], c["preset"]]
    changed = partial(gr.on, [c["model"].change, c["preset"].change], show_progress="hidden")
    wire(ctx, changed, suggest, chosen, named(c, "settings"))
    wire(ctx, c["preview"].click, preview, form, named(c, "command"))
    wire(ctx, c["launch"].click, launch, form, started)
    wire(ctx, c["one_click"].click, one_click, [*chosen, c["settings"]], started)
    wire(ctx, c["cancel"].click, cancel, [c["followed"]], live)
    wire(ctx, c["resume"].click, resume, [c["followed"]], live)
    wire(ctx, c["runs"].select, follow, [c["runs"]], named(c, "followed", *LIVE))
    wire(ctx, partial(c["timer"].tick, show_progress="hidden"), tick, [c["followed"]], live)
    # Each page load re-attaches to the newest active run (or shows the newest run).
    on_page_load(ctx, load, None, named(c, "followed", "snapshot", *LIVE))
