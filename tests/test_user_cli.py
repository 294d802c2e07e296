"""`prefstudio user`: passwords from stdin, listing, role and password changes, disabling."""

from __future__ import annotations

import json

from click.testing import CliRunner

from app.cli import main
from curation import Store
from curation.labelling.accounts import verify_password
from tests.conftest import assert_one_error_line


def user(db_path, *args: str, password: str | None = None):
    """Run `prefstudio user ARGS --db DB`, with `password` on stdin."""
    stdin = None if password is None else password + "\n"
    return CliRunner().invoke(main, ["user", *args, "--db", str(db_path)], input=stdin)


def test_accounts_are_added_changed_disabled_and_listed(db_path):
    assert user(db_path, "add", "root", "--role", "admin", password="root-password").exit_code == 0
    assert (
        user(db_path, "add", "ann", password="ann-password").stdout == "ann: added as annotator\n"
    )
    assert user(db_path, "passwd", "ann", password="ann-new-password").exit_code == 0
    assert user(db_path, "role", "ann", "admin").stdout == "ann: now admin\n"
    assert user(db_path, "disable", "root").stdout == "root: disabled\n"
    listed = json.loads(user(db_path, "list", "--json").stdout)["users"]
    assert [(u["name"], u["role"], u["disabled"]) for u in listed] == [
        ("ann", "admin", False),
        ("root", "admin", True),
    ]
    with Store(db_path) as store:
        assert verify_password(store, "ann", "ann-new-password") == "admin"
        assert verify_password(store, "root", "root-password") is None
    assert user(db_path, "enable", "root").stdout == "root: enabled\n"


def test_refused_changes_are_one_error_line(db_path):
    user(db_path, "add", "root", "--role", "admin", password="root-password")
    for args, password, message in [
        (("add", "ann"), "short", "password for ann is too short"),
        (("passwd", "nobody"), "long-enough", "no user 'nobody'"),
        (("disable", "root"), None, "cannot disable root: it is the last admin"),
        (("role", "root", "annotator"), None, "cannot make root an annotator"),
    ]:
        result = user(db_path, *args, password=password)
        assert result.exit_code == 1
        assert message in assert_one_error_line(result.stderr)
