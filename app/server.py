"""One web server: the HTTP API under /api/v1 and the Gradio UI (behind a login) on one port."""

from __future__ import annotations

import signal
import socket
import sys
import threading
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from app.context import AppContext
from curation.errors import PrefstudioError
from curation.jobs.watcher import Watcher

LOGIN_MESSAGE = "Log in with your prefstudio account."


def create_app(ctx: AppContext) -> FastAPI:
    """The FastAPI app serving the API at /api/v1 and the UI at /."""
    import gradio as gr

    from app.api import api_router, install_error_handlers
    from app.api.guard import ApiGuard, BodyLimits
    from app.ui import build_ui, page_head

    limits = BodyLimits.configured(ctx.settings)
    app = FastAPI(title="prefstudio", docs_url="/api/v1/docs", openapi_url="/api/v1/openapi.json")
    app.state.context = ctx
    app.include_router(api_router(), prefix="/api/v1")
    install_error_handlers(app)
    # Outermost: credentials and body sizes are checked before anything reads a body.
    app.add_middleware(ApiGuard, ctx=ctx, limits=limits)
    return gr.mount_gradio_app(
        app,
        build_ui(ctx),
        path="",
        auth=ctx.check_login,
        auth_message=ctx.settings.get("login_message", LOGIN_MESSAGE),
        head=page_head(),
        footer_links=[],
        # Domain errors reach the page as escaped gr.Error lines (app/safe_text.py); any other
        # exception's text, which may quote data, is not shown (the server log has it).
        show_error=False,
        max_file_size=limits.upload,
    )


GRACEFUL_SHUTDOWN_SECONDS = 5


class PortInUse(PrefstudioError):
    """The address the server should listen on is taken by another program."""


def ensure_port_free(host: str, port: int) -> None:
    """Raise PortInUse, naming the address, when nothing new can listen on `host:port`."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise PortInUse(
                f"cannot listen on {host}:{port} ({error.strerror}); "
                "stop what uses it or pick another with --port"
            ) from None


def serve(ctx: AppContext, host: str, port: int, on_ready: Callable[[str], None]) -> None:
    """Run the server until interrupted, advertising it beside the store for the CLI;
    `on_ready(url)` is called once it listens and answers requests."""
    from app.server_info import remove_server_file, write_server_file

    url = f"http://{host}:{port}"
    info = write_server_file(ctx.store.path, url)
    ctx.settings.update(host=host, port=port, url=url, local_token=info.token)
    # uvicorn shuts down gracefully on SIGTERM and then raises the signal again; exiting
    # through SystemExit (not the default handler's instant death) lets the store close and
    # the advert file go.
    if threading.current_thread() is threading.main_thread():  # only it may set handlers
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        config = uvicorn.Config(
            create_app(ctx),
            host=host,
            port=port,
            log_level="warning",
            # An open browser tab keeps a stream open; do not wait for it forever on shutdown.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
        with Watcher(ctx.store):  # finishes jobs, training runs included
            _AnnouncingServer(config, lambda: on_ready(url)).run()
    finally:
        remove_server_file(ctx.store.path, info)


class _AnnouncingServer(uvicorn.Server):
    """uvicorn's server, calling `announce` once its startup is done: the app loaded, its
    startup hooks run and its socket listening, so a request from then on is answered."""

    def __init__(self, config: uvicorn.Config, announce: Callable[[], None]) -> None:
        super().__init__(config)
        self.announce = announce

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self.announce()
