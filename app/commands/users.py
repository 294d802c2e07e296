"""`prefstudio user`: create, list, change, disable and enable accounts.

Passwords are read from standard input (the first line), never from the command line.
"""

from __future__ import annotations

import sys

import click

from app.commands.base import store_command
from curation import Store
from curation.accounts import (
    ROLES,
    add_user,
    list_users,
    set_disabled,
    set_password,
    set_role,
)


def _password_from_stdin() -> str:
    return sys.stdin.readline().rstrip("\r\n")


@click.group()
def user() -> None:
    """Manage annotator accounts."""


@user.command(name="add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="annotator", show_default=True)
@store_command
def user_add(store: Store, name: str, role: str) -> tuple[dict, str]:
    """Create an account; the password is read from stdin (first line)."""
    account = add_user(store, name, role, _password_from_stdin())
    return {"name": account.name, "role": account.role}, f"added {account.role} {account.name}"


@user.command(name="list")
@store_command
def user_list(store: Store) -> tuple[dict, str]:
    """List accounts: name, role, created, and whether disabled."""
    accounts = list_users(store)
    lines = [
        f"{a.name:<20} {a.role:<10} {a.created}" + ("  (disabled)" if a.disabled else "")
        for a in accounts
    ]
    return {"users": [vars(a) for a in accounts]}, "\n".join(lines) or "no accounts yet"


@user.command(name="passwd")
@click.argument("name")
@store_command
def user_passwd(store: Store, name: str) -> tuple[dict, str]:
    """Set NAME's password to the first line of stdin."""
    set_password(store, name, _password_from_stdin())
    return {"name": name}, f"new password set for {name}"


@user.command(name="role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@store_command
def user_set_role(store: Store, name: str, role: str) -> tuple[dict, str]:
    """Give NAME the ROLE (the last admin who can log in stays one)."""
    set_role(store, name, role)
    return {"name": name, "role": role}, f"{name} is now an {role}"


def _switch_command(command: str, disabled: bool, help_text: str) -> None:
    """Add `user disable` or `user enable`."""

    def switch(store: Store, name: str) -> tuple[dict, str]:
        set_disabled(store, name, disabled)
        return {"name": name, "disabled": disabled}, f"{command}d {name}"

    switch.__name__ = f"user_{command}"
    user.command(name=command, help=help_text)(click.argument("name")(store_command(switch)))


_switch_command("disable", True, "Stop NAME from logging in; their labels stay theirs.")
_switch_command("enable", False, "Let a disabled NAME log in again.")


COMMANDS = [user]
