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
from curation.labelling.accounts import ROLES, add_user, list_users, update_account


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


def listed(users: list[dict]) -> tuple[dict, str]:
    """What `user list` prints for accounts as dicts."""
    lines = [
        f"{u['name']:<20} {u['role']:<10} {u['created']}"
        + ("  (disabled)" if u["disabled"] else "")
        for u in users
    ]
    return {"users": users}, "\n".join(lines) or "no accounts yet"


def updated(account: dict, what: str) -> tuple[dict, str]:
    """What a command that added or changed an account prints: the account, and `what`."""
    return account, f"{account['name']}: {what}"


@click.group()
def user() -> None:
    """Manage annotator accounts."""


@user.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="annotator", show_default=True)
@password_option
@store_command
def user_add(store: Store, name: str, role: str, password: str) -> tuple[dict, str]:
    """Create an account; the password is read from stdin (first line)."""
    return updated(vars(add_user(store, name, role, password)), f"added as {role}")


@user.command(name="list")
@store_command
def user_list(store: Store) -> tuple[dict, str]:
    """List accounts: name, role, created, and whether disabled."""
    return listed([vars(a) for a in list_users(store)])


@user.command(name="passwd")
@click.argument("name")
@password_option
@store_command
def user_passwd(store: Store, name: str, password: str) -> tuple[dict, str]:
    """Set NAME's password to the first line of stdin."""
    return updated(vars(update_account(store, name, password=password)), "new password")


@user.command(name="role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@store_command
def user_set_role(store: Store, name: str, role: str) -> tuple[dict, str]:
    """Give NAME the ROLE (the last admin who can log in stays one)."""
    return updated(vars(update_account(store, name, role=role)), f"now {role}")


def _switch_command(command: str, disabled: bool, help_text: str) -> None:
    """Add `user disable` or `user enable`."""

    def switch(store: Store, name: str) -> tuple[dict, str]:
        return updated(vars(update_account(store, name, disabled=disabled)), f"{command}d")

    switch.__name__ = f"user_{command}"
    user.command(name=command, help=help_text)(click.argument("name")(store_command(switch)))


_switch_command("disable", True, "Stop NAME from logging in; their labels stay theirs.")
_switch_command("enable", False, "Let a disabled NAME log in again.")


COMMANDS = [user]
