"""Archives for people: list them with their integrity, and restore them byte for byte.

``list_archives`` checks every archive in a directory against the manifest there (its
SHA-256 and size); ``restore_archive`` decompresses one beside a given directory,
verifying both the archive and the restored content against the manifest, and never
overwrites a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Final, Literal, final

from tapelog.exceptions import TapelogError
from tapelog.retention._manifest import MANIFEST_NAME, read_manifest
from tapelog.retention._names import COMPRESSED_SUFFIXES, span_of
from tapelog.retention._reader import compression_of, open_decompressed


if TYPE_CHECKING:
    from pathlib import Path

    from tapelog.retention._manifest import ArchiveRecord


__all__ = ["ArchiveStatus", "RestoreError", "Restored", "list_archives", "restore_archive"]

_BLOCK: Final = 1 << 20

Integrity = Literal["ok", "mismatch", "missing", "unlisted"]


@final
class RestoreError(TapelogError):
    """An archive could not be restored: the target exists, or verification failed."""


@final
@dataclass(frozen=True, slots=True)
class ArchiveStatus:
    """One archive as ``tapelog archive list`` shows it."""

    name: str
    """The file name."""
    path: Path
    """Where it is (or should be, when missing)."""
    record: ArchiveRecord | None
    """Its manifest record, if the manifest has one."""
    size: int | None
    """Bytes on disk; ``None`` when missing."""
    integrity: Integrity
    """``ok`` (matches the manifest), ``mismatch``, ``missing`` (recorded, not on disk),
    or ``unlisted`` (on disk, not recorded: nothing to check against)."""
    detail: str = ""
    """Why, for anything but ``ok``."""

    @property
    def first(self) -> str | None:
        """The first entry's time: from the manifest, else from the name."""
        if self.record is not None:
            return self.record.first
        span = span_of(self.name)
        return _iso(span[0]) if span else None

    @property
    def last(self) -> str | None:
        """The last entry's time: from the manifest, else from the name."""
        if self.record is not None:
            return self.record.last
        span = span_of(self.name)
        return _iso(span[1]) if span else None


def _iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while block := file.read(_BLOCK):
            digest.update(block)
            size += len(block)
    return digest.hexdigest(), size


def list_archives(directory: Path, *, verify: bool = True) -> list[ArchiveStatus]:
    """Every archive in ``directory`` and every one its manifest records, oldest first.

    Args:
        directory: a directory of archives (an ``archive_dir``, or a log directory).
        verify: hash each archive and compare it with the manifest; ``False`` compares
            sizes only.
    """
    manifest = read_manifest(directory)
    statuses: list[ArchiveStatus] = []
    on_disk = {
        entry.name: entry
        for entry in directory.iterdir()
        if entry.is_file() and entry.name != MANIFEST_NAME and span_of(entry.name) is not None
    }
    for name, record in manifest.records.items():
        path = directory / name
        if name not in on_disk:
            statuses.append(ArchiveStatus(name, path, record, None, "missing", "not on disk"))
            continue
        del on_disk[name]
        size = path.stat().st_size
        if size != record.size:
            detail = f"size {size}, manifest says {record.size}"
            statuses.append(ArchiveStatus(name, path, record, size, "mismatch", detail))
            continue
        if verify:
            digest, _ = _file_digest(path)
            if digest != record.sha256:
                detail = f"sha256 {digest[:12]}..., manifest says {record.sha256[:12]}..."
                statuses.append(ArchiveStatus(name, path, record, size, "mismatch", detail))
                continue
        statuses.append(ArchiveStatus(name, path, record, size, "ok"))
    for name, path in on_disk.items():
        size = path.stat().st_size
        statuses.append(ArchiveStatus(name, path, None, size, "unlisted", "not in the manifest"))
    statuses.sort(key=lambda s: (s.first or "", s.last or "", s.name))
    return statuses


@final
@dataclass(frozen=True, slots=True)
class Restored:
    """An archive restored."""

    path: Path
    """The file written."""
    record: ArchiveRecord | None
    """The manifest record it was verified against; ``None`` if there was none."""


@final
class _HashingReader:
    """Reads through to ``raw``, hashing what passes."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        self.size += len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return self.raw.closed

    def close(self) -> None:
        """The caller closes the raw file."""


def restore_archive(archive: Path, to: Path, mode: int = 0o640) -> Restored:
    """Decompress ``archive`` into directory ``to``, under the name it had before.

    The restored file gets ``mode`` (0640 by default, as the file sink writes logs),
    whatever the umask.

    The archive's SHA-256 and the restored content's SHA-256 and size are checked
    against the manifest beside the archive, when it has a record; the file appears
    only once it is complete and verified, and an existing file is never replaced.

    Raises:
        RestoreError: the target exists, or the archive or its content does not match the
            manifest (nothing is left behind).
        OSError: the archive cannot be read or the target written.
    """
    record = read_manifest(archive.parent).records.get(archive.name)
    compression = compression_of(archive)
    if record is not None:
        name = record.source
    else:
        suffix = COMPRESSED_SUFFIXES.get(compression, "")
        name = archive.name.removesuffix(suffix) if suffix else archive.name
    target = to / name
    if target.exists():
        raise RestoreError(f"{target}: exists already; restore never overwrites a file")
    to.mkdir(parents=True, exist_ok=True)
    temporary = to / f".{name}.{os.getpid()}.tmp"
    content = hashlib.sha256()
    written = 0
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        os.fchmod(fd, mode)  # the umask must not widen or narrow it
        with archive.open("rb") as raw, os.fdopen(fd, "wb") as out:
            hashed = _HashingReader(raw)
            stream = open_decompressed(hashed, compression)  # type: ignore[arg-type]
            while block := stream.read(_BLOCK):
                content.update(block)
                written += len(block)
                out.write(block)
            while hashed.read(_BLOCK):  # hash any trailing bytes the decompressor left
                pass
            out.flush()
            os.fsync(out.fileno())
        if record is not None:
            _check(record, hashed.digest.hexdigest(), content.hexdigest(), written, archive)
        try:
            os.link(temporary, target)
        except FileExistsError:
            raise RestoreError(
                f"{target}: exists already; restore never overwrites a file"
            ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    return Restored(target, record)


def _check(
    record: ArchiveRecord, archive_sha: str, content_sha: str, size: int, archive: Path
) -> None:
    if archive_sha != record.sha256:
        raise RestoreError(f"{archive}: the archive's SHA-256 does not match the manifest")
    if content_sha != record.content_sha256 or size != record.content_size:
        raise RestoreError(f"{archive}: the restored content does not match the manifest")
