"""Finishing a rotated file: compress it (or not), move it, and record it in the manifest.

Everything here runs on a background thread, never on the logging path. Each step that
another process could also attempt is made safe to race:

- a file is claimed with a non-blocking ``flock`` on the file itself, and the holder
  checks it still has a name (``st_nlink``) before touching it;
- the archive is written under a temporary name, synced, recorded, and only then renamed
  into place, and the plain file is removed last, so a crash at any point leaves either
  the plain file (finished again later) or the archive, never neither.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Final, cast, final

from tapelog.retention._manifest import ArchiveRecord, append_lines, read_manifest
from tapelog.retention._names import COMPRESSED_SUFFIXES
from tapelog.retention._reader import CONTINUATION, line_time, require_zstandard


if TYPE_CHECKING:
    from collections.abc import Callable, Generator
    from pathlib import Path


__all__ = ["claimed", "finish_file", "move_file", "sync_directory"]

_BLOCK: Final = 1 << 20
_GZIP_LEVEL: Final = 6  # zlib's own default: the gzip module's 9 is slow for little gain
_ZSTD_LEVEL: Final = 3


@final
@dataclass(slots=True)
class _ContentStats:
    """Counts entries and finds the time range while the content streams through."""

    entries: int = 0
    first: str | None = None
    last: str | None = None
    _carry: bytes = b""

    def feed(self, block: bytes) -> None:
        lines = (self._carry + block).split(b"\n")
        self._carry = lines.pop()
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._carry:
            self._line(self._carry)
            self._carry = b""

    def _line(self, line: bytes) -> None:
        if not line or line.startswith(CONTINUATION):
            return
        self.entries += 1
        stamp = line_time(line)
        if stamp is not None:
            if self.first is None or stamp < self.first:
                self.first = stamp
            if self.last is None or stamp > self.last:
                self.last = stamp


@final
class _HashingWriter:
    """A binary sink that hashes and counts what passes through to ``file``."""

    def __init__(self, file: IO[bytes]) -> None:
        self.file = file
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.file.write(data)

    def flush(self) -> None:
        self.file.flush()

    @property
    def closed(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


@contextlib.contextmanager
def claimed(path: Path) -> Generator[int | None]:
    """Hold an exclusive, non-blocking ``flock`` on ``path``; yield its descriptor.

    Yields ``None`` when another process or thread holds it, or the file is gone (removed,
    or renamed away and no longer at ``path``).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        yield None
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        try:
            current = path.stat()
        except FileNotFoundError:
            yield None
            return
        mine = os.fstat(fd)
        same = (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)
        yield fd if same and mine.st_nlink > 0 else None
    finally:
        os.close(fd)


def sync_directory(directory: Path) -> None:
    """Make renames and removals in ``directory`` durable (best effort)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.tmp")


def _open_writer(compression: str, out: _HashingWriter, source_name: str, mtime: int) -> Any:
    if compression == "gzip":
        import gzip

        return gzip.GzipFile(
            filename=source_name,
            mode="wb",
            fileobj=cast("IO[bytes]", out),
            compresslevel=_GZIP_LEVEL,
            mtime=mtime,
        )
    zstandard = require_zstandard()
    return zstandard.ZstdCompressor(level=_ZSTD_LEVEL, write_checksum=True).stream_writer(
        out, closefd=False
    )


def finish_file(
    source: Path, target_dir: Path, compression: str, created: str, mode: int = 0o640
) -> ArchiveRecord | None:
    """Compress ``source`` into ``target_dir``, or record it as it is for ``none``.

    A compressed archive is written under a temporary name, synced, recorded in
    ``target_dir``'s manifest, renamed into place, and ``source`` is removed. With
    ``none`` the file is recorded, then moved to ``target_dir`` if that is elsewhere.

    Returns:
        The manifest record, or ``None`` when someone else is finishing the file, it is
        already finished, or it grew while being read (it was still being written to;
        it is left for a later pass).

    Raises:
        OSError: reading, writing or renaming failed; ``source`` is left as it was.
        ModuleNotFoundError: ``zstd`` without the zstandard package.
    """
    suffix = COMPRESSED_SUFFIXES.get(compression, "")
    target = target_dir / (source.name + suffix)
    with claimed(source) as fd:
        if fd is None:
            return None
        if suffix and target.exists():
            if not _is_finished_copy(target, source, os.fstat(fd).st_size):
                raise FileExistsError(errno.EEXIST, "another archive has this name", str(target))
            source.unlink(missing_ok=True)  # finished before; the process stopped before this
            return None
        target_dir.mkdir(parents=True, exist_ok=True)
        if not suffix:
            return _record_plain(fd, source, target, created, mode)
        temporary = _temporary(target)
        try:
            with temporary.open("wb") as raw:
                out = _HashingWriter(raw)
                writer = _open_writer(compression, out, source.name, int(os.fstat(fd).st_mtime))
                read, content, stats = _stream(fd, writer.write)
                writer.close()
                raw.flush()
                os.fchmod(raw.fileno(), mode)
                os.fsync(raw.fileno())
            if os.fstat(fd).st_size != read:
                temporary.unlink()
                return None
            record = _record(target, source, stats, out, read, content, compression, created)
            append_lines(target_dir, [record.to_line()], mode)
            temporary.rename(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        sync_directory(target_dir)
        source.unlink()
        return record


def _is_finished_copy(target: Path, source: Path, size: int) -> bool:
    """Whether ``target`` is the archive of ``source``, by its manifest record."""
    record = read_manifest(target.parent).records.get(target.name)
    return record is not None and record.source == source.name and record.content_size == size


def _stream(fd: int, write: Callable[[bytes], object]) -> tuple[int, Any, _ContentStats]:
    """Read ``fd`` to its end in blocks, hashing and counting; hand each block to ``write``."""
    content = hashlib.sha256()
    stats = _ContentStats()
    read = 0
    while block := os.read(fd, _BLOCK):
        read += len(block)
        content.update(block)
        stats.feed(block)
        write(block)
    stats.close()
    return read, content, stats


def _record(  # noqa: PLR0917 - a private helper with one caller shape
    target: Path,
    source: Path,
    stats: _ContentStats,
    out: _HashingWriter | None,
    read: int,
    content: Any,
    compression: str,
    created: str,
) -> ArchiveRecord:
    content_sha = content.hexdigest()
    return ArchiveRecord(
        file=target.name,
        source=source.name,
        first=stats.first,
        last=stats.last,
        entries=stats.entries,
        size=out.size if out is not None else read,
        sha256=out.digest.hexdigest() if out is not None else content_sha,
        content_size=read,
        content_sha256=content_sha,
        compression=compression if out is not None else "none",
        created=created,
    )


def _record_plain(
    fd: int, source: Path, target: Path, created: str, mode: int
) -> ArchiveRecord | None:
    """Record an uncompressed finished file, then move it to ``target`` if that differs."""
    read, content, stats = _stream(fd, lambda _block: None)
    if os.fstat(fd).st_size != read:
        return None
    record = _record(target, source, stats, None, read, content, "none", created)
    append_lines(target.parent, [record.to_line()], mode)
    if target != source:
        move_file(source, target)
    return record


def move_file(source: Path, target: Path) -> None:
    """Move a file, atomically at the target even across filesystems.

    Within a filesystem this is one ``rename``; across filesystems the file is copied to
    a temporary name beside ``target``, synced, renamed into place, and the source is
    removed last.

    Raises:
        FileExistsError: ``target`` exists already; nothing was moved.
        OSError: the move failed; ``source`` is where it was.
    """
    if target.exists():
        raise FileExistsError(errno.EEXIST, "already exists", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        source.rename(target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        temporary = _temporary(target)
        try:
            shutil.copy2(source, temporary)
            with temporary.open("rb+") as file:
                os.fsync(file.fileno())
            temporary.rename(target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        source.unlink()
    sync_directory(target.parent)
