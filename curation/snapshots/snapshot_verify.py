"""Checking a snapshot's folder against what was recorded when it was taken.

A snapshot's `manifest.json` lists every file (data files and the dataset card) with its
sha256; the snapshot's sha256 hashes that list. The store's row keeps the sha256, the policy
and the counts. A snapshot verifies when every listed file is there with its sha256, no other
file is, the sha256 recomputed from the files equals the row's, and the manifest agrees with
the row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from curation.errors import PrefstudioError

MANIFEST_FILE = "manifest.json"


class SnapshotUnverified(PrefstudioError):
    """A snapshot's files no longer match what was recorded when it was taken; `data` holds
    the whole check."""

    def __init__(self, message: str, check: dict) -> None:
        super().__init__(message)
        self.data = check


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(files: dict[str, str]) -> str:
    """A snapshot's sha256: of one `path digest` line per file, in path order.

    >>> files_sha256({"b": "2", "a": "1"}) == files_sha256({"a": "1", "b": "2"})
    True
    """
    lines = "".join(f"{path} {files[path]}\n" for path in sorted(files))
    return hashlib.sha256(lines.encode()).hexdigest()


def hash_folder_files(folder: Path, paths: list[str]) -> dict[str, str]:
    """The sha256 of each of `paths` (relative to `folder`), keyed by path."""
    return {path: file_sha256(folder / path) for path in sorted(paths)}


@dataclass
class SnapshotCheck:
    """What verifying a snapshot found: files changed, missing or not in the manifest, and the
    sha256 recorded in the store beside the one recomputed from the files as they are."""

    name: str
    folder: str
    sha256: str
    recomputed_sha256: str
    changed: list[str]
    missing: list[str]
    extra: list[str]

    @property
    def verified(self) -> bool:
        return (
            not (self.changed or self.missing or self.extra)
            and self.recomputed_sha256 == self.sha256
        )

    def problems(self) -> list[str]:
        """One phrase per problem, changed files first: `dpo/train.parquet changed`."""
        found = [
            *(f"{path} changed" for path in self.changed),
            *(f"{path} missing" for path in self.missing),
            *(f"{path} is not part of the snapshot" for path in self.extra),
        ]
        if not found and not self.verified:
            found.append(f"its files hash to {self.recomputed_sha256}, not {self.sha256}")
        return found

    def to_dict(self) -> dict:
        return {**vars(self), "verified": self.verified, "problems": self.problems()}

    def text(self) -> str:
        """What `snapshot verify` prints: that it verifies, or its first problem."""
        if self.verified:
            return f"snapshot {self.name} verifies: sha256 {self.sha256}"
        problems = self.problems()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        return f"snapshot {self.name} does not verify: {problems[0]}{more}"

    def raise_unless_verified(self) -> None:
        """SnapshotUnverified naming the first problem, with the whole check as its data."""
        if not self.verified:
            raise SnapshotUnverified(self.text(), self.to_dict())


def check_folder(name: str, folder: Path, row: dict, manifest: dict | None) -> SnapshotCheck:
    """Compare `folder` with its `manifest` (None when missing or unreadable) and the store's
    `row` (sha256, policy, counts)."""
    listed: dict[str, str] = (manifest or {}).get("files", {})
    present = sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())
    found = hash_folder_files(folder, [p for p in present if p != MANIFEST_FILE])
    has_manifest = MANIFEST_FILE in present
    manifest_agrees = (
        manifest is not None
        and all(manifest.get(key) == row[key] for key in ("sha256", "policy", "counts"))
        and files_sha256(listed) == row["sha256"]
    )
    return SnapshotCheck(
        name=name,
        folder=str(folder),
        sha256=row["sha256"],
        recomputed_sha256=files_sha256(found),
        changed=([MANIFEST_FILE] if has_manifest and not manifest_agrees else [])
        + [path for path in sorted(listed) if path in found and found[path] != listed[path]],
        missing=([] if has_manifest else [MANIFEST_FILE])
        + [path for path in sorted(listed) if path not in found],
        extra=[path for path in found if path not in listed] if manifest is not None else [],
    )
