"""Import of uploaded files and export to downloadable files, shared by the API and the Admin tab."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from curation import Store, export_dataset, import_paths
from curation.errors import BadInput, PrefstudioError
from curation.io.exporter import ExportReport
from curation.io.importer import ImportProgress, ImportReport

MAX_NAME_BYTES = 255  # the longest file name most file systems take
MAX_SHOWN_NAME = 1000


def shown_upload_name(filename: str | None) -> str:
    """How an uploaded file is named to its sender: the name it was sent under, on one line.

    >>> shown_upload_name("data/my prefs.jsonl")
    'data/my prefs.jsonl'
    >>> shown_upload_name("two\\nlines.jsonl")
    'two?lines.jsonl'
    """
    shown = "".join(c if c.isprintable() else "?" for c in filename or "(no name)")
    return shown[:MAX_SHOWN_NAME]


def safe_upload_name(filename: str | None) -> str:
    """The last part of an uploaded file's name, to store it under inside a folder of its
    own: never a path, never `.` or `..`, printable characters only.

    >>> safe_upload_name("data/my prefs.jsonl")
    'my prefs.jsonl'
    >>> safe_upload_name("..\\..\\etc/passwd.jsonl")
    'passwd.jsonl'
    """
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    if name in ("", ".", "..") or not name.isprintable():
        raise BadInput(
            shown_upload_name(filename), "an uploaded file needs a name of printable characters"
        )
    if len(name.encode()) > MAX_NAME_BYTES:
        raise BadInput(shown_upload_name(filename), f"file name longer than {MAX_NAME_BYTES} bytes")
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
    """Import uploaded files (the sender's file name, readable content) in one transaction.

    Each file is copied under its own safe name into a folder of its own in the store's files
    folder, so the format is detected from its real extension and two files may share a
    name; the copies are removed after. The report and any error name each file as its
    sender named it, never by the copy's path.
    """
    folder = store.files_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(dir=folder)).resolve()
    shown: dict[str, str] = {}
    try:
        for index, (client_name, received) in enumerate(uploads):
            target = _upload_target(workdir / str(index), client_name)
            with target.open("xb") as out:
                shutil.copyfileobj(received, out)
            shown[str(target)] = shown_upload_name(client_name)
        try:
            report = import_paths(
                store,
                [Path(p) for p in shown],
                format=format,
                source=source,
                progress=progress,
                list_prompts=list_prompts,
            )
        except PrefstudioError as error:
            raise _renamed(error, shown) from None
        for file in report.files:
            file.path = _rename(file.path, shown)
        return report
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _upload_target(folder: Path, client_name: str | None) -> Path:
    """Where an upload goes: its safe name inside `folder` (made here, so nothing else is in it)."""
    folder.mkdir()
    target = (folder / safe_upload_name(client_name)).resolve()
    if target.parent != folder:
        raise BadInput(shown_upload_name(client_name), "names a file outside its folder")
    return target


def _rename(text: str, shown: dict[str, str]) -> str:
    """`text` with every stored copy's path replaced by the name its sender gave."""
    for stored, name in shown.items():
        text = text.replace(stored, name)
    return text


def _renamed(error: PrefstudioError, shown: dict[str, str]) -> PrefstudioError:
    """`error`, naming the sender's files instead of their stored copies."""
    error.args = tuple(_rename(str(arg), shown) for arg in error.args)
    if isinstance(error, BadInput):
        error.path = _rename(error.path, shown)
    return error


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
