"""The file a running server writes beside its store, so the CLI can find it and use its API."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from curation.errors import PrefstudioError


@dataclass(frozen=True)
class ServerInfo:
    """Where a running server listens, its process, and the token the local CLI may use."""

    url: str
    pid: int
    token: str


def server_file(db_path: Path) -> Path:
    """`<store>.server.json`, beside the store file."""
    return db_path.with_name(db_path.name + ".server.json")


class ServerFileRefused(PrefstudioError):
    """The server file cannot be written safely (another user's file is in its place)."""


def write_server_file(db_path: Path, url: str) -> ServerInfo:
    """Record this process as the server of `db_path`, with a fresh token, in a new file
    readable by its owner only.

    An earlier file of ours is replaced (never written into, so its mode and any other link
    to it are left behind); one owned by another user is refused.
    """
    info = ServerInfo(url=url, pid=os.getpid(), token=secrets.token_urlsafe(32))
    path = server_file(db_path)
    with contextlib.suppress(FileNotFoundError):
        owner = path.lstat().st_uid
        if owner != os.getuid():
            raise ServerFileRefused(
                f"{path} belongs to another user (uid {owner}); remove it, or serve the store "
                "as its owner"
            )
        path.unlink()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise ServerFileRefused(f"{path} was created by someone else meanwhile") from None
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(info), out)
    return info


def remove_server_file(db_path: Path, info: ServerInfo) -> None:
    """Remove the server file if it is still this server's."""
    if read_server_file(db_path) == info:
        server_file(db_path).unlink(missing_ok=True)


def read_server_file(db_path: Path) -> ServerInfo | None:
    """The server recorded for `db_path`, if its process is still alive and the file is this
    user's own (another user's file could send the CLI's data elsewhere)."""
    path = server_file(db_path)
    try:
        if path.lstat().st_uid != os.getuid():
            return None
        info = ServerInfo(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if psutil.pid_exists(info.pid) else None
