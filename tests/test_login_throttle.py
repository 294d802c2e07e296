"""Failed logins: an account that fails too often in a short time is locked for a while."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation.accounts import CredentialCache, add_user
from curation.login_throttle import LoginLocked, LoginThrottle


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_failures_locks_the_name_until_the_lock_runs_out():
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window=10, lock=30, clock=clock)
    for _ in range(3):
        throttle.check("ann")
        throttle.failed("ann")
        clock.now += 1
    with pytest.raises(LoginLocked, match="too many failed logins for ann; try again in 29 s"):
        throttle.check("ann")
    throttle.check("bob")  # other names are not affected
    clock.now += 29
    throttle.check("ann")  # the lock ran out; counting starts afresh
    throttle.failed("ann")
    throttle.check("ann")


def test_failures_spread_out_or_followed_by_a_success_do_not_lock():
    clock = Clock()
    throttle = LoginThrottle(max_failures=3, window=10, lock=30, clock=clock)
    for _ in range(5):
        throttle.failed("ann")
        clock.now += 6  # three failures span 12 s, more than the window
    throttle.check("ann")
    throttle.failed("bob")
    throttle.failed("bob")
    throttle.succeeded("bob")
    throttle.failed("bob")
    throttle.check("bob")


def test_a_locked_account_is_refused_even_the_right_password_unless_remembered(store):
    add_user(store, "ann", "annotator", "ann-password")
    credentials = CredentialCache(store)
    assert credentials.role_for("ann", "ann-password") == "annotator"  # remembered from now on
    credentials.throttle = LoginThrottle(max_failures=2, window=60, lock=60)
    for _ in range(2):
        assert credentials.role_for("ann", "wrong-password") is None
    with pytest.raises(LoginLocked):
        credentials.role_for("ann", "wrong-password")
    assert credentials.role_for("ann", "ann-password") == "annotator"  # the cached login
    credentials.forget()
    with pytest.raises(LoginLocked):
        credentials.role_for("ann", "ann-password")


def test_api_answers_429_with_retry_after_while_an_account_is_locked(store):
    add_user(store, "ann", "annotator", "ann-password")
    ctx = AppContext(store)
    ctx.credentials.throttle = LoginThrottle(max_failures=2, window=60, lock=60)
    with TestClient(create_app(ctx)) as client:
        for _ in range(2):
            assert client.get("/api/v1/me", auth=("ann", "guess")).status_code == 401
        locked = client.get("/api/v1/me", auth=("ann", "ann-password"))
        assert locked.status_code == 429
        assert 1 <= int(locked.headers["retry-after"]) <= 60
        assert "too many failed logins for ann" in locked.json()["detail"]
        assert not ctx.check_login("ann", "ann-password")  # the browser login too
