"""Import of uploaded files and export to downloadable files, shared by the API and the Admin tab."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from curation import Store, export_dataset, import_paths
from curation.errors import BadInput
from curation.exporter import ExportReport
from curation.importer import ImportProgress, ImportReport

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def safe_upload_name(filename: str | None) -> str:
    """The last part of an uploaded file's name, refused when it could leave its folder.

    >>> safe_upload_name("prefs.jsonl")
    'prefs.jsonl'
    >>> safe_upload_name("../../etc/passwd.jsonl")
    'passwd.jsonl'
    """
    name = Path((filename or "").replace("\\", "/")).name
    if not _SAFE_NAME.fullmatch(name) or name.startswith("."):
        raise BadInput(
            filename or "(no name)",
            "an uploaded file needs a plain name (letters, digits, '_', '.', '-')",
        )
    return name


def import_uploads(
    store: Store,
    uploads: list[tuple[str | None, BinaryIO]],
    *,
    format: str = "auto",
    source: str | None = None,
    progress: ImportProgress | None = None,
    list_prompts: bool = False,
) -> ImportReport:
    """Import uploaded files (client's file name, readable content) in one transaction.

    Each file is copied under its own safe name into a fresh folder in the store's files
    folder, so the format is detected from its real extension; the copies are removed after.
    """
    folder = store.files_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=folder))
    try:
        paths = []
        for client_name, received in uploads:
            target = (workdir / safe_upload_name(client_name)).resolve()
            if target.parent != workdir.resolve() or target.exists():
                raise BadInput(client_name, "uploaded twice, or names a file outside its folder")
            with target.open("wb") as out:
                shutil.copyfileobj(received, out)
            paths.append(target)
        return import_paths(
            store, paths, format=format, source=source, progress=progress, list_prompts=list_prompts
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def export_to_file(store: Store, fmt: str, file_type: str = "jsonl") -> tuple[Path, ExportReport]:
    """Export `fmt` into a new file under the store's files folder for download."""
    if file_type not in ("jsonl", "parquet"):
        raise BadInput("--as", f"downloads are jsonl or parquet, not {file_type!r}")
    folder = Path(tempfile.mkdtemp(dir=_exports_dir(store)))
    report = export_dataset(store, fmt, folder / f"{fmt}.{file_type}", file_type)
    return Path(report.path), report


def _exports_dir(store: Store) -> Path:
    folder = store.files_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder
