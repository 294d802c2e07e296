"""Accounts: salted slow hashes, roles, the checks on names and passwords, and changes."""

from __future__ import annotations

import pytest

from curation.labelling.accounts import (
    CredentialCache,
    add_user,
    hash_password,
    list_users,
    password_matches,
    update_account,
    user_role,
    verify_password,
)
from curation.labelling.annotation_errors import AccountError


def test_hash_is_salted_and_verifies():
    first, second = hash_password("correct horse"), hash_password("correct horse")
    assert first != second and first.startswith("scrypt$")
    assert password_matches("correct horse", first)
    assert not password_matches("correct hors", first)
    assert not password_matches("correct horse", "not-a-hash")


def test_add_user_then_verify_gives_the_role(store):
    add_user(store, "ann", "annotator", "password1")
    add_user(store, "root", "admin", "password2")
    assert verify_password(store, "ann", "password1") == "annotator"
    assert verify_password(store, "root", "password2") == "admin"
    assert verify_password(store, "ann", "password2") is None
    assert verify_password(store, "nobody", "password1") is None
    assert user_role(store, "root") == "admin"
    assert [(a.name, a.role) for a in list_users(store)] == [
        ("ann", "annotator"),
        ("root", "admin"),
    ]
    stored = store.con.execute("SELECT password_hash FROM annotators").fetchall()
    assert all("password" not in row[0] for row in stored)


@pytest.mark.parametrize(
    ("name", "role", "password", "message"),
    [
        ("", "annotator", "password1", "not valid"),
        ("../x", "annotator", "password1", "not valid"),
        ("import:x", "annotator", "password1", "not valid"),
        ("ann", "owner", "password1", "role 'owner'"),
        ("ann", "annotator", "short", "too short"),
    ],
)
def test_bad_accounts_are_refused(store, name, role, password, message):
    with pytest.raises(AccountError, match=message):
        add_user(store, name, role, password)
    assert list_users(store) == []


def test_taken_name_is_refused(store):
    add_user(store, "ann", "annotator", "password1")
    with pytest.raises(AccountError, match="already exists"):
        add_user(store, "ann", "admin", "password2")
    assert user_role(store, "ann") == "annotator"


def test_credential_cache_remembers_only_right_passwords(store):
    add_user(store, "ann", "annotator", "password1")
    cache = CredentialCache(store)
    assert cache.role_for("ann", "password1", "192.0.2.1") == "annotator"
    assert cache.role_for("ann", "password1", "192.0.2.1") == "annotator"
    assert cache.role_for("ann", "wrong-password", "192.0.2.1") is None
    assert len(cache._entries) == 1


def test_a_new_password_replaces_the_old_one(store):
    add_user(store, "ann", "annotator", "password1")
    with pytest.raises(AccountError, match="too short"):
        update_account(store, "ann", password="short")
    update_account(store, "ann", password="password2")
    assert verify_password(store, "ann", "password1") is None
    assert verify_password(store, "ann", "password2") == "annotator"
    with pytest.raises(AccountError, match="no user 'bob'"):
        update_account(store, "bob", password="password3")


def test_a_disabled_account_cannot_log_in_and_keeps_its_place(store):
    add_user(store, "root", "admin", "password0")
    add_user(store, "ann", "annotator", "password1")
    update_account(store, "ann", disabled=True)
    assert verify_password(store, "ann", "password1") is None
    assert user_role(store, "ann") is None  # open sessions lose their rights at once
    assert [(a.name, a.disabled) for a in list_users(store)] == [("ann", True), ("root", False)]
    with pytest.raises(AccountError, match="already exists"):  # the name stays taken
        add_user(store, "ann", "annotator", "password2")
    update_account(store, "ann", disabled=False)
    assert verify_password(store, "ann", "password1") == "annotator"


def test_the_last_admin_who_can_log_in_stays_one(store):
    add_user(store, "root", "admin", "password0")
    add_user(store, "ann", "annotator", "password1")
    with pytest.raises(AccountError, match="cannot make root an annotator: it is the last admin"):
        update_account(store, "root", role="annotator")
    with pytest.raises(AccountError, match="cannot disable root"):
        update_account(store, "root", disabled=True)
    update_account(store, "ann", role="admin")
    update_account(store, "ann", disabled=True)  # a disabled admin does not count
    with pytest.raises(AccountError, match="last admin"):
        update_account(store, "root", role="annotator")
    update_account(store, "ann", disabled=False)
    update_account(store, "root", role="annotator")
    assert (user_role(store, "root"), user_role(store, "ann")) == ("annotator", "admin")
