"""Import jobs of uploaded files, and export to downloadable files: shared by the API and the
Admin tab."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from curation import Store, export_dataset
from curation.errors import BadInput
from curation.io.exporter import ExportReport
from curation.io.import_worker import UPLOADS_DIR
from curation.io.importer import check_format
from curation.jobs.records import JobRecord
from curation.jobs.runner import create_job, jobs_dir

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


def start_import(
    store: Store,
    uploads: list[tuple[str | None, BinaryIO]],
    *,
    format: str = "auto",
    source: str | None = None,
    gold: bool = False,
) -> JobRecord:
    """Start a job importing uploaded files (the sender's file name, readable content), all in
    one transaction, as `import_paths` does; return it. Nothing here reads the files' records.

    Each file is copied (streamed) under its own safe name into a folder of its own in the
    job's folder, so the format is detected from its real extension and two files may share a
    name. The job's report and any error name each file as its sender named it. With `gold`,
    the import's labelled pairs become gold pairs. Raises BadInput, starting nothing, for a
    bad format or file name.
    """
    check_format(format)
    names = [safe_upload_name(client_name) for client_name, _ in uploads]
    jobs_dir(store).mkdir(parents=True, exist_ok=True)
    inputs = Path(tempfile.mkdtemp(prefix=".import-", dir=jobs_dir(store)))
    try:
        listed = _save_uploads(inputs, uploads, names)
        params = {"format": format, "source": source, "gold": gold}
        report = {"files": [], "added": {}, **({"gold": 0} if gold else {})}
        return create_job(store, "import", params, {"files": listed}, report, inputs=inputs)
    finally:
        shutil.rmtree(inputs, ignore_errors=True)  # gone once it became the job's folder


def _save_uploads(
    folder: Path, uploads: list[tuple[str | None, BinaryIO]], names: list[str]
) -> list[dict[str, str]]:
    """Copy each upload to `uploads/<n>/<its safe name>` under `folder`; each copy's path
    there, with the name its sender gave."""
    listed = []
    for index, ((client_name, received), name) in enumerate(zip(uploads, names, strict=True)):
        stored = Path(UPLOADS_DIR, str(index), name)
        (folder / stored).parent.mkdir(parents=True)
        with (folder / stored).open("xb") as out:
            shutil.copyfileobj(received, out)
        listed.append({"path": str(stored), "name": shown_upload_name(client_name)})
    return listed


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
