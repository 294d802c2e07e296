"""Failed logins: growing waits per (name, address) and per address, never a lock that keeps
the real user out; checked with a clock the tests move by hand."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from app.context import AppContext
from app.server import create_app
from curation.labelling.accounts import CredentialCache, add_user
from curation.labelling.login_throttle import LoginLocked, LoginThrottle

ATTACKER, USER = "198.51.100.7", "203.0.113.9"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_of(throttle: LoginThrottle, name: str, address: str) -> float:
    """Seconds `name` from `address` must wait now (0 when it may try)."""
    try:
        throttle.check(name, address)
    except LoginLocked as locked:
        return locked.retry_after
    return 0.0


def test_waits_double_after_the_free_failures_and_run_out():
    clock = Clock()
    throttle = LoginThrottle(free=3, first_delay=1, max_delay=8, clock=clock)
    waits = []
    for _ in range(8):
        throttle.failed("ann", ATTACKER)
        waits.append(wait_of(throttle, "ann", ATTACKER))
    assert waits == [0, 0, 0, 1, 2, 4, 8, 8]
    with pytest.raises(LoginLocked, match=r"from this address; try again in 8 s"):
        throttle.check("ann", ATTACKER)
    clock.now += 8
    throttle.check("ann", ATTACKER)  # the wait ran out: one more try
    throttle.succeeded("ann", ATTACKER)
    assert [wait_of(throttle, "ann", ATTACKER) for _ in range(2)] == [0, 0]


def test_another_address_is_never_slowed_by_a_guessers_failures():
    clock = Clock()
    throttle = LoginThrottle(free=3, clock=clock)
    for _ in range(40):
        throttle.failed("ann", ATTACKER)
    assert wait_of(throttle, "ann", ATTACKER) > 0
    assert wait_of(throttle, "ann", USER) == 0
    assert wait_of(throttle, "bob", ATTACKER) == 0  # below the address's own allowance


def test_an_address_spraying_names_waits_and_a_success_does_not_reset_it():
    clock = Clock()
    throttle = LoginThrottle(free=3, address_free=10, clock=clock)
    for number in range(11):
        throttle.failed(f"name{number}", ATTACKER)
    assert wait_of(throttle, "fresh-name", ATTACKER) == 1
    throttle.succeeded("own-account", ATTACKER)
    assert wait_of(throttle, "fresh-name", ATTACKER) == 1
    assert wait_of(throttle, "fresh-name", USER) == 0


def test_addresses_of_one_ipv6_block_count_together():
    throttle = LoginThrottle(free=2, clock=Clock())
    for host in range(3):
        throttle.failed("ann", f"2001:db8:7:1::{host + 1}")
    assert wait_of(throttle, "ann", "2001:db8:7:1::99") == 1
    assert wait_of(throttle, "ann", "2001:db8:7:2::1") == 0


def test_memory_stays_bounded_under_a_flood_of_names_and_addresses():
    clock = Clock()
    throttle = LoginThrottle(free=3, address_free=10, max_counters=500, clock=clock)
    for number in range(20_000):
        throttle.failed(
            f"user-{number}-" + "x" * 1000, f"10.{number // 256 % 256}.{number % 256}.1"
        )
        clock.now += 0.001
    assert len(throttle.by_login) <= 500 and len(throttle.by_address) <= 500
    # the flood pushed no one's latest counter out: its last address still waits
    for _ in range(11):
        throttle.failed("ann", ATTACKER)
    throttle.failed("other", "10.99.99.99")
    assert wait_of(throttle, "anyone", ATTACKER) > 0


def test_unknown_and_real_names_are_answered_alike(store):
    add_user(store, "ann", "annotator", "ann-password")
    credentials = CredentialCache(store)
    credentials.throttle = LoginThrottle(free=2, clock=Clock())

    def outcomes(name: str) -> list[str]:
        seen = []
        for _ in range(5):
            try:
                seen.append(str(credentials.role_for(name, "a-wrong-guess", ATTACKER)))
            except LoginLocked as locked:
                seen.append(str(locked))
        return seen

    waited = "too many failed logins from this address; try again in 1 s"
    expected = ["None", "None", "None", waited, waited]
    assert outcomes("ann") == outcomes("nobody-by-this-name") == expected


def test_a_remembered_login_is_never_slowed(store):
    add_user(store, "ann", "annotator", "ann-password")
    credentials = CredentialCache(store)
    assert credentials.role_for("ann", "ann-password", USER) == "annotator"
    credentials.throttle = LoginThrottle(free=1, clock=Clock())
    for _ in range(2):
        assert credentials.role_for("ann", "wrong-password", USER) is None
    assert credentials.role_for("ann", "ann-password", USER) == "annotator"  # remembered
    credentials.forget()
    with pytest.raises(LoginLocked):
        credentials.role_for("ann", "ann-password", USER)  # same address: it waits too


def test_an_attacker_keeps_the_real_user_out_for_zero_seconds(store):
    """Twelve hours of guessing as fast as the throttle lets through, from one address; the
    real user logs in every half hour from theirs, the login never remembered."""
    add_user(store, "ann", "annotator", "ann-password")
    clock = Clock()
    credentials = CredentialCache(store)
    credentials.throttle = LoginThrottle(clock=clock)
    start, next_visit, kept_out, guesses = clock.now, clock.now, 0.0, 0
    while clock.now - start < 12 * 3600:
        try:
            credentials.role_for("ann", f"guess-{guesses}", ATTACKER)
            guesses += 1
            pause = 0.0
        except LoginLocked as locked:
            pause = locked.retry_after
        if clock.now >= next_visit:
            credentials.forget()
            try:
                assert credentials.role_for("ann", "ann-password", USER) == "annotator"
            except LoginLocked as locked:
                kept_out += locked.retry_after
            next_visit += 1800
        clock.now += min(pause, max(0.0, next_visit - clock.now)) or 0.001
    assert kept_out == 0.0
    assert 5 < guesses < 100  # the guesser got the free tries, then ever longer waits


def test_api_answers_429_to_the_guesser_while_the_user_logs_in_elsewhere(store):
    add_user(store, "ann", "annotator", "ann-password")
    ctx = AppContext(store)
    ctx.credentials.throttle = LoginThrottle(free=2, clock=Clock())
    app = create_app(ctx)
    user = TestClient(app, client=(USER, 5000))
    with TestClient(app, client=(ATTACKER, 4000)) as attacker:
        for _ in range(3):
            assert attacker.get("/api/v1/me", auth=("ann", "guess")).status_code == 401
        refused = attacker.get("/api/v1/me", auth=("ann", "ann-password"))
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json() == {
            "detail": "too many failed logins from this address; try again in 1 s"
        }
        form = {"username": "ann", "password": "ann-password"}
        assert attacker.post("/login", data=form).status_code == 400  # the browser's login
        assert user.post("/login", data=form).json() == {"success": True}
        assert user.get("/api/v1/me", auth=("ann", "ann-password")).json()["name"] == "ann"
