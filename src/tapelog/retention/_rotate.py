"""The live file, shared by any number of processes and rotated under a lock file.

Every write goes through one critical section, held with ``flock`` on a sidecar file
(``app.jsonl.lock``) so that processes started independently (gunicorn workers, cron
jobs, a CLI beside a service) coordinate without a common parent:

1. ``stat`` the path and compare its inode with the descriptor this process holds; if
   another process rotated the file (or someone moved it away), reopen the path;
2. rotate if due: by size (the batch would take the file past the limit) or by time (the
   file's period has ended), by renaming the live file to its finished name and creating
   a new one;
3. append the batch with ``os.write`` on an ``O_APPEND`` descriptor.

Because the check, the rename and the write happen under one lock, no process ever writes
to a file after it was renamed away, and a batch is never torn by another process's batch.
The lock file also holds a line of state, ``{"dev", "ino", "opened", "seq"}``: when the
live file was started, so that every process agrees on when its period ends, and the
sequence number of the last rotation, so that every finished name is new (a lock file
without it, new or from an older version, starts from the highest sequence on disk).

Windows is out of scope: it needs another locking primitive and cannot rename open files.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast, final

import orjson

from tapelog.retention._names import NamePattern
from tapelog.retention._reader import CONTINUATION, edge_times, parse_time


if TYPE_CHECKING:
    from collections.abc import Generator
    from pathlib import Path

    from tapelog.retention._clock import Clock
    from tapelog.retention._policy import RotationPolicy


__all__ = [
    "RotatingFile",
    "Rotation",
    "RotationError",
    "WriteError",
    "ends_a_line",
    "open_append",
    "split_entries",
    "whole_entries",
    "write_all",
]

_STATE_SIZE: Final = 4096


@final
@dataclass(frozen=True, slots=True)
class Rotation:
    """One rotation that happened: the live file became ``path``."""

    path: Path
    """The finished file, under its new name."""
    reason: Literal["size", "time", "manual"]
    """What triggered it."""
    size: int
    """Its size in bytes."""


def split_entries(data: bytes | bytearray) -> list[bytes]:
    """Split rendered lines into whole entries, each with its newline.

    Every format writes one line per entry, except the console format's continuation lines
    (a traceback), which stay with the entry they follow.
    """
    parts = bytes(data).splitlines(keepends=True)
    entries: list[bytes] = []
    for part in parts:
        if entries and part.startswith(CONTINUATION):
            entries[-1] += part
        else:
            entries.append(part)
    return entries


@final
class RotatingFile:
    """Appends to ``path``, rotating it by ``policy`` in cooperation with other processes.

    Used by one thread at a time per instance (the sink's lock); other threads and processes
    are kept out by the lock file.

    Args:
        path: the live file.
        mode: permissions of the files it creates (the live file and the lock file).
        policy: when to rotate.
        clock: the time, for schedules.
        directories: where finished files may live (the live file's directory first,
            then the archive); a new name is unused in all of them.
    """

    def __init__(
        self,
        path: Path,
        *,
        mode: int,
        policy: RotationPolicy,
        clock: Clock,
        directories: tuple[Path, ...],
    ) -> None:
        self.path = path
        self.lock_path = path.with_name(path.name + ".lock")
        self.mode = mode
        self.policy = policy
        self.clock = clock
        self.names = NamePattern(path)
        self.directories = directories
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._lock_fd: int | None = None
        self._boundary: float | None = None
        self._end: int | None = None  # where this process's last whole write ended
        self._thread_lock = threading.Lock()
        self._written = 0  # bytes of the current batch written so far

    # -- the critical section -----------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Generator[None]:
        with self._thread_lock:
            fd = self._lock_file()
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _lock_file(self) -> int:
        """Open (or reopen) the lock file and lock it; return its descriptor.

        A lock file that was deleted (with its directory, say) locks nothing: a process
        opening the path gets another file. Once locked, the descriptor's link count says
        whether it is still the one at the path; if not, it is reopened, the directory
        recreated if need be.
        """
        while True:
            if self._lock_fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(
                    self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.mode
                )
            fd = self._lock_fd
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink > 0:
                return fd
            self._lock_fd = None  # unlinked: closing it releases the lock
            os.close(fd)
            self._close_fd()

    def write(self, data: bytes | bytearray) -> list[Rotation]:
        """Append ``data`` (whole rendered entries), rotating first or between entries.

        A rotation that fails (the rename is refused, the disk is full) does not lose the
        batch: it is written to the file already open, and the error is raised after the
        write as a :class:`RotationError` carrying the rotations that did happen.

        Returns:
            The rotations this write caused, usually none.

        Raises:
            WriteError: the batch could not be written whole; ``written`` says how many of
                its bytes reached a file (a full disk stops a write part way).
            RotationError: the batch was written, but a rotation failed.
        """
        self._written = 0
        try:
            return self._write(data)
        except RotationError:
            raise
        except OSError as exc:
            raise WriteError(exc, self._written) from exc

    def _write(self, data: bytes | bytearray) -> list[Rotation]:
        rotations: list[Rotation] = []
        failure: OSError | None = None
        with self._locked():
            size = self._sync()
            limit = self.policy.size
            try:
                if size and self._period_over():
                    rotations.append(self._rotate("time", size))
                    size = 0
            except OSError as exc:
                failure = exc
            if limit is None or size + len(data) <= limit or failure is not None:
                self._append(data)
                return self._result(rotations, failure)
            chunk: list[bytes] = []
            chunk_size = 0
            for entry in split_entries(data):
                if (size or chunk_size) and size + chunk_size + len(entry) > limit:
                    if chunk:
                        self._append(b"".join(chunk))
                        size += chunk_size
                        chunk, chunk_size = [], 0
                    if failure is None:
                        try:
                            rotations.append(self._rotate("size", size))
                            size = 0
                        except OSError as exc:
                            failure = exc
                chunk.append(entry)
                chunk_size += len(entry)
            if chunk:
                self._append(b"".join(chunk))
        return self._result(rotations, failure)

    @staticmethod
    def _result(rotations: list[Rotation], failure: OSError | None) -> list[Rotation]:
        if failure is not None:
            raise RotationError(failure, rotations)
        return rotations

    def rotate_if_due(self) -> list[Rotation]:
        """Rotate now if the file's period has ended (called when the sink is idle).

        An empty file is not rotated; its period starts again instead.
        """
        if self._boundary is None or self.clock.time() < self._boundary:
            return []
        with self._locked():
            size = self._sync()
            if not self._period_over():
                return []
            if size == 0:
                self._restart_period()
                return []
            return [self._rotate("time", size)]

    def rotate(self) -> list[Rotation]:
        """Rotate now, whatever the policy says (an empty file is left as it is)."""
        with self._locked():
            size = self._sync()
            return [self._rotate("manual", size)] if size else []

    # -- inside the lock ------------------------------------------------------------------

    def _append(self, data: bytes | bytearray) -> None:
        fd = self._fd
        assert fd is not None  # _sync opened it
        end, self._end = self._end, None  # unknown until the write is whole
        try:
            self._written += write_all(fd, data)
        except WriteError as exc:
            self._written += exc.written
            raise exc.cause from None  # write() counts it whole in its WriteError
        if end is not None:
            self._end = end + len(data)

    def _mend(self, size: int) -> int:
        """End a torn last line (a writer killed mid-write, a full disk) with a newline.

        Nothing is ever appended to a partial line, so the next entry stays readable. The
        last byte is read only when the file is not as this process left it. Returns the
        size after mending.
        """
        fd = self._fd
        assert fd is not None
        if size and size != self._end and not ends_a_line(fd, size):
            self._end = None
            os.write(fd, b"\n")
            size += 1
        self._end = size
        return size

    def _period_over(self) -> bool:
        return self._boundary is not None and self.clock.time() >= self._boundary

    def _sync(self) -> int:
        """Make ``_fd`` the file now at ``path``; return that file's size."""
        try:
            current = self.path.stat()
        except FileNotFoundError:
            current = None
        if (
            self._fd is not None
            and current is not None
            and (current.st_dev, current.st_ino) == self._identity
        ):
            return self._mend(current.st_size)
        self._close_fd()
        fd, created = self._open_live()
        status = os.fstat(fd)
        self._fd = fd
        self._identity = (status.st_dev, status.st_ino)
        opened = None if created else self._read_state()
        if opened is None:
            opened = self._guess_opened(status.st_size, status.st_mtime)
            self._write_state(opened)
        self._boundary = self.policy.next_boundary(opened)
        return self._mend(status.st_size)

    def _open_live(self) -> tuple[int, bool]:
        # Read as well as write: a torn last line is found by reading the last byte.
        flags = os.O_RDWR | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, self.mode)
        except FileExistsError:
            return open_append(self.path), False
        except FileNotFoundError:  # the directory was deleted under us
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, flags | os.O_CREAT | os.O_EXCL, self.mode)
        os.fchmod(fd, self.mode)  # the umask must not widen or narrow what was asked
        return fd, True

    def _guess_opened(self, size: int, mtime: float) -> float:
        """When was a file we know nothing about started? Its first entry says, or mtime."""
        if size == 0:
            return self.clock.time()
        try:
            first, _ = edge_times(self.path)
        except OSError:
            first = None
        return parse_time(first) if first is not None else mtime

    def _state(self) -> dict[str, Any]:
        assert self._lock_fd is not None
        try:
            state = orjson.loads(os.pread(self._lock_fd, _STATE_SIZE, 0).split(b"\n", 1)[0])
        except orjson.JSONDecodeError:
            return {}
        return cast("dict[str, Any]", state) if isinstance(state, dict) else {}

    def _read_state(self) -> float | None:
        state = self._state()
        try:
            if (state["dev"], state["ino"]) == self._identity:
                return float(state["opened"])
        except (KeyError, TypeError, ValueError):
            return None
        return None

    def _last_sequence(self) -> int:
        """The sequence of the last rotation of this live file, by any process."""
        stored = self._state().get("seq")
        if isinstance(stored, int) and stored >= 0:
            return stored
        return self.names.highest_sequence(self.directories)

    def _store_sequence(self, sequence: int) -> None:
        """Record ``sequence`` as taken, keeping the rest of the state line."""
        assert self._lock_fd is not None
        state = {**self._state(), "seq": sequence}
        _replace_line(self._lock_fd, orjson.dumps(state) + b"\n")

    def _write_state(self, opened: float, sequence: int | None = None) -> None:
        assert self._lock_fd is not None
        assert self._identity is not None
        if sequence is None:
            sequence = self._last_sequence()
        dev, ino = self._identity
        state = {"dev": dev, "ino": ino, "opened": opened, "seq": sequence}
        _replace_line(self._lock_fd, orjson.dumps(state) + b"\n")

    def _restart_period(self, sequence: int | None = None) -> None:
        now = self.clock.time()
        self._write_state(now, sequence)
        self._boundary = self.policy.next_boundary(now)

    def _rotate(self, reason: Literal["size", "time", "manual"], size: int) -> Rotation:
        """Rename the live file to its finished name and start a new one.

        If the new file cannot be created, the rename is undone, so that the process keeps
        writing to a file that is still the live one and nothing is ever appended to a
        finished file.
        """
        now = self.clock.time()
        try:
            first, last = edge_times(self.path)
        except OSError:
            first = last = None
        start = parse_time(first) if first is not None else now
        end = parse_time(last) if last is not None else now
        sequence = self._last_sequence() + 1
        name = self.names.make(start, end, sequence=sequence)
        while self.names.taken(name, self.directories):  # a file copied in by hand, say
            sequence += 1
            name = self.names.make(start, end, sequence=sequence)
        self._store_sequence(sequence)  # first: a process killed after the rename
        target = self.path.with_name(name)  # must not leave the number free for reuse
        self.path.rename(target)
        try:
            fd, _ = self._open_live()
        except OSError:
            with contextlib.suppress(OSError):
                target.rename(self.path)
            raise
        self._close_fd()
        status = os.fstat(fd)
        self._fd = fd
        self._identity = (status.st_dev, status.st_ino)
        self._end = 0
        self._restart_period(sequence)
        return Rotation(target, reason, size)

    # -- lifecycle --------------------------------------------------------------------------

    def _close_fd(self) -> None:
        fd, self._fd, self._identity, self._end = self._fd, None, None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def fsync(self) -> None:
        """Force written data to the disk."""
        with self._thread_lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        """Close the live file and the lock file; the next write reopens both."""
        with self._thread_lock:
            self._close_fd()
            lock_fd, self._lock_fd = self._lock_fd, None
            if lock_fd is not None:
                os.close(lock_fd)

    def after_fork(self) -> None:
        """In a forked child: a lock of its own, and a lock file description of its own.

        ``flock`` locks belong to an open file description, which a child shares with its
        parent through the inherited descriptor; the two would not exclude each other.
        """
        self._thread_lock = threading.Lock()
        lock_fd, self._lock_fd = self._lock_fd, None
        if lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock_fd)


def _replace_line(fd: int, line: bytes) -> None:
    """Overwrite the state line, then cut what is left of a longer one.

    Killed in between, the file still starts with a whole line, which is all that is read.
    """
    os.pwrite(fd, line, 0)
    os.ftruncate(fd, len(line))


def open_append(path: Path, mode: int | None = None) -> int:
    """Open ``path`` to append (creating it with ``mode`` if given), readable if allowed.

    Reading is only for the last byte (is the last line whole?); a file we may write but
    not read is opened write-only, and its last line is taken as whole.
    """
    flags = os.O_APPEND | os.O_CLOEXEC | (os.O_CREAT if mode is not None else 0)
    try:
        return os.open(path, os.O_RDWR | flags, 0o640 if mode is None else mode)
    except PermissionError:
        return os.open(path, os.O_WRONLY | flags, 0o640 if mode is None else mode)


def write_all(fd: int, data: bytes | bytearray) -> int:
    """Write all of ``data`` to ``fd``; return its length.

    One write, as a rule; a memoryview only for a short write's rest (a signal, a full
    disk): making one measured as much as the write itself.

    Raises:
        WriteError: a write failed; ``written`` says how many bytes went first.
    """
    written = 0
    try:
        written = os.write(fd, data)
        if written < len(data):
            view = memoryview(data)
            while written < len(view):
                written += os.write(fd, view[written:])
    except OSError as exc:
        raise WriteError(exc, written) from exc
    return written


def ends_a_line(fd: int, size: int) -> bool:
    """Whether the file of ``size`` bytes open on ``fd`` ends with a newline (or is empty)."""
    if not size:
        return True
    try:
        return os.pread(fd, 1, size - 1) in {b"\n", b""}
    except OSError:  # opened write-only: nothing to tell
        return True


def whole_entries(data: bytes | bytearray, written: int) -> int:
    """How many whole entries of rendered ``data`` are in its first ``written`` bytes."""
    if written >= len(data):
        return len(split_entries(data))
    count = end = 0
    for entry in split_entries(data):
        end += len(entry)
        if end > written:
            break
        count += 1
    return count


@final
class WriteError(OSError):
    """A batch was not written whole; ``written`` of its bytes reached a file."""

    def __init__(self, cause: OSError, written: int) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause), cause.filename)
        self.cause = cause
        self.written = written


@final
class RotationError(OSError):
    """A rotation failed after the batch was written safely to the file already open."""

    def __init__(self, cause: OSError, rotations: list[Rotation]) -> None:
        super().__init__(cause.errno, f"cannot rotate {cause.filename!r}: {cause.strerror}")
        self.cause = cause
        self.rotations = rotations
