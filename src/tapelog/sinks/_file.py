"""The file sink: appends whole batches with one ``os.write`` to an ``O_APPEND`` descriptor.

No Python-level buffer sits between a batch and the file, so a forked child has nothing
pending to write twice, and several processes appending to one file never interleave
inside a batch.

With ``rotation`` the sink writes through :class:`tapelog.retention.RotatingFile`, which
coordinates any number of processes through a lock file, and a background thread
compresses rotated files and applies ``retention``; what it does is logged as
``retention.*`` events through ``periodic()``. See ``docs/files.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

from tapelog._levels import INFO, WARNING, level_name
from tapelog.audit._chain import RUN, AuditKey, AuditWriter, load_key, writer_for
from tapelog.config._sinks import file_compression
from tapelog.exceptions import ConfigError, SinkError
from tapelog.retention._clock import SYSTEM_CLOCK, free_disk
from tapelog.retention._housekeeping import Background, Housekeeper
from tapelog.retention._policy import RetentionPolicy, RotationPolicy
from tapelog.retention._rotate import (
    RotatingFile,
    RotationError,
    WriteError,
    ends_a_line,
    open_append,
    whole_entries,
    write_all,
)
from tapelog.sinks._base import BaseSink, BuildEntries, render_batch


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import timedelta

    from tapelog.config._model import SinkConfig
    from tapelog.retention._clock import Clock, FreeDisk
    from tapelog.retention._housekeeping import Event
    from tapelog.retention._rotate import Rotation
    from tapelog.typing import EventDict, Formatter


__all__ = ["FileSink"]

_RECHECK = 1.0  # seconds between two checks that the file at path is still ours

_HOUSEKEEPING_INTERVAL: Final = 60.0  # seconds between retention passes when nothing rotates
_CLOSE_WAIT: Final = 5.0  # how long close() lets a compression in progress finish
_LEFTOVER_ROUNDS: Final = 3
_TIMESTAMP: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


@final
class FileSink(BaseSink):
    """Appends entries to a file, creating it (mode 0640) and its directories.

    The file is opened on the first write and reopened after ``close()``, so a sink that
    was closed at shutdown still takes entries logged later. If the file is moved away or
    deleted (by logrotate, say), the next batch goes to a new file at ``path``.

    Args:
        path: the live file.
        formatter: renders one entry as one line.
        mode: permissions of the files created.
        name: the sink's name in ``stats()``.
        rotation: when to start a new file: a :class:`~tapelog.retention.RotationPolicy`,
            a ``rotation`` table as in the configuration, a number of bytes, or a
            ``timedelta`` interval. ``None`` never rotates.
        retention: which rotated files to keep: a
            :class:`~tapelog.retention.RetentionPolicy` or a ``retention`` table.
        compression: ``gzip``, ``zstd`` or ``none`` for rotated files; unset means
            ``gzip`` with rotation.
        archive_dir: where finished files go (at once, or after ``retention.max_age``).
        clock: the time for schedules and ages; tests pass a
            :class:`~tapelog.retention.ManualClock`.
        free_disk: free bytes of a directory's filesystem, for ``min_free_disk``.
        background: compress and apply retention on a background thread (the default);
            ``False`` does it inside ``periodic()``, for tests.
        audit: hash-chain every line (``docs/audit.md``) and fsync each batch; needs
            the JSON format.
        audit_key: the HMAC key of the chain (``None``: plain SHA-256).
        audit_checkpoint: a checkpoint every this many entries and seconds.
        audit_run: the most lines one hash seals (1: each line its own hash, so
            ``verify`` names an edited line exactly; more: cheaper sealing, an edit
            named by its run).

    Raises:
        ConfigError: an option is invalid, or ``zstd`` is asked for without the
            zstandard package.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        formatter: Formatter,
        *,
        mode: int = 0o640,
        name: str = "file",
        rotation: RotationPolicy | Mapping[str, Any] | int | timedelta | None = None,
        retention: RetentionPolicy | Mapping[str, Any] | None = None,
        compression: str | None = None,
        archive_dir: str | os.PathLike[str] | None = None,
        clock: Clock | None = None,
        free_disk: FreeDisk = free_disk,
        background: bool = True,
        audit: bool = False,
        audit_key: AuditKey | None = None,
        audit_checkpoint: tuple[int, float] = (10_000, 60.0),
        audit_run: int = RUN,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.formatter = formatter
        self.mode = mode
        self.clock: Clock = clock or SYSTEM_CLOCK
        self.rotation = RotationPolicy.of(rotation) if rotation is not None else None
        self.retention = RetentionPolicy.of(retention) if retention is not None else None
        self.compression = file_compression(compression, self.rotation is not None)
        self.archive_dir = Path(archive_dir) if archive_dir is not None else None
        self._fd: int | None = None
        self._identity: tuple[int, int] | None = None
        self._end: int | None = None  # where this sink's last whole write ended
        self._checked_at = 0.0  # monotonic time of the last check that path is still ours
        self._lock = threading.Lock()
        self._events: deque[Event] = deque()
        self._build_entries: BuildEntries | None = None
        self._rotating: RotatingFile | None = None
        self._housekeeper: Housekeeper | None = None
        self._background: Background | None = None
        self._next_housekeeping = 0.0
        self._closing = False
        self._audit: AuditWriter | None = None
        if audit:
            from tapelog.formats._json import JsonFormat

            if not isinstance(formatter, JsonFormat):
                raise ConfigError("format", name, "json: an audited file holds JSON lines")
            entries, seconds = audit_checkpoint
            self._audit = writer_for(
                self.path,
                audit_key,
                checkpoint_entries=entries,
                checkpoint_interval=seconds,
                run=audit_run,
            )
        if self.rotation is not None:
            places = (self.path.parent,)
            if self.archive_dir is not None:
                places = (*places, self.archive_dir)
            self._rotating = RotatingFile(
                self.path, mode=mode, policy=self.rotation, clock=self.clock, directories=places
            )
        if self.rotation is not None or self.retention is not None:
            self._housekeeper = Housekeeper(
                self.path,
                compression=self.compression,
                archive_dir=self.archive_dir,
                retention=self.retention,
                clock=self.clock,
                free_disk=free_disk,
                mode=mode,
            )
            if self._audit is not None:
                self._housekeeper.before_removal = self._audit_removal
            if background:
                self._background = Background(
                    self._housekeeper.run, self._events, f"tapelog-files-{name}"
                )

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> FileSink:
        """Build from a validated ``[[sinks]]`` table."""
        options = config.options
        rotation = options.get("rotation")
        retention = options.get("retention")
        audit = bool(options.get("audit", False))
        key = None
        checkpoint = (10_000, 60.0)
        run = RUN
        if audit:
            key = load_key(
                options.get("audit_key_env") or "TAPELOG_AUDIT_KEY", options.get("audit_key_file")
            )
            table: Mapping[str, Any] = options.get("audit_checkpoint") or {}
            entries, interval = table.get("entries"), table.get("interval")
            checkpoint = (
                10_000 if entries is None else int(entries),
                60.0 if interval is None else float(interval),
            )
            run = int(options.get("audit_run") or RUN)
        return cls(
            str(options["path"]),
            formatter,
            mode=int(options.get("mode", 0o640)),
            name=config.name,
            rotation=RotationPolicy.from_options(rotation) if rotation is not None else None,
            retention=RetentionPolicy.from_options(retention) if retention is not None else None,
            compression=options.get("compression"),
            archive_dir=options.get("archive_dir"),
            audit=audit,
            audit_key=key,
            audit_checkpoint=checkpoint,
            audit_run=run,
        )

    # -- writing ------------------------------------------------------------------------

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Format the batch and append it with one system call (more if it must rotate).

        With rotation, a batch that would take the file past ``rotation.size`` is split
        between entries, never inside one.

        Raises:
            SinkError: the batch could not be written (a failed rotation is not that: the
                batch still goes to the file open, and the failure is logged).
        """
        if not entries:
            return
        audit = self._audit
        if audit is not None:
            with audit.lock:
                self._write_data(audit.seal(entries))
                self._durable(audit)
            return
        self._write_data(render_batch(self.formatter, entries))

    def json_lines_writer(self) -> Callable[[bytes | bytearray], None] | None:
        """The pipeline may hand this sink JSON lines when it writes JSON, not audited.

        Sealing needs the entries, and any other format renders them differently.
        """
        from tapelog.formats._json import JsonFormat

        if self._audit is None and type(self.formatter) is JsonFormat:
            return self._write_lines
        return None

    def _write_lines(self, data: bytes | bytearray) -> None:
        """Append a batch already rendered as JSON lines, as ``write_batch`` would."""
        if data:
            self._write_data(data)

    def _durable(self, audit: AuditWriter) -> None:
        """Audited: the batch reaches the disk before the chain's checkpoints name it."""
        try:
            self.fsync()
            audit.written()
        except OSError as exc:
            msg = f"cannot sync audited log file {str(self.path)!r}: {exc.strerror or exc}"
            raise SinkError(msg) from exc

    def _audit_removal(self, paths: list[Path]) -> None:
        """Retention is about to remove audited files: a sealed record names them first."""
        audit = self._audit
        assert audit is not None
        with audit.lock:
            self._write_data(audit.retention(paths))
            self._durable(audit)

    def _write_data(self, data: bytes | bytearray) -> None:
        rotating = self._rotating
        if rotating is None:
            self._append(data)
            return
        with self._lock:
            try:
                rotations = rotating.write(data)
            except RotationError as exc:
                rotations = exc.rotations
                self._rotation_failed(exc)
            except WriteError as exc:
                raise self._failed(exc, data, exc.written) from exc
            except OSError as exc:
                raise self._failed(exc, data, 0) from exc
        self._rotated(rotations)

    def _failed(self, exc: OSError, data: bytes | bytearray, written: int) -> SinkError:
        """The error for a batch that stopped after ``written`` bytes (a full disk, say).

        The entries wholly written are on file and say so (``SinkError.written``), so that
        they are counted ``written`` and only the rest goes to a fallback. An entry cut
        short is not one of them; the next write starts on a new line.
        """
        whole = whole_entries(data, written)
        reason = exc.strerror or str(exc)
        msg = f"cannot write to log file {str(self.path)!r}: {reason}"
        if whole:
            msg += f" ({whole} entries of the batch were written first)"
        return SinkError(msg, written=whole)

    def _append(self, data: bytes | bytearray) -> None:
        """Append whole entries, after ending a torn last line if there is one.

        The check and the write hold ``flock`` on the file, so that several processes
        appending to it never read each other's append half copied (the kernel makes a
        write of more than a page visible a page at a time): that last byte, taken for a
        torn line, would make an empty line. Each process has its own open file
        description (a forked child reopens, see ``after_fork``), as ``flock`` needs.
        """
        with self._lock:
            locked = -1
            try:
                fd = self._current_fd()
                locked = _flock(fd)
                status = os.fstat(fd)
                if status.st_nlink == 0:  # deleted (with its directory, perhaps): start anew
                    self._checked_at = -_RECHECK
                    locked = -1  # closed by _current_fd, which releases its lock
                    fd = self._current_fd()
                    locked = _flock(fd)
                    status = os.fstat(fd)
                size = status.st_size
                if size and size != self._end and not ends_a_line(fd, size):
                    os.write(fd, b"\n")  # never append to a torn line
                    size += 1
                self._end = None  # unknown if the write fails part way
                self._end = size + write_all(fd, data)
            except WriteError as exc:
                raise self._failed(exc.cause, data, exc.written) from exc.cause
            except OSError as exc:  # before the batch: none of it written
                raise self._failed(exc, data, 0) from exc
            finally:
                if locked >= 0:
                    fcntl.flock(locked, fcntl.LOCK_UN)

    def _current_fd(self) -> int:
        """The descriptor of the file now at ``path``, reopened if it was moved away.

        The check costs a ``stat``; it runs at most once per ``_RECHECK`` seconds. Until
        then, entries go on into the moved file (an external rotator renamed it), which
        keeps them: nothing is lost, they are just in the older file. A deleted file is
        noticed at once, by the caller (its link count is 0).
        """
        now = time.monotonic()
        if self._fd is not None and now - self._checked_at < _RECHECK:
            return self._fd
        self._checked_at = now
        try:
            status = self.path.stat()
            identity: tuple[int, int] | None = (status.st_dev, status.st_ino)
        except FileNotFoundError:
            identity = None
        if self._fd is not None and identity == self._identity:
            return self._fd
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = identity is None
        fd = open_append(self.path, self.mode)
        if created:
            os.fchmod(fd, self.mode)  # the umask must not widen or narrow what was asked
        status = os.fstat(fd)
        self._fd, self._identity, self._end = fd, (status.st_dev, status.st_ino), None
        return fd

    def _rotated(self, rotations: list[Rotation]) -> None:
        for rotation in rotations:
            if self._audit is not None:
                self._audit.rotated(rotation.path, rotation.size)
            fields: dict[str, object] = {
                "event": "retention.rotated",
                "file": str(rotation.path),
                "size": rotation.size,
                "reason": rotation.reason,
            }
            self._events.append((INFO, f"rotated {self.path.name}", fields))
            if self._housekeeper is not None:
                self._housekeeper.hand_over(rotation.path)
        if rotations:
            self._next_housekeeping = 0.0
            if self._background is not None and not self._closing:
                self._background.kick()

    def _rotation_failed(self, exc: RotationError) -> None:
        fields: dict[str, object] = {
            "event": "retention.failed",
            "file": str(self.path),
            "action": "rotate",
            "reason": str(exc),
        }
        self._events.append((WARNING, f"cannot rotate {self.path.name}", fields))

    # -- rotation and housekeeping ------------------------------------------------------

    def rotate(self) -> Path | None:
        """Rotate now, whatever the policy says; return the finished file's path.

        Returns ``None`` for an empty file, which is left as it is.

        Raises:
            SinkError: the sink has no rotation, or the rename failed.
        """
        if self._rotating is None:
            raise SinkError(f"sink {self.name!r} has no rotation configured")
        with self._lock:
            try:
                rotations = self._rotating.rotate()
            except OSError as exc:
                raise SinkError(f"cannot rotate {str(self.path)!r}: {exc}") from exc
        self._rotated(rotations)
        return rotations[0].path if rotations else None

    def periodic(self) -> list[Event]:
        """Rotate a file whose period ended, start housekeeping when due, hand on events.

        Called by the worker thread when it is idle.
        """
        audit = self._audit
        if audit is not None:
            with audit.lock:
                data = audit.due_checkpoint()
                if data:
                    try:
                        self._write_data(data)
                        self._durable(audit)
                    except SinkError as exc:
                        self._events.append(
                            (
                                WARNING,
                                f"cannot write an audit checkpoint to {self.path.name}",
                                {
                                    "event": "audit.failed",
                                    "file": str(self.path),
                                    "reason": str(exc),
                                },
                            )
                        )
        if self._rotating is not None:
            try:
                with self._lock:
                    rotations = self._rotating.rotate_if_due()
            except OSError as exc:
                self._rotation_failed(RotationError(exc, []))
            else:
                self._rotated(rotations)
        if self._housekeeper is not None and time.monotonic() >= self._next_housekeeping:
            self._next_housekeeping = time.monotonic() + _HOUSEKEEPING_INTERVAL
            if self._background is not None:
                self._background.kick()
            else:
                self._events.extend(self._housekeeper.run())
        events: list[Event] = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def housekeep(self) -> list[Event]:
        """Compress what waits and apply retention now, on this thread; return the events.

        The events are returned, not logged.

        Raises:
            SinkError: the sink has neither rotation nor retention.
        """
        if self._housekeeper is None:
            raise SinkError(f"sink {self.name!r} has neither rotation nor retention")
        return self._housekeeper.run()

    def wait_housekeeping(self, timeout: float | None = None) -> bool:
        """Wait until background compression and retention are done; False on timeout."""
        return self._background.wait(timeout) if self._background is not None else True

    # -- lifecycle ------------------------------------------------------------------------

    def flush(self) -> None:
        """Nothing is buffered in the process; data is in the OS page cache already."""

    def fsync(self) -> None:
        """Force written data to the disk."""
        with self._lock:
            if self._rotating is not None:
                self._rotating.fsync()
            elif self._fd is not None:
                os.fsync(self._fd)

    def close(self, timeout: float | None = None) -> None:
        """Close the file; the next write reopens it.

        A housekeeping pass that is due (none ran since the file was opened or last
        rotated) runs first. Compression in progress gets up to 5 seconds (or
        ``timeout``, if shorter) to finish; anything left is finished by the next pass
        of any process that writes the file. Events the pipeline has not
        collected yet (the last rotations, compressions) are written to this file directly,
        so that no action goes unrecorded at shutdown.
        """
        if self._housekeeper is not None and self._next_housekeeping == 0.0:
            # A pass is due and none ran since the file was opened (or last rotated): run
            # it now, so files a killed process left half-finished are finished by this
            # process, not only by whichever runs long enough later.
            if self._background is not None:
                self._background.kick()
            else:
                self._events.extend(self._housekeeper.run())
        if self._background is not None:
            self._background.stop(_CLOSE_WAIT if timeout is None else min(_CLOSE_WAIT, timeout))
        self._closing = True
        try:
            self._write_leftover_events()
            self._close_chain()
        finally:
            self._closing = False
        with self._lock:
            fd, self._fd, self._identity, self._end = self._fd, None, None, None
            if self._rotating is not None:
                self._rotating.close()
        if fd is not None:
            os.close(fd)

    def _close_chain(self) -> None:
        """Seal the chain's end (``audit.closed``): a later cut of the file shows."""
        audit = self._audit
        if audit is None:
            return
        with audit.lock:
            data = audit.closing()
            if data:
                try:
                    self._write_data(data)
                    self._durable(audit)
                except SinkError:
                    return

    def _write_leftover_events(self) -> None:
        for _ in range(_LEFTOVER_ROUNDS):  # writing them may rotate, which is an event too
            if not self._events:
                return
            events = [self._events.popleft() for _ in range(len(self._events))]
            if self._build_entries is not None:
                entries = self._build_entries(events)
            else:  # outside a pipeline (a FileSink used alone): no seq, no redaction rules
                stamp = datetime.fromtimestamp(self.clock.time(), UTC).strftime(_TIMESTAMP)
                core = {"timestamp": stamp, "logger": "tapelog"}
                entries = [
                    {**core, "level": level_name(level), "message": message, **fields}
                    for level, message, fields in events
                ]
            try:
                self.write_batch(entries)
            except SinkError:
                return

    def set_entry_builder(self, build: BuildEntries) -> None:
        """Build the events left at close like every entry (seq, redaction)."""
        self._build_entries = build

    def after_fork(self) -> None:
        """A child reopens the file, under new locks.

        A descriptor of its own, because ``flock`` locks belong to an open file
        description, which an inherited descriptor shares with the parent: the two would
        not exclude each other. The parent's housekeeping stays the parent's: the child
        starts with no thread and no events of its own.
        """
        self._lock = threading.Lock()
        fd, self._fd, self._identity, self._end = self._fd, None, None, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._events.clear()
        if self._rotating is not None:
            self._rotating.after_fork()
        if self._housekeeper is not None:
            self._housekeeper.after_fork()
        if self._background is not None:
            self._background.after_fork()


def _flock(fd: int) -> int:
    """Lock ``fd`` exclusively and return it, or -1 where the file system has no locks.

    Some network and FUSE mounts refuse ``flock``; there the sink appends unlocked, as it
    did before it locked at all, rather than fail every batch.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        return -1
    return fd
