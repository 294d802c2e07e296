"""`prefstudio user`: create, list, change, disable and enable accounts.

Passwords are read from standard input (the first line; at a terminal, a hidden prompt), never
from the command line, by this process: through a server, the command sends the password it
read along with its other options.
"""

from __future__ import annotations

import sys

import click

from app.commands.base import store_command
from curation import Store
from curation.labelling.accounts import (
    ROLES,
    Account,
    AccountChange,
    account_listing,
    add_user,
    update_account,
)
from curation.results import Listing


def password_from_stdin() -> str:
    """The first line of standard input; at a terminal, asked for twice without echo."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    return sys.stdin.readline().rstrip("\r\n")


def _read_password(ctx: click.Context, param: click.Parameter, given: str | None) -> str:
    """The command's password, from stdin; one given on the command line is refused."""
    if given is not None:
        raise click.BadParameter("passwords are read from stdin, never from the command line")
    return password_from_stdin()


password_option = click.option(
    "--password", "password", hidden=True, default=None, callback=_read_password
)
"""Gives a command a `password` argument, read from stdin (see password_from_stdin)."""


@click.group()
def user() -> None:
    """Manage annotator accounts."""


@user.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="annotator", show_default=True)
@password_option
@store_command
def user_add(store: Store, name: str, role: str, password: str) -> AccountChange:
    """Create an account; the password is read from stdin (first line)."""
    return AccountChange(add_user(store, name, role, password), f"added as {role}")


@user.command(name="list")
@store_command
def user_list(store: Store) -> Listing[Account]:
    """List accounts: name, role, created, and whether disabled."""
    return account_listing(store)


@user.command(name="passwd")
@click.argument("name")
@password_option
@store_command
def user_passwd(store: Store, name: str, password: str) -> AccountChange:
    """Set NAME's password to the first line of stdin."""
    return AccountChange(update_account(store, name, password=password), "new password")


@user.command(name="role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@store_command
def user_set_role(store: Store, name: str, role: str) -> AccountChange:
    """Give NAME the ROLE (the last admin who can log in stays one)."""
    return AccountChange(update_account(store, name, role=role), f"now {role}")


def _switch_command(command: str, disabled: bool, help_text: str) -> None:
    """Add `user disable` or `user enable`."""

    def switch(store: Store, name: str) -> AccountChange:
        return AccountChange(update_account(store, name, disabled=disabled), f"{command}d")

    switch.__name__ = f"user_{command}"
    user.command(name=command, help=help_text)(click.argument("name")(store_command(switch)))


_switch_command("disable", True, "Stop NAME from logging in; their labels stay theirs.")
_switch_command("enable", False, "Let a disabled NAME log in again.")


COMMANDS = [user]
