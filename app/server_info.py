"""The file a running server writes beside its store, so the CLI can find it and use its API."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


@dataclass(frozen=True)
class ServerInfo:
    """Where a running server listens, its process, and the token the local CLI may use."""

    url: str
    pid: int
    token: str


def server_file(db_path: Path) -> Path:
    """`<store>.server.json`, beside the store file."""
    return db_path.with_name(db_path.name + ".server.json")


def write_server_file(db_path: Path, url: str) -> ServerInfo:
    """Record this process as the server of `db_path`, with a fresh token; readable by its owner only."""
    info = ServerInfo(url=url, pid=os.getpid(), token=secrets.token_urlsafe(32))
    path = server_file(db_path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(info), out)
    return info


def remove_server_file(db_path: Path, info: ServerInfo) -> None:
    """Remove the server file if it is still this server's."""
    if read_server_file(db_path) == info:
        server_file(db_path).unlink(missing_ok=True)


def read_server_file(db_path: Path) -> ServerInfo | None:
    """The server recorded for `db_path`, if its process is still alive."""
    try:
        info = ServerInfo(**json.loads(server_file(db_path).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return info if psutil.pid_exists(info.pid) else None
