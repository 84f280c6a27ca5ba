"""The file sink: appends whole batches with one ``os.write`` to an ``O_APPEND`` descriptor.

No Python-level buffer sits between a batch and the file, so a forked child has nothing
pending to write twice, and several processes appending to one file never interleave
inside a batch smaller than the pipe/page limits of the filesystem.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, final

from tapelog.exceptions import SinkError
from tapelog.sinks._base import render_batch


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tapelog.config._model import SinkConfig
    from tapelog.typing import EventDict, Formatter


__all__ = ["FileSink"]


@final
class FileSink:
    """Appends entries to a file, creating it (mode 0640) and its directories.

    The file is opened on the first write and reopened after ``close()``, so a sink that
    was closed at shutdown still takes entries logged later.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        formatter: Formatter,
        *,
        mode: int = 0o640,
        name: str = "file",
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.formatter = formatter
        self.mode = mode
        self._fd: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> FileSink:
        """Build from a validated ``[[sinks]]`` table."""
        options = config.options
        return cls(
            str(options["path"]), formatter, mode=int(options.get("mode", 0o640)), name=config.name
        )

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, self.mode
            )
            if created:
                os.fchmod(fd, self.mode)  # the umask must not widen or narrow what was asked
        except OSError as exc:
            msg = f"cannot open log file {str(self.path)!r}: {exc.strerror or exc}"
            raise SinkError(msg) from exc
        return fd

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Format the batch and append it with one system call (more if the OS splits it)."""
        if not entries:
            return
        data = render_batch(self.formatter, entries)
        with self._lock:
            fd = self._fd
            if fd is None:
                fd = self._fd = self._open()
            view = memoryview(data)
            try:
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            except OSError as exc:
                msg = f"cannot write to log file {str(self.path)!r}: {exc.strerror or exc}"
                raise SinkError(msg) from exc

    def flush(self) -> None:
        """Nothing is buffered in the process; data is in the OS page cache already."""

    def fsync(self) -> None:
        """Force written data to the disk."""
        with self._lock:
            if self._fd is not None:
                os.fsync(self._fd)

    def close(self) -> None:
        """Close the file; the next write reopens it."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def after_fork(self) -> None:
        """A child keeps appending through the inherited descriptor, under a new lock."""
        self._lock = threading.Lock()
