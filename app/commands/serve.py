"""Commands that run the web app: serve and demo."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import click

from app.commands.base import store_command
from curation import PrefstudioError, Store, import_paths
from curation.labelling.accounts import add_user
from curation.labelling.guidelines import set_guidelines

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def _serve_options(fn):
    """Add --host and --port."""
    fn = click.option(
        "--port", type=int, default=DEFAULT_PORT, show_default=True, help="Port to listen on."
    )(fn)
    return click.option(
        "--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on."
    )(fn)


def _run_server(store: Store, host: str, port: int, settings: dict | None = None) -> None:
    """Serve the store until interrupted; the address is printed once the server answers."""
    from app.context import AppContext
    from app.server import ensure_port_free
    from app.server import serve as run_server

    ensure_port_free(host, port)
    click.echo(f"starting prefstudio on {host}:{port} ...")
    run_server(
        AppContext(store, settings=dict(settings or {})),
        host,
        port,
        on_ready=lambda url: click.echo(
            f"prefstudio serving {store.path} at {url} (Ctrl+C stops it)"
        ),
    )


@click.command()
@_serve_options
@store_command
def serve(store: Store, host: str, port: int) -> ServerStopped:
    """Serve the labelling UI and the HTTP API (/api/v1) on one port."""
    _run_server(store, host, port)
    return ServerStopped(str(store.path))


@dataclass(frozen=True)
class ServerStopped:
    """A server that has stopped, and its store."""

    db: str

    def to_dict(self) -> dict:
        return {"stopped": True, "db": self.db}

    def text(self) -> str:
        return "server stopped"


def _sample_data() -> Path:
    """The bundled sample data folder (data/ of the checkout)."""
    for candidate in (Path(__file__).resolve().parents[2] / "data", Path.cwd() / "data"):
        if candidate.is_dir():
            return candidate
    raise PrefstudioError("the sample data folder data/ was not found")


DEMO_MARKER = ".prefstudio-demo"
DEMO_LOGIN_MESSAGE = (
    "Log in as admin or annotator: the passwords are printed in the terminal that "
    "runs prefstudio demo."
)


def _fresh_demo_folder(folder: Path) -> Path:
    """Empty `folder` for a new demo: only a folder an earlier demo made, and not while served."""
    if folder.exists() and any(folder.iterdir()):
        if not (folder / DEMO_MARKER).exists():
            raise PrefstudioError(
                f"{folder} is not empty and not a prefstudio demo folder; "
                "give --dir a new or empty folder"
            )
        db_path = folder / "prefstudio.duckdb"
        if db_path.exists():
            Store(db_path).close()  # refuses, naming the holder, while a demo still serves it
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / DEMO_MARKER).touch()
    return folder


@click.command()
@_serve_options
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the demo store (default: $PREFSTUDIO_HOME/demo); an earlier demo there is replaced.",
)
def demo(host: str, port: int, folder: Path | None) -> None:
    """Serve the bundled sample in a fresh store, with a ready admin and annotator account."""
    from training.models import prefstudio_home

    folder = folder or prefstudio_home() / "demo"
    db_path = _fresh_demo_folder(folder) / "prefstudio.duckdb"
    with Store(db_path) as store:
        sample = _sample_data()
        report = import_paths(store, [sample])
        guidelines = sample / "guidelines.md"
        if guidelines.is_file():
            set_guidelines(store, guidelines.read_text(encoding="utf-8"))
        accounts = {name: secrets.token_urlsafe(9) for name in ("admin", "annotator")}
        for name, password in accounts.items():
            add_user(store, name, name, password)
        click.echo(f"imported {report.added.get('pairs', 0)} pairs from the sample data")
        for name, password in accounts.items():
            click.echo(f"  log in as {name:<9} password {password}")
        _run_server(store, host, port, {"login_message": DEMO_LOGIN_MESSAGE})


COMMANDS = [serve, demo]
