"""Time as the file sink sees it: a small protocol, the system clock, and a manual one for tests.

Rotation and retention read the time only through a :class:`Clock`, so a test moves a
:class:`ManualClock` through days in microseconds instead of sleeping through them.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, TypeAlias, final


__all__ = ["SYSTEM_CLOCK", "Clock", "FreeDisk", "ManualClock", "SystemClock", "free_disk"]


class Clock(Protocol):
    """Tells the time, as seconds since the Unix epoch (UTC)."""

    def time(self) -> float:
        """Return the current time in seconds since the epoch."""
        ...


@final
class SystemClock:
    """The real clock: :func:`time.time`."""

    __slots__ = ()

    def time(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: SystemClock = SystemClock()
"""The clock every sink uses unless it is given another."""


@final
class ManualClock:
    """A clock that moves only when told to: for tests of rotation and retention.

    Args:
        start: the initial time, as epoch seconds or a timezone-aware ``datetime``.

    Example:
        >>> clock = ManualClock(datetime(2026, 11, 23, 7, tzinfo=UTC))
        >>> clock.advance(3600)
        >>> clock.now().isoformat()
        '2026-11-23T08:00:00+00:00'
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float | datetime = 0.0) -> None:
        self._lock = threading.Lock()
        self._now = _seconds(start)

    def time(self) -> float:
        """Return the time the clock was last set to."""
        with self._lock:
            return self._now

    def now(self) -> datetime:
        """Return the current time as an aware UTC ``datetime``."""
        return datetime.fromtimestamp(self.time(), UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds

    def set(self, when: float | datetime) -> None:
        """Move the clock to ``when`` (epoch seconds or an aware ``datetime``)."""
        with self._lock:
            self._now = _seconds(when)

    def __repr__(self) -> str:
        return f"ManualClock({self.now().isoformat()!r})"


def _seconds(when: float | datetime) -> float:
    if isinstance(when, datetime):
        if when.tzinfo is None:
            msg = f"expected an aware datetime (with tzinfo), got {when!r}"
            raise ValueError(msg)
        return when.timestamp()
    return float(when)


FreeDisk: TypeAlias = Callable[[Path], int]
"""Returns the free bytes on the filesystem holding a directory (``shutil.disk_usage``)."""


def free_disk(directory: Path) -> int:
    """Return the bytes free to unprivileged users on ``directory``'s filesystem."""
    return shutil.disk_usage(directory).free
