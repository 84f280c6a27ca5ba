"""Housekeeping for one live file: finish rotated files, then apply retention.

:class:`Housekeeper` does one pass synchronously and returns the events to log;
:class:`Background` runs passes on a daemon thread when kicked, so compression never
delays a write (loguru compresses on the writing thread: loguru #837).
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, TypeAlias, final

from tapelog._levels import INFO, WARNING
from tapelog.retention._compress import finish_file
from tapelog.retention._names import NamePattern
from tapelog.retention._retention import FinishedFile, apply_plan, plan_retention


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tapelog.retention._clock import Clock, FreeDisk
    from tapelog.retention._policy import RetentionPolicy
    from tapelog.retention._retention import Tier


__all__ = ["Background", "Event", "Housekeeper"]

Event: TypeAlias = tuple[int, str, dict[str, object]]
"""``(level, message, fields)``: an entry the sink asks the pipeline to log."""

_TEMPORARY: Final = re.compile(r"\.(.+)\.(\d+)\.tmp")
_STALE_AFTER: Final = 600.0  # seconds, of real time: file times are real whatever the clock


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@final
class Housekeeper:
    """Compresses (or records) rotated files and applies a retention policy.

    Args:
        live: the live file.
        compression: ``gzip``, ``zstd`` or ``none``.
        archive_dir: where archives go; with ``retention.max_age`` they wait beside the
            live file until that age, without it they go there as soon as finished.
        retention: the limits, or ``None``.
        clock: the time, for ages and records.
        free_disk: free bytes of a directory's filesystem, for ``min_free_disk``.
        mode: permissions of the files it creates.
    """

    def __init__(
        self,
        live: Path,
        *,
        compression: str,
        archive_dir: Path | None,
        retention: RetentionPolicy | None,
        clock: Clock,
        free_disk: FreeDisk,
        mode: int = 0o640,
    ) -> None:
        self.live = live
        self.names = NamePattern(live)
        self.compression = compression
        self.archive_dir = archive_dir
        self.retention = retention
        self.clock = clock
        self.free_disk = free_disk
        self.mode = mode
        waits = retention is not None and retention.max_age is not None
        self.finish_dir = archive_dir if archive_dir is not None and not waits else live.parent
        self._pending: deque[Path] = deque()
        self._failed: dict[Path, str] = {}
        self._lock = threading.Lock()
        #: Called with the files retention is about to delete, before it deletes them (the
        #: audit chain writes a sealed record naming them). If it raises, nothing is deleted.
        self.before_removal: Callable[[list[Path]], None] | None = None

    def hand_over(self, path: Path) -> None:
        """Take a file the writer just rotated, to finish on the next pass."""
        self._pending.append(path)

    def after_fork(self) -> None:
        """In a forked child: a new lock; the files handed over stay the parent's."""
        self._lock = threading.Lock()
        self._pending.clear()
        self._failed.clear()

    def run(self) -> list[Event]:
        """Do one pass: finish every rotated file waiting, then apply retention."""
        with self._lock:
            waiting = self._waiting()
            events = self._finish_waiting(waiting)
            if self.retention is not None and self.retention.limits_anything:
                events.extend(self._apply_retention(set(waiting)))
            self._remove_stale_temporaries()
            return events

    # -- finishing ------------------------------------------------------------------------

    def _waiting(self) -> list[Path]:
        """Files handed over, plus (when compressing) plain finished files left by anyone."""
        waiting: dict[Path, None] = {}
        while self._pending:
            waiting[self._pending.popleft()] = None
        if self.compression != "none":
            for parsed, path in self.names.finished_in(self.live.parent):
                if parsed.compression == "none":
                    waiting[path] = None
        return list(waiting)

    def _finish_waiting(self, waiting: list[Path]) -> list[Event]:
        events: list[Event] = []
        for path in waiting:
            try:
                record = finish_file(
                    path, self.finish_dir, self.compression, _iso(self.clock.time()), self.mode
                )
            except (OSError, ModuleNotFoundError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
                if self._failed.get(path) != reason:  # report each new failure once
                    self._failed[path] = reason
                    fields: dict[str, object] = {
                        "event": "retention.failed",
                        "file": str(path),
                        "action": "compress" if self.compression != "none" else "archive",
                        "reason": reason,
                    }
                    events.append((WARNING, f"cannot finish {path.name}", fields))
                continue
            self._failed.pop(path, None)
            if record is None:
                continue
            target = self.finish_dir / record.file
            if record.compression != "none":
                fields = {
                    "event": "retention.compressed",
                    "file": str(target),
                    "size": record.size,
                    "content_size": record.content_size,
                    "entries": record.entries,
                    "compression": record.compression,
                }
                events.append((INFO, f"compressed {record.source}", fields))
            elif target != path:
                fields = {
                    "event": "retention.archived",
                    "file": str(target),
                    "from": str(path),
                    "size": record.size,
                    "reason": "archive_dir",
                }
                events.append((INFO, f"archived {record.source}", fields))
        return events

    # -- retention ------------------------------------------------------------------------

    def finished_files(self) -> list[FinishedFile]:
        """Every finished file of the live file, in the log directory and the archive."""
        places: list[tuple[Path, Tier]] = [(self.live.parent, "log")]
        if self.archive_dir is not None and self.archive_dir != self.live.parent:
            places.append((self.archive_dir, "archive"))
        files: list[FinishedFile] = []
        for directory, tier in places:
            for parsed, path in self.names.finished_in(directory):
                try:
                    status = path.stat()
                except FileNotFoundError:
                    continue
                files.append(FinishedFile(path, parsed, tier, status.st_size, status.st_dev))
        return files

    def _apply_retention(self, offered: set[Path]) -> list[Event]:
        """Plan and carry out retention over the files that are finished.

        A plain file rotated while this pass ran (the writer goes on meanwhile) is not
        finished yet when compressing: it is left out until the next pass has compressed
        it (a rotation kicks one), so a fresh file is never purged before it was offered
        for compression, nor counted at its uncompressed size. One that was offered and
        could not be compressed counts as it is.
        """
        assert self.retention is not None
        policy = self.retention
        files = self.finished_files()
        if self.compression != "none":
            files = [f for f in files if f.name.compression != "none" or f.path in offered]
        if not files:
            return []
        log_dir = self.live.parent
        log_device = _device(log_dir)
        archive_device = _device(self.archive_dir) if self.archive_dir is not None else None
        if self.archive_dir is not None and archive_device is None:
            self.archive_dir.mkdir(parents=True, exist_ok=True)
            archive_device = _device(self.archive_dir)
        free = self.free_disk(log_dir) if policy.min_free_disk is not None else None
        now = self.clock.time()
        actions = plan_retention(
            files,
            policy,
            now=now,
            archive_device=archive_device,
            log_device=log_device,
            free=free,
        )
        events: list[Event] = []
        doomed = [action.file.path for action in actions if action.kind == "purge"]
        if doomed and self.before_removal is not None:
            try:
                self.before_removal(doomed)
            except Exception as exc:  # no record, no removal: retention waits
                fields: dict[str, object] = {
                    "event": "retention.failed",
                    "file": str(doomed[0]),
                    "action": "purge",
                    "reason": f"the audit record could not be written: {exc}",
                }
                return [(WARNING, f"cannot purge {doomed[0].name}", fields)]
        for outcome in apply_plan(
            actions, archive_dir=self.archive_dir, when=_iso(now), mode=self.mode
        ):
            action = outcome.action
            fields: dict[str, object] = {
                "file": str(outcome.path),
                "size": action.file.size,
                "reason": action.reason,
            }
            if outcome.destination is not None:
                fields = {"event": "retention.archived", **fields, "to": str(outcome.destination)}
                events.append((INFO, f"archived {outcome.path.name} ({action.reason})", fields))
            else:
                fields = {"event": "retention.purged", **fields}
                events.append((INFO, f"purged {outcome.path.name} ({action.reason})", fields))
        return events

    def _remove_stale_temporaries(self) -> None:
        """Remove temporary archives left by processes that died while writing them.

        A temporary file names its writer's process id; it is removed when that process
        is gone and the file has not changed for a while (a process id seen from another
        container could belong to someone else).
        """
        places = {self.live.parent, self.finish_dir}
        if self.archive_dir is not None:
            places.add(self.archive_dir)
        for directory in places:
            try:
                names = [entry.name for entry in directory.iterdir()]
            except FileNotFoundError:
                continue
            for name in names:
                match = _TEMPORARY.fullmatch(name)
                if match is None or self.names.parse(match[1]) is None or _alive(int(match[2])):
                    continue
                with contextlib.suppress(OSError):
                    path = directory / name
                    if time.time() - path.stat().st_mtime > _STALE_AFTER:
                        path.unlink()


def _device(directory: Path | None) -> int | None:
    if directory is None:
        return None
    try:
        return directory.stat().st_dev
    except FileNotFoundError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@final
class Background:
    """Runs ``job`` on a daemon thread each time it is kicked; collects what it returns.

    Kicks while a pass runs fold into one more pass. The thread starts on the first kick.

    Args:
        job: one housekeeping pass.
        events: where the job's events go, for the sink's ``periodic()`` to hand on.
        name: the thread's name.
    """

    def __init__(self, job: Callable[[], list[Event]], events: deque[Event], name: str) -> None:
        self._job = job
        self._events = events
        self._name = name
        self._condition = threading.Condition()
        self._requested = False
        self._running = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Ask for a pass as soon as possible."""
        with self._condition:
            if self._stopping:
                return
            self._requested = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            self._condition.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until no pass is running or asked for; return False on timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: not self._requested and not self._running, timeout
            )

    def stop(self, timeout: float | None = None) -> bool:
        """Let the pass asked for finish, then end the thread; return False on timeout."""
        done = self.wait(timeout)
        with self._condition:
            self._stopping = True
            self._condition.notify_all()
            thread = self._thread
        if thread is not None and done:
            thread.join(timeout)
        with self._condition:
            self._stopping = False
            self._thread = None
        return done

    def after_fork(self) -> None:
        """In a forked child: no thread, fresh state (the parent finishes its own work)."""
        self._condition = threading.Condition()
        self._requested = self._running = self._stopping = False
        self._thread = None

    def _run(self) -> None:
        condition = self._condition
        while True:
            with condition:
                while not self._requested and not self._stopping:
                    condition.wait()
                if not self._requested:
                    return
                self._requested = False
                self._running = True
            try:
                self._events.extend(self._job())
            except Exception as exc:  # a pass must never kill the thread
                fields: dict[str, object] = {
                    "event": "retention.failed",
                    "action": "housekeeping",
                    "reason": f"{type(exc).__name__}: {exc}",
                }
                self._events.append((WARNING, "housekeeping failed", fields))
            finally:
                with condition:
                    self._running = False
                    condition.notify_all()
