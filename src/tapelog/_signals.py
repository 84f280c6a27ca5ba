"""Opt-in signal handlers: SIGTERM drains the queue before the process ends; SIGHUP reloads."""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

from tapelog._runtime import RUNTIME


if TYPE_CHECKING:
    from types import FrameType


__all__ = ["install_signal_handlers"]

_SHUTDOWN_TIMEOUT = 5.0


def install_signal_handlers(*, sigterm: bool = True, sighup: bool = False) -> None:
    """Install tapelog's signal handlers; call from the main thread.

    Args:
        sigterm: on SIGTERM, write everything queued and close the sinks, then hand the
            signal to the handler that was there before (by default: end the process
            with the usual SIGTERM status).
        sighup: on SIGHUP, re-read the configuration (as ``tapelog.reload()`` does),
            within about a quarter of a second, on tapelog's watcher thread. ``tapelog
            reload PID`` sends this signal.
    """
    if sigterm:
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum: int, frame: FrameType | None) -> None:
            RUNTIME.shutdown(_SHUTDOWN_TIMEOUT)
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)

        signal.signal(signal.SIGTERM, on_term)
    if sighup:

        def on_hup(signum: int, frame: FrameType | None) -> None:
            del signum, frame
            # Only a flag: this handler may have interrupted the main thread while it
            # holds the runtime's lock, so the reload itself runs on the watcher thread.
            RUNTIME.request_reload()

        signal.signal(signal.SIGHUP, on_hup)
        RUNTIME.serve_reload_requests()
