"""Clock evidence: what the operating system says about the clock, as ``clock.sync`` entries.

Regulators ask firms to show that their timestamps trace to UTC within a tolerance, and
to keep a record of the clock's synchronisation. On Linux the kernel's ``adjtimex``
(read-only, no privilege needed) reports whether the clock is synchronised, its
estimated and maximum error and the offset being corrected; elsewhere, and where the
call fails, the entry says ``source: "unavailable"`` and ``synchronized: null``: unknown,
not assumed.
"""

from __future__ import annotations

import atexit
import ctypes
import ctypes.util
import sys
import threading
import time
from typing import TYPE_CHECKING, Final, final

from tapelog._levels import INFO, WARNING


if TYPE_CHECKING:
    from tapelog.config._model import ClockConfig


__all__ = ["CONFIGURED", "ClockSync", "clock_status", "log_clock_sync", "start_clock_sync"]

_STOP_WAIT: Final = 2.0
"""How long stopping waits for an entry being written (it may wait on a full queue)."""

_STA_UNSYNC: Final = 0x0040
_STA_NANO: Final = 0x2000
_TIME_ERROR: Final = 5
_STATES: Final = ("ok", "insert_leap", "delete_leap", "leap_in_progress", "leap_done", "error")


class _Timeval(ctypes.Structure):
    _fields_ = (("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long))


class _Timex(ctypes.Structure):
    """``struct timex`` of ``<sys/timex.h>`` (Linux), read with ``modes = 0``."""

    _fields_ = (
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time", _Timeval),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    )


def _adjtimex() -> dict[str, object] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        state = int(libc.adjtimex(ctypes.byref(timex)))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    nano = bool(timex.status & _STA_NANO)
    offset_us = timex.offset / 1000 if nano else float(timex.offset)
    synced = state != _TIME_ERROR and not timex.status & _STA_UNSYNC
    return {
        "synchronized": bool(synced),
        "source": "adjtimex",
        "state": _STATES[state] if 0 <= state < len(_STATES) else str(state),
        "offset_us": offset_us,
        "est_error_us": int(timex.esterror),
        "max_error_us": int(timex.maxerror),
        "tai_offset_s": int(timex.tai),
    }


def clock_status() -> dict[str, object]:
    """What the operating system reports about the wall clock now.

    Keys: ``synchronized`` (True, False, or None when unknown), ``source``
    (``adjtimex`` or ``unavailable``), on Linux ``state``, ``offset_us``,
    ``est_error_us``, ``max_error_us``, ``tai_offset_s``; always ``resolution_ns``
    (the clock's resolution as Python reports it) and ``clock`` (its implementation).
    """
    info = time.get_clock_info("time")
    status = _adjtimex() or {"synchronized": None, "source": "unavailable"}
    status["resolution_ns"] = max(1, round(info.resolution * 1e9))
    status["clock"] = info.implementation
    return status


def log_clock_sync(logger: str = "tapelog.clock") -> dict[str, object]:
    """Write one ``clock.sync`` entry (warning when the clock is not synchronised).

    Returns:
        The ``clock`` object written.
    """
    import tapelog

    status = clock_status()
    synced = status.get("synchronized")
    level = WARNING if synced is False else INFO
    text = {True: "synchronised", False: "NOT synchronised", None: "state unknown"}[
        synced if isinstance(synced, bool) else None
    ]
    tapelog.get_logger(logger).log(level, f"clock {text}", event="clock.sync", clock=status)
    return status


@final
class ClockSync:
    """A daemon thread writing a ``clock.sync`` entry at once, then every ``interval``."""

    def __init__(self, interval: float, logger: str = "tapelog.clock") -> None:
        if not interval > 0:
            raise ValueError(f"interval must be above 0 seconds, got {interval!r}")
        self.interval = interval
        self.logger = logger
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tapelog-clock", daemon=True)

    def start(self) -> ClockSync:
        """Start the thread; return self."""
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def _run(self) -> None:
        while True:
            log_clock_sync(self.logger)
            if self._stop.wait(self.interval):
                return

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread (after the entry being written, if any)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)


def start_clock_sync(interval: float = 60.0, logger: str = "tapelog.clock") -> ClockSync:
    """Write ``clock.sync`` entries every ``interval`` seconds until ``stop()``.

    Raises:
        ValueError: ``interval`` is not above 0.
    """
    return ClockSync(interval, logger).start()


@final
class ConfiguredSync:
    """The thread the ``[clock]`` configuration asks for: started, changed, stopped with it.

    ``apply`` runs at every ``configure()`` and reload: an unchanged ``[clock]`` keeps the
    running thread (no extra entry); a changed one replaces it, and the new one writes an
    entry at once; ``sync`` unset stops it. ``tapelog.shutdown()`` and the interpreter's
    exit stop it; a forked child starts its own, so each process's log has its evidence.
    """

    def __init__(self) -> None:
        self.config: ClockConfig | None = None
        self._sync: ClockSync | None = None
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        """Whether a configured thread is writing ``clock.sync`` entries."""
        sync = self._sync
        return sync is not None and sync.running

    def apply(self, config: ClockConfig) -> None:
        """Take a new ``[clock]``."""
        with self._lock:
            if config == self.config and (config.sync is None or self.running):
                return
            self._stop()
            self.config = config
            if config.sync is not None:
                self._sync = ClockSync(config.sync, config.logger).start()

    def stop(self) -> None:
        """Stop the thread until the next ``apply`` (``tapelog.shutdown()``, exit)."""
        with self._lock:
            self._stop()
            self.config = None

    def _stop(self) -> None:
        sync, self._sync = self._sync, None
        if sync is not None:
            sync.stop(_STOP_WAIT)

    def after_fork_in_child(self) -> None:
        """The parent's thread is not in the child: start the child's own.

        Called by the runtime's own fork handler, which runs after the dispatcher's: the
        new thread writes an entry at once, and a handler of its own (registered whenever
        this module happened to be imported) could run before the dispatcher had reset the
        child's queue, which then discarded that first entry.
        """
        self._lock = threading.Lock()
        self._sync = None
        config = self.config
        if config is not None and config.sync is not None:
            self._sync = ClockSync(config.sync, config.logger).start()


CONFIGURED: Final = ConfiguredSync()
"""The process's ``[clock]`` thread (``tapelog._runtime`` applies the configuration)."""

atexit.register(CONFIGURED.stop)
