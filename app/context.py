"""What every UI tab and API route shares: the open store, settings, and the role check."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curation.labelling.accounts import CredentialCache, user_role
from curation.labelling.login_throttle import LoginLocked
from curation.store.store import Store

if TYPE_CHECKING:
    import gradio as gr

ROLE_RANK = {"annotator": 1, "admin": 2}
# The address of the client whose request is being handled (set by app.api.guard.ApiGuard).
CLIENT_ADDRESS: ContextVar[str] = ContextVar("client_address", default="unknown")


@dataclass
class AppContext:
    """The server's open store and settings; one per running server.

    `settings` holds what the server was started with (host, port, url). `page_loads` collects
    what the tabs want run when a page opens; `app.ui.build_ui` wires them to the page.
    """

    store: Store
    settings: dict[str, Any] = field(default_factory=dict)
    page_loads: list[tuple[Callable, Any, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.credentials = CredentialCache(self.store)

    async def check_login(self, username: str, password: str) -> bool:
        """Gradio's login check: whether the name and password match an account. Never while
        this name, from this client's address, must wait after failed logins; the slow hash
        runs in a worker thread."""
        check = self.credentials.role_for
        try:
            role = await asyncio.to_thread(check, username, password, CLIENT_ADDRESS.get())
        except LoginLocked:
            return False
        return role is not None

    def role_of(self, username: str) -> str | None:
        """The role of an account now (None for an unknown or deleted account)."""
        return user_role(self.store, username)

    def require_user(self, request: gr.Request | None, role: str = "annotator") -> str:
        """The logged-in user's name; raise gr.Error when not logged in or the role is too low."""
        import gradio as gr

        username = _username(request)
        if not username:
            raise gr.Error("Log in first.")
        if not role_allows(self.role_of(username), role):
            raise gr.Error(f"This needs the {role} role; {username} does not have it.")
        return username

    def is_admin(self, request: gr.Request | None) -> bool:
        """Whether the logged-in user is an admin (for what admin tabs show on a page load)."""
        return role_allows(self.role_of(_username(request) or ""), "admin")

    def on_page_load(self, fn: Callable, inputs: Any, outputs: Any) -> None:
        """Run `fn` (a Gradio handler) each time a page opens, like `Blocks.load`."""
        self.page_loads.append((fn, inputs, outputs))


def _username(request: gr.Request | None) -> str | None:
    """Who is logged in on a Gradio request, if anyone."""
    return getattr(request, "username", None) if request is not None else None


def role_allows(actual: str | None, required: str) -> bool:
    """Whether an account with role `actual` may do what needs `required` (admin passes all)."""
    return actual is not None and ROLE_RANK[actual] >= ROLE_RANK[required]
