"""What every UI tab and API route shares: the open store, settings, and the role check."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from curation.accounts import CredentialCache, user_role
from curation.store import Store

if TYPE_CHECKING:
    import gradio as gr

ROLE_RANK = {"annotator": 1, "admin": 2}
_current: AppContext | None = None


@dataclass
class AppContext:
    """The server's open store and settings; one per running server.

    `settings` holds what the server was started with (host, port, url). Creating a context
    makes it the one `require_user` checks against.
    """

    store: Store
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        global _current
        self.credentials = CredentialCache(self.store)
        _current = self

    def check_login(self, username: str, password: str) -> bool:
        """Gradio's login check: whether the name and password match an account."""
        return self.credentials.role_for(username, password) is not None

    def role_of(self, username: str) -> str | None:
        """The role of an account now (None for an unknown or deleted account)."""
        return user_role(self.store, username)


def current_context() -> AppContext:
    """The context of the running server."""
    if _current is None:
        raise RuntimeError("no AppContext has been created yet")
    return _current


def role_allows(actual: str | None, required: str) -> bool:
    """Whether an account with role `actual` may do what needs `required` (admin passes all)."""
    return actual is not None and ROLE_RANK[actual] >= ROLE_RANK[required]


def require_user(request: gr.Request | None, role: str = "annotator") -> str:
    """The logged-in user's name; raise gr.Error when not logged in or the role is too low."""
    import gradio as gr

    username = getattr(request, "username", None) if request is not None else None
    if not username:
        raise gr.Error("Log in first.")
    if not role_allows(current_context().role_of(username), role):
        raise gr.Error(f"This needs the {role} role; {username} does not have it.")
    return username
