"""Labelling guidelines: stored as a setting, set by admins (CLI, API, UI), read by annotators."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from app.cli import main
from app.context import AppContext
from app.server import create_app
from curation.labelling.accounts import add_user
from curation.labelling.annotation_errors import LabelError
from curation.labelling.guidelines import MAX_GUIDELINES, get_guidelines, set_guidelines
from tests.conftest import assert_one_error_line

ANN = ("ann", "ann-password")
ADMIN = ("root", "root-password")


def test_guidelines_are_empty_until_set_and_an_empty_text_removes_them(store):
    assert get_guidelines(store) == ""
    assert set_guidelines(store, "  Prefer **honest** answers.\n") == "Prefer **honest** answers."
    assert get_guidelines(store) == "Prefer **honest** answers."
    set_guidelines(store, "")
    assert get_guidelines(store) == ""


def test_too_long_guidelines_are_refused_and_the_old_ones_kept(store):
    set_guidelines(store, "Be kind.")
    with pytest.raises(LabelError, match=f"at most {MAX_GUIDELINES:,}"):
        set_guidelines(store, "x" * (MAX_GUIDELINES + 1))
    assert get_guidelines(store) == "Be kind."


def test_cli_sets_shows_and_refuses_a_file_that_is_not_utf8(db_path, tmp_path):
    good, bad = tmp_path / "g.md", tmp_path / "bad.md"
    good.write_text("# Rules\nPrefer correct answers.\n", encoding="utf-8")
    bad.write_bytes(b"Prefer \xff answers")
    runner = CliRunner()
    result = runner.invoke(main, ["guidelines", "set", str(good), "--db", str(db_path)])
    assert result.exit_code == 0 and "31 characters" in result.stdout
    shown = runner.invoke(main, ["guidelines", "show", "--db", str(db_path), "--json"])
    assert json.loads(shown.stdout) == {"guidelines": "# Rules\nPrefer correct answers."}
    refused = runner.invoke(main, ["guidelines", "set", str(bad), "--db", str(db_path)])
    assert refused.exit_code == 1
    assert "bad.md: not UTF-8 text (byte 8)" in assert_one_error_line(refused.stderr)
    missing = runner.invoke(
        main, ["guidelines", "set", str(tmp_path / "nope.md"), "--db", str(db_path)]
    )
    assert missing.exit_code == 1
    assert "nope.md: cannot read it: No such file" in assert_one_error_line(missing.stderr)
    piped = runner.invoke(main, ["guidelines", "set", "-", "--db", str(db_path)], input="")
    assert "removed the guidelines" in piped.stdout


def test_api_annotators_read_and_only_admins_write(store):
    add_user(store, ANN[0], "annotator", ANN[1])
    add_user(store, ADMIN[0], "admin", ADMIN[1])
    with TestClient(create_app(AppContext(store))) as client:
        assert client.get("/api/v1/guidelines").status_code == 401
        body = {"guidelines": "Prefer short answers."}
        assert client.put("/api/v1/guidelines", json=body, auth=ANN).status_code == 403
        too_long = {"guidelines": "x" * (MAX_GUIDELINES + 1)}
        assert client.put("/api/v1/guidelines", json=too_long, auth=ADMIN).status_code == 422
        assert client.put("/api/v1/guidelines", json={"text": "x"}, auth=ADMIN).status_code == 422
        assert client.put("/api/v1/guidelines", json=body, auth=ADMIN).json() == body
        assert client.get("/api/v1/guidelines", auth=ANN).json() == body
