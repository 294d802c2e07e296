"""Annotator accounts: names, roles, passwords stored as salted scrypt hashes, and disabling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

import duckdb

from curation.labelling.annotation_errors import AccountError, AccountNotFound
from curation.labelling.login_throttle import LoginThrottle
from curation.results import Fields, Listing
from curation.store.store import Store, fetch_one

ROLES = ("annotator", "admin")
MIN_PASSWORD_LENGTH = 8
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
# scrypt cost: about 50 ms and 16 MiB per check, so guessing passwords offline is slow.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# An Account's fields, in order, from the annotators table.
_ACCOUNT_COLUMNS = "name, role, strftime(created, '%Y-%m-%d %H:%M'), disabled_at IS NOT NULL"


@dataclass(frozen=True)
class Account(Fields):
    """One annotator account as listed for admins (never with its hash)."""

    name: str
    role: str
    created: str
    disabled: bool

    def line(self) -> str:
        """Its line in the list of accounts."""
        line = f"{self.name:<20} {self.role:<10} {self.created}"
        return line + ("  (disabled)" if self.disabled else "")


@dataclass(frozen=True)
class AccountChange:
    """An account as it is after being added or changed, and what changed, in words."""

    account: Account
    what: str

    def to_dict(self) -> dict:
        return self.account.to_dict()

    def text(self) -> str:
        return f"{self.account.name}: {self.what}"


def hash_password(password: str) -> str:
    """A salted scrypt hash of `password`, as `scrypt$n$r$p$salt$hash` (base64 parts)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return "scrypt${n}${r}${p}$".format(**_SCRYPT) + f"{b64(salt).decode()}${b64(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    """Whether `password` hashes to `stored`, compared in constant time."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


_DUMMY_HASH = hash_password(secrets.token_hex(8))


def add_user(store: Store, name: str, role: str, password: str) -> Account:
    """Create an account; raise AccountError for a bad or taken name, a bad role or short password."""
    if not _NAME.fullmatch(name or ""):
        raise AccountError(
            f"user name {name!r} is not valid: use 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    _check_role(role)
    password_hash = _new_password_hash(name, password)
    with store.transaction() as con:
        if fetch_one(con, "SELECT 1 FROM annotators WHERE name = ?", [name]):
            raise AccountError(f"user {name} already exists")
        con.execute(
            "INSERT INTO annotators (name, role, password_hash) VALUES (?, ?, ?)",
            [name, role, password_hash],
        )
        return _account(con, name)


def update_account(
    store: Store,
    name: str,
    *,
    role: str | None = None,
    password: str | None = None,
    disabled: bool | None = None,
) -> Account:
    """Change an account's role, password or disabled state (those given), all or nothing.

    A disabled account keeps its name and labels but cannot log in. The last admin who can
    log in can be neither demoted nor disabled. Raises AccountError naming what is wrong.
    """
    if role is not None:
        _check_role(role)
    password_hash = _new_password_hash(name, password) if password is not None else None
    with store.transaction() as con:
        _require_account(con, name)
        if password_hash is not None:
            con.execute(
                "UPDATE annotators SET password_hash = ? WHERE name = ?", [password_hash, name]
            )
        if role is not None:
            if role != "admin":
                _keep_an_admin(con, name, f"make {name} an {role}")
            con.execute("UPDATE annotators SET role = ? WHERE name = ?", [role, name])
        if disabled is not None:
            if disabled:
                _keep_an_admin(con, name, f"disable {name}")
            con.execute(
                "UPDATE annotators SET disabled_at = CASE WHEN ? THEN coalesce(disabled_at, now()) "
                "END WHERE name = ?",
                [disabled, name],
            )
        return _account(con, name)


def _account(con: duckdb.DuckDBPyConnection, name: str) -> Account:
    return Account(
        *fetch_one(con, f"SELECT {_ACCOUNT_COLUMNS} FROM annotators WHERE name = ?", [name])
    )


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"role {role!r} is not valid; choose from {', '.join(ROLES)}")


def _new_password_hash(name: str, password: str) -> str:
    """The hash of a new password for `name`; AccountError if it is too short."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            f"password for {name} is too short: at least {MIN_PASSWORD_LENGTH} characters"
        )
    return hash_password(password)


def _require_account(con: duckdb.DuckDBPyConnection, name: str) -> None:
    if fetch_one(con, "SELECT 1 FROM annotators WHERE name = ?", [name]) is None:
        raise AccountNotFound(f"no user {name!r}")


def _keep_an_admin(con: duckdb.DuckDBPyConnection, name: str, action: str) -> None:
    """Raise AccountError if `name` is the last admin who can log in."""
    is_admin, others = fetch_one(
        con,
        "SELECT coalesce(bool_or(name = $name), false), count(*) FILTER (WHERE name <> $name) "
        "FROM annotators WHERE role = 'admin' AND disabled_at IS NULL",
        {"name": name},
    )
    if is_admin and others == 0:
        raise AccountError(f"cannot {action}: it is the last admin who can log in")


def verify_password(store: Store, name: str, password: str) -> str | None:
    """The role of `name` if `password` is right and the account is enabled, else None
    (equally slow for unknown and disabled names)."""
    row = fetch_one(
        store.con,
        "SELECT role, password_hash FROM annotators WHERE name = ? AND disabled_at IS NULL",
        [name],
    )
    if row is None:
        password_matches(password, _DUMMY_HASH)  # same cost, so names cannot be probed by timing
        return None
    role, stored = row
    return role if password_matches(password, stored) else None


def user_role(store: Store, name: str) -> str | None:
    """The role of an existing, enabled account, or None."""
    row = fetch_one(
        store.con, "SELECT role FROM annotators WHERE name = ? AND disabled_at IS NULL", [name]
    )
    return row[0] if row else None


def list_users(store: Store) -> list[Account]:
    """Every account, by name."""
    rows = store.con.execute(f"SELECT {_ACCOUNT_COLUMNS} FROM annotators ORDER BY name").fetchall()
    return [Account(*row) for row in rows]


def account_listing(store: Store) -> Listing[Account]:
    """Every account, as `user list` and GET /api/v1/users give them."""
    return Listing("users", list_users(store), "no accounts yet")


class CredentialCache:
    """Remembers recent successful logins so each HTTP request need not pay for scrypt again.

    Keys are keyed BLAKE2b hashes of name and password under a per-process random key; entries expire after
    `ttl` seconds, and a changed role or password (a new hash) misses the cache.
    """

    def __init__(self, store: Store, ttl: float = 300.0) -> None:
        self.store = store
        self.ttl = ttl
        self._key = secrets.token_bytes(32)
        self._entries: dict[bytes, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self.throttle = LoginThrottle()

    def _key_of(self, name: str, password: str) -> bytes:
        return hashlib.blake2b(f"{name}\0{password}".encode(), key=self._key).digest()

    def cached_role(self, name: str, password: str) -> str | None:
        """The role of a login remembered as right, else None (memory only: never slow)."""
        with self._lock:
            hit = self._entries.get(self._key_of(name, password))
        return hit[1] if hit and hit[0] > time.monotonic() else None

    def role_for(self, name: str, password: str, address: str) -> str | None:
        """The role of `name` when `password` is right, else None; `address` is the client's.

        Raises LoginLocked while `name` from `address` (or `address` itself) has failed too
        often lately (see LoginThrottle), unless this very login is remembered as right.
        """
        role = self.cached_role(name, password)
        if role is not None:
            return role
        self.throttle.check(name, address)
        role = verify_password(self.store, name, password)
        if role is None:
            self.throttle.failed(name, address)
        else:
            self.throttle.succeeded(name, address)
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[self._key_of(name, password)] = (time.monotonic() + self.ttl, role)
        return role

    def forget(self) -> None:
        """Drop every remembered login (after a password or role change)."""
        with self._lock:
            self._entries.clear()
