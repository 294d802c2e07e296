"""Accounts: salted slow hashes, roles, and the checks on names and passwords."""

from __future__ import annotations

import pytest

from curation.accounts import (
    CredentialCache,
    add_user,
    hash_password,
    list_users,
    password_matches,
    user_role,
    verify_password,
)
from curation.annotation_errors import AccountError


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
    assert cache.role_for("ann", "password1") == "annotator"
    assert cache.role_for("ann", "password1") == "annotator"
    assert cache.role_for("ann", "wrong-password") is None
    assert len(cache._entries) == 1
