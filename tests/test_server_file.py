"""The server file beside the store: always a fresh file readable by its owner only, never
another user's."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest

from app.server_info import ServerFileRefused, read_server_file, server_file, write_server_file
from curation import Store
from tests.conftest import assert_one_error_line

STALE = '{"url": "http://elsewhere:1", "pid": 1, "token": "old"}'
needs_root = pytest.mark.skipif(os.getuid() != 0, reason="giving a file away needs root")


def test_an_old_world_readable_file_is_replaced_not_written_into(tmp_path):
    db_path = tmp_path / "store.duckdb"
    old = server_file(db_path)
    old.write_text(STALE)
    old.chmod(0o644)
    other_name = tmp_path / "other-name.json"
    os.link(old, other_name)  # a second name for the old file sees whatever is written into it
    info = write_server_file(db_path, "http://127.0.0.1:7860")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    assert json.loads(old.read_text())["token"] == info.token
    assert other_name.read_text() == STALE
    assert read_server_file(db_path) == info


def test_a_link_in_its_place_is_replaced_and_its_target_left_alone(tmp_path):
    db_path = tmp_path / "store.duckdb"
    target = tmp_path / "target.json"
    target.write_text(STALE)
    server_file(db_path).symlink_to(target)
    write_server_file(db_path, "http://127.0.0.1:7860")
    assert not server_file(db_path).is_symlink()
    assert target.read_text() == STALE


@needs_root
def test_another_users_file_is_refused_and_ignored(tmp_path):
    db_path = tmp_path / "store.duckdb"
    foreign = server_file(db_path)
    advert = STALE.replace('"pid": 1', f'"pid": {os.getpid()}')  # a live process
    foreign.write_text(advert)
    os.chown(foreign, 65534, 65534)
    with pytest.raises(ServerFileRefused, match="belongs to another user"):
        write_server_file(db_path, "http://127.0.0.1:7860")
    assert foreign.read_text() == advert and foreign.stat().st_uid == 65534
    assert read_server_file(db_path) is None  # the CLI never follows another user's file


@needs_root
def test_serve_refuses_another_users_file_in_one_line(tmp_path):
    db_path = tmp_path / "store.duckdb"
    Store(db_path).close()
    foreign = server_file(db_path)
    foreign.write_text(STALE.replace('"pid": 1', f'"pid": {os.getpid()}'))
    os.chown(foreign, 65534, 65534)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--db", str(db_path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    line = assert_one_error_line(result.stderr)
    assert str(foreign) in line and "belongs to another user" in line
