"""The manifest: one JSON line per archive, appended as archives are made, moved or purged.

``manifest.jsonl`` sits in the directory of the archives it describes. Each archive gets
a record with its time range, entry count, sizes and two SHA-256 digests (of the archive
and of the content it decompresses to), so that ``tapelog archive list`` can prove an
archive intact and ``tapelog archive restore`` can prove a restore exact. Moving an
archive to another directory appends its record there and a ``removed`` line here;
purging appends a ``removed`` line. The file is only ever appended to, one whole line
per ``write`` under an exclusive ``flock``, so several processes can share it.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, final

import orjson


if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


__all__ = [
    "MANIFEST_NAME",
    "ArchiveRecord",
    "Manifest",
    "append_lines",
    "read_manifest",
    "removed_line",
]

MANIFEST_NAME: Final = "manifest.jsonl"


@final
@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """What the manifest knows about one finished file."""

    file: str
    """The archive's name in its directory."""
    source: str
    """The name of the plain file it holds: what ``restore`` writes."""
    first: str | None
    """Timestamp of the earliest entry (RFC 3339), if any entry had one."""
    last: str | None
    """Timestamp of the latest entry."""
    entries: int
    """Number of entries (lines, not counting a console traceback's continuation lines)."""
    size: int
    """Bytes of the archive."""
    sha256: str
    """SHA-256 of the archive, hex."""
    content_size: int
    """Bytes of the content once decompressed."""
    content_sha256: str
    """SHA-256 of the content once decompressed, hex."""
    compression: str
    """``gzip``, ``zstd`` or ``none``."""
    created: str
    """When the record was written (RFC 3339)."""
    extra: dict[str, Any] = field(default_factory=dict[str, Any])
    """Keys a newer tapelog wrote that this one does not know; kept as they are."""

    def to_line(self) -> bytes:
        """The record as one JSON line."""
        data = asdict(self)
        extra = data.pop("extra")
        return orjson.dumps({**extra, **data}) + b"\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchiveRecord:
        """Read a record back; unknown keys go to ``extra``.

        Raises:
            KeyError: a required key is missing.
        """
        known = {name for name in cls.__dataclass_fields__ if name != "extra"}
        return cls(
            **{key: data[key] for key in known},
            extra={key: value for key, value in data.items() if key not in known},
        )

    def moved(self, created: str) -> ArchiveRecord:
        """The same record, written again when the archive moves directory."""
        return replace(self, created=created)


@final
@dataclass(frozen=True, slots=True)
class Manifest:
    """A manifest read back: the current record of each archive, and what was removed."""

    records: dict[str, ArchiveRecord]
    """The latest record per file name, for files not removed since."""
    removed: dict[str, dict[str, Any]]
    """The latest ``removed`` line per file name (purged or moved away)."""
    unreadable: int
    """Lines that are not valid records (a torn line after a crash, say)."""


def read_manifest(directory: Path) -> Manifest:
    """Read ``directory/manifest.jsonl``; a missing manifest reads as empty."""
    records: dict[str, ArchiveRecord] = {}
    removed: dict[str, dict[str, Any]] = {}
    unreadable = 0
    try:
        file = (directory / MANIFEST_NAME).open("rb")
    except FileNotFoundError:
        return Manifest(records, removed, 0)
    with file:
        for line in file:
            try:
                data = orjson.loads(line)
                name = data["file"]
                if "removed" in data:
                    removed[name] = data
                    records.pop(name, None)
                else:
                    records[name] = ArchiveRecord.from_dict(data)
                    removed.pop(name, None)
            except (orjson.JSONDecodeError, KeyError, TypeError):
                unreadable += 1
    return Manifest(records, removed, unreadable)


def append_lines(directory: Path, lines: Iterable[bytes], mode: int = 0o640) -> None:
    """Append whole lines to ``directory/manifest.jsonl`` in one write, under ``flock``.

    Raises:
        OSError: the manifest cannot be opened or written.
    """
    data = b"".join(lines)
    if not data:
        return
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(
        directory / MANIFEST_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, mode
    )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the flock


def removed_line(name: str, when: str, reason: str, **more: object) -> bytes:
    """A ``removed`` line: the archive left this directory (purged, or moved elsewhere)."""
    return orjson.dumps({"file": name, "removed": when, "reason": reason, **more}) + b"\n"
