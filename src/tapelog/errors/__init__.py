"""Errors you can debug from the log alone.

``capture(exc)`` turns an exception into an :class:`ErrorInfo`: its type, message, frames
(with the source line and the failing expression's columns, so rendering needs no source
file), notes, chain and group members, network facts, and, when asked, redacted locals.
``ErrorInfo.to_dict()`` is the ``error`` object every entry with an exception carries;
``ErrorInfo.from_dict(d).render()`` prints the traceback again, byte for byte.
``install_hooks()`` logs what nobody caught (main thread, threads, asyncio, unraisable).
"""

from __future__ import annotations

from ._capture import LIMITS, capture
from ._hooks import install_hooks, uninstall_hooks
from ._info import ErrorInfo


__all__ = ["LIMITS", "ErrorInfo", "capture", "install_hooks", "uninstall_hooks"]
