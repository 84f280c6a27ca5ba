"""Hooks that log what nobody caught, then hand over to Python's usual handling.

``install_hooks()`` wraps ``sys.excepthook`` (the main thread), ``threading.excepthook``
(other threads), ``sys.unraisablehook`` (errors in ``__del__``, finalizers, callbacks) and
asyncio's ``call_exception_handler`` (a task whose exception nobody retrieved, a failing
callback). Each hook logs the entry, flushes it (the process may be about to end), then
calls the hook that was there before, so the usual traceback still reaches stderr. A hook
never raises, and keeps no reference to the exception or the object once it returns.
"""

from __future__ import annotations

import sys
import threading
from typing import TYPE_CHECKING, Any, Final

from ._capture import Budget, locals_enabled, safe_repr, snapshot


if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from ._info import ErrorInfo


__all__ = ["install_hooks", "installed", "uninstall_hooks"]

LOGGER_NAME: Final = "unhandled"
EVENT: Final = "error.unhandled"
FLUSH_SECONDS: Final = 5.0
_CRITICAL: Final = 50

_lock = threading.RLock()
_previous: dict[str, Any] = {}


def installed() -> bool:
    """Whether tapelog's hooks are in place."""
    return bool(_previous)


def _log(
    exc: BaseException,
    mechanism: str,
    message: str,
    thread: str | None,
    *,
    task: str | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """Write one ``error.unhandled`` entry and wait (bounded) until it is written."""
    from tapelog._runtime import RUNTIME

    logger = RUNTIME.get_logger(LOGGER_NAME, {})
    if not logger.is_enabled(_CRITICAL):
        return
    info: ErrorInfo = snapshot(exc, locals=locals_enabled())
    domain: dict[str, object] = {"error": info}
    if thread is not None:
        domain["thread"] = thread
    if task is not None:
        domain["task"] = task
    if info.frames:  # where it was raised: the innermost frame
        last = info.frames[-1]
        domain["source"] = f"{last.file}:{last.line}"
        domain["function"] = last.function
    fields: dict[str, object] = {"event": EVENT, "mechanism": mechanism, **(extra or {})}
    logger._emit(_CRITICAL, message, fields, domain)  # pyright: ignore[reportPrivateUsage]
    RUNTIME.flush(FLUSH_SECONDS)


def _excepthook(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    try:
        if not isinstance(exc, KeyboardInterrupt):
            _log(exc, "sys.excepthook", "unhandled exception", threading.current_thread().name)
    except Exception:  # noqa: S110 - a hook must reach the previous one whatever happens
        pass
    finally:
        previous = _previous.get("sys.excepthook", sys.__excepthook__)
        previous(exc_type, exc, tb)


def _threading_hook(args: Any) -> None:
    try:
        exc = args.exc_value
        if isinstance(exc, BaseException) and not isinstance(exc, SystemExit):
            thread = args.thread
            name = thread.name if thread is not None else threading.current_thread().name
            _log(exc, "threading.excepthook", "unhandled exception in a thread", name)
    except Exception:  # noqa: S110 - as above
        pass
    finally:
        previous = _previous.get("threading.excepthook", threading.__excepthook__)
        previous(args)


def _unraisable_hook(unraisable: Any) -> None:
    try:
        exc = unraisable.exc_value
        if isinstance(exc, BaseException):
            message = unraisable.err_msg or "Exception ignored in"
            extra: dict[str, object] = {}
            if unraisable.object is not None:
                # A repr only: keeping the object could bring it back to life.
                extra["ignored_in"] = safe_repr(unraisable.object, Budget())[:200]
                if not unraisable.err_msg:
                    message = f"Exception ignored in: {extra['ignored_in']}"
            _log(
                exc,
                "sys.unraisablehook",
                message,
                threading.current_thread().name,
                extra=extra,
            )
    except Exception:  # noqa: S110 - as above
        pass
    finally:
        previous = _previous.get("sys.unraisablehook", sys.__unraisablehook__)
        previous(unraisable)


def _asyncio_handler(loop: Any, context: dict[str, Any]) -> None:
    try:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            task = context.get("task") or context.get("future")
            get_name: Callable[[], str] | None = getattr(task, "get_name", None)
            name = get_name() if callable(get_name) else None
            _log(
                exc,
                "asyncio",
                str(context.get("message") or "unhandled exception in asyncio"),
                threading.current_thread().name,
                task=name,
            )
    except Exception:  # noqa: S110 - as above
        pass
    finally:
        original = _previous.get("asyncio")
        if original is not None:
            original(loop, context)


def install_hooks() -> None:
    """Log uncaught exceptions: main thread, other threads, asyncio, and unraisable ones.

    Each writes one ``error.unhandled`` entry at critical (logger ``unhandled``) with the
    ``error`` object, the thread and task names and where it was raised, waits up to five
    seconds for it to be written, then calls the hook that was installed before.
    Calling it again changes nothing. ``[errors] hooks = true`` calls it at ``configure()``.
    """
    import asyncio

    with _lock:
        if _previous:
            return
        _previous["sys.excepthook"] = sys.excepthook
        _previous["threading.excepthook"] = threading.excepthook
        _previous["sys.unraisablehook"] = sys.unraisablehook
        _previous["asyncio"] = asyncio.BaseEventLoop.call_exception_handler
        sys.excepthook = _excepthook
        threading.excepthook = _threading_hook
        sys.unraisablehook = _unraisable_hook

        original = _previous["asyncio"]

        def call_exception_handler(self: Any, context: dict[str, Any]) -> None:
            _asyncio_handler(self, context)

        call_exception_handler.__wrapped__ = original  # pyright: ignore[reportFunctionMemberAccess]
        asyncio.BaseEventLoop.call_exception_handler = call_exception_handler


def uninstall_hooks() -> None:
    """Put back the hooks that were there before ``install_hooks()`` (if still ours)."""
    import asyncio

    with _lock:
        if not _previous:
            return
        if sys.excepthook is _excepthook:
            sys.excepthook = _previous["sys.excepthook"]
        if threading.excepthook is _threading_hook:
            threading.excepthook = _previous["threading.excepthook"]
        if sys.unraisablehook is _unraisable_hook:
            sys.unraisablehook = _previous["sys.unraisablehook"]
        current = asyncio.BaseEventLoop.call_exception_handler
        if getattr(current, "__wrapped__", None) is _previous["asyncio"]:
            asyncio.BaseEventLoop.call_exception_handler = _previous["asyncio"]
        _previous.clear()
