"""The accounts panel of the Admin tab: create accounts, change roles and passwords, disable."""

from __future__ import annotations

from typing import Any

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.safe_text import error, info
from app.tabs.handlers import Outputs, handler, named, on_page_load, wire
from curation.labelling.accounts import (
    ROLES,
    AccountChange,
    add_user,
    list_users,
    update_account,
)


def _listing(ctx: AppContext) -> Outputs:
    """The accounts to pick from, and the table of them."""
    users = list_users(ctx.store)
    table = pd.DataFrame(
        [u.to_dict() for u in users], columns=["name", "role", "created", "disabled"]
    )
    return {"pick": gr.Dropdown(choices=[u.name for u in users]), "accounts": table}


def _changed(ctx: AppContext, change: AccountChange) -> Outputs:
    """After a change: the remembered logins dropped, the change shown, the accounts listed."""
    ctx.credentials.forget()
    info(change.text())
    return _listing(ctx)


def _chosen(name: str | None) -> str:
    """The picked account's name; an error when none is picked."""
    if not name:
        raise error("Choose an account first.")
    return name


@handler("admin", passive=True)
def list_accounts(ctx: AppContext, user: str) -> Outputs:
    """The accounts, when an admin opens the page."""
    return _listing(ctx)


@handler("admin")
def create_account(ctx: AppContext, user: str, name: str, role: str, secret: str) -> Outputs:
    """Add an account; the form's name and password cleared."""
    added = add_user(ctx.store, name.strip(), role, secret)
    listed = _changed(ctx, AccountChange(added, f"added as {role}"))
    return {"new_name": "", "new_password": "", **listed}


@handler("admin")
def change_role(ctx: AppContext, user: str, name: str | None, role: str) -> Outputs:
    """Give the picked account another role."""
    account = update_account(ctx.store, _chosen(name), role=role)
    return _changed(ctx, AccountChange(account, f"now {role}"))


@handler("admin")
def change_password(ctx: AppContext, user: str, name: str | None, secret: str) -> Outputs:
    """Set the picked account's password; the field cleared."""
    account = update_account(ctx.store, _chosen(name), password=secret)
    return {"password": "", **_changed(ctx, AccountChange(account, "new password"))}


@handler("admin")
def set_disabled(ctx: AppContext, user: str, name: str | None, *, disabled: bool) -> Outputs:
    """Disable or enable the picked account."""
    account = update_account(ctx.store, _chosen(name), disabled=disabled)
    return _changed(ctx, AccountChange(account, "disabled" if disabled else "enabled"))


def _account_forms() -> dict[str, Any]:
    """The new-account form and the change-an-account controls, by name."""
    c: dict[str, Any] = {}
    with gr.Row():
        with gr.Column():
            gr.Markdown("### New account")
            c["new_name"] = gr.Textbox(label="Name")
            c["new_role"] = gr.Radio(list(ROLES), value="annotator", label="Role")
            c["new_password"] = gr.Textbox(label="Password (8+ characters)", type="password")
            c["add"] = gr.Button("Add account")
        with gr.Column():
            gr.Markdown("### Change an account")
            c["pick"] = gr.Dropdown(label="Account", choices=[], elem_id="account-pick")
            with gr.Row():
                c["role"] = gr.Radio(list(ROLES), value="annotator", label="Role")
                c["set_role"] = gr.Button("Change role", elem_id="account-role")
            with gr.Row():
                c["password"] = gr.Textbox(label="New password (8+ characters)", type="password")
                c["set_password"] = gr.Button("Set password", elem_id="account-password")
            with gr.Row():
                c["disable"] = gr.Button("Disable", variant="stop", elem_id="account-disable")
                c["enable"] = gr.Button("Enable", elem_id="account-enable")
    return c


def create_accounts_panel(ctx: AppContext) -> None:
    """Build the panel; every handler checks the admin role on the server, and every change
    drops the logins the server remembers, so it takes effect at the next request."""
    c = _account_forms()
    c["accounts"] = gr.Dataframe(label="Accounts", interactive=False, elem_id="accounts")
    shown = named(c, "pick", "accounts")
    on_page_load(ctx, list_accounts, None, shown)
    form = [c["new_name"], c["new_role"], c["new_password"]]
    wire(ctx, c["add"].click, create_account, form, named(c, "new_name", "new_password", *shown))
    wire(ctx, c["set_role"].click, change_role, [c["pick"], c["role"]], shown)
    changed = named(c, "password", *shown)
    wire(ctx, c["set_password"].click, change_password, [c["pick"], c["password"]], changed)
    for button, disabled in (("disable", True), ("enable", False)):
        wire(ctx, c[button].click, set_disabled, [c["pick"]], shown, disabled=disabled)
