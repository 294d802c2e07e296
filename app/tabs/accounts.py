"""The accounts panel of the Admin tab: create accounts, change roles and passwords, disable."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from app.context import AppContext
from app.safe_text import info, shows_errors
from curation.accounts import ROLES, add_user, list_users, update_account


def create_accounts_panel(ctx: AppContext) -> None:
    """Build the panel; every handler checks the admin role on the server, and every change
    drops the logins the server remembers, so it takes effect at the next request."""
    with gr.Row():
        with gr.Column():
            gr.Markdown("### New account")
            new_name = gr.Textbox(label="Name")
            new_role = gr.Radio(list(ROLES), value="annotator", label="Role")
            new_password = gr.Textbox(label="Password (8+ characters)", type="password")
            add_button = gr.Button("Add account")
        with gr.Column():
            gr.Markdown("### Change an account")
            pick = gr.Dropdown(label="Account", choices=[], elem_id="account-pick")
            with gr.Row():
                role = gr.Radio(list(ROLES), value="annotator", label="Role")
                role_button = gr.Button("Change role", elem_id="account-role")
            with gr.Row():
                password = gr.Textbox(label="New password (8+ characters)", type="password")
                password_button = gr.Button("Set password", elem_id="account-password")
            with gr.Row():
                disable_button = gr.Button("Disable", variant="stop", elem_id="account-disable")
                enable_button = gr.Button("Enable", elem_id="account-enable")
    accounts = gr.Dataframe(label="Accounts", interactive=False, elem_id="accounts")

    def listing() -> list:
        users = list_users(ctx.store)
        table = pd.DataFrame(
            [vars(u) for u in users], columns=["name", "role", "created", "disabled"]
        )
        return [gr.Dropdown(choices=[u.name for u in users]), table]

    def changed(message: str) -> list:
        ctx.credentials.forget()
        info(message)
        return listing()

    @shows_errors
    def create(name: str, chosen_role: str, secret: str, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        add_user(ctx.store, name.strip(), chosen_role, secret)
        return ["", "", *changed(f"Added {chosen_role} {name.strip()}.")]

    def chosen(name: str | None) -> str:
        if not name:
            raise gr.Error("Choose an account first.")
        return name

    @shows_errors
    def change_role(name: str | None, chosen_role: str, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        update_account(ctx.store, chosen(name), role=chosen_role)
        return changed(f"{name} is now an {chosen_role}.")

    @shows_errors
    def change_password(name: str | None, secret: str, request: gr.Request) -> list:
        ctx.require_user(request, "admin")
        update_account(ctx.store, chosen(name), password=secret)
        return ["", *changed(f"New password set for {name}.")]

    def disable_or_enable(disabled: bool):
        @shows_errors
        def handler(name: str | None, request: gr.Request) -> list:
            ctx.require_user(request, "admin")
            update_account(ctx.store, chosen(name), disabled=disabled)
            return changed(f"{'Disabled' if disabled else 'Enabled'} {name}.")

        return handler

    def listing_for_admins(request: gr.Request) -> list:
        if not ctx.is_admin(request):
            return [gr.skip(), gr.skip()]
        return listing()

    shown = [pick, accounts]
    ctx.on_page_load(listing_for_admins, None, shown)
    add_button.click(create, [new_name, new_role, new_password], [new_name, new_password, *shown])
    role_button.click(change_role, [pick, role], shown)
    password_button.click(change_password, [pick, password], [password, *shown])
    disable_button.click(disable_or_enable(True), pick, shown)
    enable_button.click(disable_or_enable(False), pick, shown)
