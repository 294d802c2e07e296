"""Following a job (generation, judging, curation, learning a judge, a training run) from the
CLI until it ends, here or through a server.

Here, the CLI holds the store, so its wait loop is the watcher that takes the worker's results
in; through a server, it polls the job while the server's watcher does that. Either way a tqdm
bar shows the worker's progress and Ctrl-C cancels the job (what it finished is kept).

A command whose whole work is one job is written once, as the job's parameters from its
options (`job_command`): the same job runs here, or through the server holding the store.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial, wraps
from typing import TYPE_CHECKING, Any

import click

from app.server_info import ServerInfo
from curation.errors import PrefstudioError
from curation.results import Reported
from curation.store.store import Store

if TYPE_CHECKING:
    import httpx

JobWait = Callable[[Callable[[dict], None]], dict]
Shown = Callable[[dict], str]
FollowUp = tuple[str, Callable[[dict], dict[str, Any]]]


def job_report(view: dict) -> dict[str, Any]:
    """A finished job's report; a failed job is an error naming its cause."""
    if view["status"] == "failed":
        raise PrefstudioError(f"{view['kind']} job {view['id']} failed: {view['error']}")
    return view["result"]


@dataclass(frozen=True)
class JobCommand:
    """A store command that starts one job of `kind` with `params(**options)` and prints
    `shown(report)` (its report type's text, which may refuse a report as an error) once the
    job has ended.

    `report` makes the ended job's view its report (or an error); `announce` is a line for
    stderr once the job has started; `then` names a store command that reads more for the
    report, with its options from the report (it runs where the job ran: here, or as an
    action in the server)."""

    kind: str
    params: Callable[..., dict[str, Any]]
    shown: Shown
    report: Callable[[dict], dict[str, Any]] = job_report
    announce: Callable[[dict], str] | None = None
    then: FollowUp | None = None

    def here(self, store: Store, **options: Any) -> Reported:
        """Run the job on this store, following it; what the command prints."""
        from app.commands.base import ACTIONS

        view = run_job_here(store, self.kind, self.params(**options), self.announce)
        return self._shown(
            view, lambda name, then_options: ACTIONS[name](store, **then_options).to_dict()
        )

    def remote(self, server: ServerInfo, **options: Any) -> Reported:
        """Start the job in the server that holds the store, following it; what it prints."""
        from app.commands.remote import remote_action

        view = run_job_remote(server, self.kind, self.params(**options), self.announce)
        return self._shown(
            view, lambda name, then_options: remote_action(server, name, then_options)[0]
        )

    def _shown(self, view: dict, read: Callable[[str, dict], dict]) -> Reported:
        """What the command prints for the ended job `view`; `read(name, options)` runs the
        follow-up command, if any, and gives its JSON form."""
        report = self.report(view)
        if self.then is not None:
            name, then_options = self.then
            report = {**report, **read(name, then_options(report))}
        return Reported(report, self.shown)


JOB_COMMANDS: dict[str, JobCommand] = {}
"""The store commands that are one job, by function name (the server never runs them as actions)."""


def job_command(
    kind: str,
    shown: Shown,
    *,
    report: Callable[[dict], dict[str, Any]] = job_report,
    announce: Callable[[dict], str] | None = None,
    then: FollowUp | None = None,
) -> Callable[[Callable[..., dict]], Callable]:
    """Make a function from a command's options to a job's parameters into the command's store
    function (for `store_command`): it runs a job of `kind` and prints `shown(report)`, here or
    through a server, by one path (see JobCommand for the rest)."""

    def wrap(params: Callable[..., dict]) -> Callable:
        command = JobCommand(kind, params, shown, report, announce, then)
        JOB_COMMANDS[params.__name__] = command

        @wraps(params)
        def here(store: Store, **options: Any) -> Reported:
            return command.here(store, **options)

        here.__annotations__ = {**params.__annotations__, "return": Reported}  # not params'

        return here

    return wrap


def follow_job(job: dict, wait: JobWait, cancel: Callable[[], dict]) -> dict:
    """Wait for a job (a job view) with a progress bar; Ctrl-C cancels it. Returns its view."""

    def reading(current: dict) -> tuple[int, int | None, str]:
        progress = current["progress"]
        return (
            progress.get("done", 0),
            progress.get("total"),
            progress.get("phase", current["status"]),
        )

    title = f"{job['kind']} job {job['id']}"
    unit = "step" if job["kind"] == "train" else "item"  # a run's progress counts its steps
    return follow_with_bar(title, unit, reading, wait, cancel, "what it finished is kept")


def follow_with_bar(
    title: str,
    unit: str,
    reading: Callable[[dict], tuple[int, int | None, str]],
    wait: JobWait,
    cancel: Callable[[], dict],
    kept: str,
) -> dict:
    """Wait for a job or a run with a tqdm bar on stderr, moved by `reading` of each view
    polled (done, total, phase); Ctrl-C cancels it, saying what is `kept`. Its last view."""
    from tqdm import tqdm

    bar = tqdm(desc=title, unit=unit, disable=None)

    def show(current: dict) -> None:
        done, total, phase = reading(current)
        if total:
            bar.total = total
        bar.set_postfix_str(phase, refresh=False)
        bar.n = done
        bar.refresh()

    try:
        return wait(show)
    except KeyboardInterrupt:
        bar.write(f"cancelling {title}; {kept}")
        return cancel()
    finally:
        bar.close()


def run_job_here(
    store: Store, kind: str, params: dict[str, Any], announce: Callable[[dict], str] | None = None
) -> dict[str, Any]:
    """Start a job on this store (saying `announce(view)` on stderr, if given) and follow it
    to its end; its last view."""
    from app.job_requests import start_job, stop_job
    from curation.jobs.runner import job_view, wait_for_job

    job = start_job(store, kind, params)
    _announced(job_view(job), announce)

    def wait(on_poll: Callable[[dict], None]) -> dict:
        return job_view(wait_for_job(store, job.id, on_poll=lambda j: on_poll(job_view(j))))

    return follow_job(job_view(job), wait, lambda: job_view(stop_job(store, job.id)))


def run_job_remote(
    server: ServerInfo,
    kind: str,
    params: dict[str, Any],
    announce: Callable[[dict], str] | None = None,
) -> dict[str, Any]:
    """Start a job in the server (as run_job_here does here) and follow it to its end by
    polling; its last view."""
    from app.commands.remote import _checked as checked_response
    from app.commands.remote import _client

    with _client(server) as client:
        job = checked_response(client.post("/jobs", json={"kind": kind, "params": params})).json()
        _announced(job, announce)
        return follow_remote_job(client, job)


def _announced(view: dict, announce: Callable[[dict], str] | None) -> None:
    """Say `announce(view)` on stderr, if there is an announcement."""
    if announce is not None:
        click.echo(announce(view), err=True)


def follow_remote_job(client: httpx.Client, job: dict) -> dict:
    """Follow a job started in the server (`job`: its view) by polling it through `client`,
    as follow_job does; its view once it has ended."""
    from app.commands.remote import _checked as checked_response
    from app.commands.remote import poll_until_ended

    path = f"/jobs/{job['id']}"
    wait = partial(poll_until_ended, client, path, seconds=0.5)
    cancel = lambda: checked_response(client.post(f"{path}/cancel")).json()  # noqa: E731
    return follow_job(job, wait, cancel)
