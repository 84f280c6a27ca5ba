"""The caller's side: ``Logger`` and ``get_logger``. No I/O happens here.

A call pays for the level gate (two attribute loads and a compare), one clock read, one
tuple and one ``put``. Everything else happens on the worker thread. This module never
imports sinks, formats or config, which keeps the layers one-way and imports cheap.
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from time import time_ns
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, cast, final

from tapelog._context import EMPTY, get_current
from tapelog._levels import CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING, parse_level


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from tapelog._event import ExcInfo, Pairs, Record


__all__ = ["Logger", "LoggerCore", "name_under", "set_otel_context", "set_outlet"]


@final
class LoggerCore:
    """What every ``Logger`` of one name shares: the name and its effective level.

    The runtime rewrites ``level`` in place when the configuration or ``set_level``
    changes it, so bound copies of a logger see the change at once.
    """

    __slots__ = ("level", "name")

    def __init__(self, name: str, level: int) -> None:
        self.name = name
        self.level = level


class Outlet(Protocol):
    """Where records go: the dispatcher.

    A logger appends to ``queue`` itself while it is shorter than ``room`` (and calls
    ``wake`` when the worker is ``idle``); otherwise it calls ``slow_put``, which applies
    the mode and the overflow policy. ``put`` does the same for other callers.
    """

    queue: deque[Any]
    room: int
    idle: bool
    wake: Callable[[], None]
    slow_put: Callable[[Record], None]

    def put(self, record: Record, /) -> None:
        """Hand one record over."""
        ...


class _Nowhere:
    """The outlet before the runtime exists; drops records (nothing can log that early)."""

    def __init__(self) -> None:
        self.queue: deque[Any] = deque()
        self.room = 0
        self.idle = False
        self.wake: Callable[[], None] = _nothing
        self.slow_put: Callable[[Record], None] = _drop
        self.put: Callable[[Record], None] = _drop


def _drop(record: Record) -> None:  # pragma: no cover - replaced at import
    del record


def _nothing() -> None:  # pragma: no cover - replaced at import
    return None


_outlet: Outlet = _Nowhere()


def name_under(name: str, prefixes: Iterable[str]) -> bool:
    """Whether the dotted ``name`` is one of ``prefixes`` or below one.

    ``shop.orders`` is under ``shop``; ``shopping`` is not. The one rule for logger
    prefixes in levels, sink filters and ``tapelog query --logger``.

    Example:
        >>> name_under("shop.orders", ["proxy", "shop"]), name_under("shopping", ["shop"])
        (True, False)
    """
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def set_outlet(outlet: Outlet) -> None:
    """Point every logger at ``outlet``. Called once, by ``tapelog._runtime``."""
    global _outlet
    _outlet = outlet


#: Optional call-site fields (``thread``, ``source``, ``function``) the config asked for.
#: Empty in the common case, so the hot path pays one truthiness test.
CALLSITE: set[str] = set()

#: OpenTelemetry's current-context getter when its API is installed, else None.
_otel_context: Callable[[], object] | None = None


def set_otel_context(getter: Callable[[], object] | None) -> None:
    """Capture OpenTelemetry's context with ``getter`` on every call (None: do not)."""
    global _otel_context
    _otel_context = getter


def _callsite(depth: int) -> dict[str, object] | None:
    """Read the facts of the frame ``depth`` levels above the caller of this function."""
    meta: dict[str, object] = {}
    if _otel_context is not None:
        otel = _otel_context()
        if otel:  # an empty OpenTelemetry context holds no span: nothing to carry
            meta["otel"] = otel
    if "thread" in CALLSITE:
        meta["thread"] = threading.current_thread().name
    if "source" in CALLSITE or "function" in CALLSITE:
        frame = sys._getframe(depth + 1)  # pyright: ignore[reportPrivateUsage]
        meta["source"] = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        meta["function"] = frame.f_code.co_name
    return meta or None


#: Whether ``[errors] locals`` is on: an exception's locals are read on the caller's thread.
ERROR_LOCALS: list[bool] = [False]


def _task_name() -> str | None:
    """The running asyncio task's name, if the caller runs in one."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no running loop in this thread
        return None
    return task.get_name() if task is not None else None


def _error_site(
    meta: Mapping[str, object] | None, exc: ExcInfo, depth: int
) -> tuple[dict[str, object], ExcInfo | None]:
    """The execution context an error entry carries: thread, task and call site.

    With ``[errors] locals`` on, the exception is read here, on the caller's thread, while
    its locals still hold the values they had when it was logged; the record then carries
    that snapshot instead of the live exception.
    """
    site: dict[str, object] = dict(meta) if meta else {}
    site["thread"] = threading.current_thread().name
    if "source" not in site:
        frame = sys._getframe(depth + 1)  # pyright: ignore[reportPrivateUsage]
        site["source"] = f"{frame.f_code.co_filename}:{frame.f_lineno}"
        site["function"] = frame.f_code.co_name
    task = _task_name()
    if task is not None:
        site["task"] = task
    if ERROR_LOCALS[0] and "error" not in site:
        from tapelog.errors._capture import snapshot

        site["error"] = snapshot(exc[1], locals=True)
        return site, None
    return site, exc


def exc_tuple(exc_info: object) -> ExcInfo | None:
    """Normalise the ``exc_info=`` forms: True, an exception, or a ``sys.exc_info()`` tuple."""
    if exc_info is True:
        current = sys.exc_info()[1]
        if current is None:
            return None
        return (type(current), current, current.__traceback__)
    if isinstance(exc_info, BaseException):
        return (type(exc_info), exc_info, exc_info.__traceback__)
    if isinstance(exc_info, tuple):
        parts = cast("tuple[object, ...]", exc_info)
        value = parts[1] if len(parts) == 3 else None  # noqa: PLR2004 - the exc_info shape
        if isinstance(value, BaseException):
            return (type(value), value, value.__traceback__)
    return None


class LevelMethod(Protocol):
    """A logger's ``info`` and its five siblings, as a caller sees them."""

    def __call__(self, message: str, /, **fields: object) -> None:
        """Log ``message`` with ``fields`` if the logger's level lets this level through."""
        ...


def _level_method(level: int, name: str) -> LevelMethod:
    """One of the six level methods (``Logger.info`` ...), made once per level.

    Each inlines ``Logger._log``'s common case (no ``exc_info``, call-site fields off):
    the record with the exception None and ``meta`` None or the active span's context,
    and ``Dispatcher.put``'s three steps. That saves a Python call (about 30 ns, a tenth
    of the caller's cost); written once here rather than six times, with the level held
    by the closure (as cheap to read as a constant). tests/unit/test_event.py holds it to
    ``make_record`` and ``Dispatcher.put``. Whatever else a call carries goes to ``_log``.
    """

    def method(self: Logger, message: str, /, **fields: object) -> None:
        core = self._core  # pyright: ignore[reportPrivateUsage]
        if core.level <= level:
            if CALLSITE or "exc_info" in fields:
                self._log(level, message, fields)  # pyright: ignore[reportPrivateUsage]
                return
            record: Record = (
                time_ns(),
                level,
                core.name,
                message,
                fields or (),
                self._pairs,  # pyright: ignore[reportPrivateUsage]
                get_current(),
                None,
                {"otel": otel} if _otel_context is not None and (otel := _otel_context()) else None,
            )
            outlet = _outlet
            queue = outlet.queue
            if len(queue) < outlet.room:
                queue.append(record)
                if outlet.idle:
                    outlet.wake()
            else:
                outlet.slow_put(record)

    method.__name__ = name
    method.__qualname__ = f"Logger.{name}"
    method.__doc__ = f"Log at level ``{name}`` ({level})."
    return cast("LevelMethod", method)


@final
class Logger:
    """A named logger with bound fields. Cheap to copy; safe to share between threads.

    Get one with ``tapelog.get_logger()``. Every emitting method takes the message
    positionally and any fields by keyword; ``exc_info=`` attaches an exception.

    Example:
        >>> import tapelog
        >>> log = tapelog.get_logger("shop").bind(request_id="r-1")
        >>> log.name
        'shop'
    """

    __slots__ = ("_bound", "_core", "_pairs")

    def __init__(self, core: LoggerCore, bound: Mapping[str, object] = EMPTY) -> None:
        self._core = core
        self._bound = bound
        # What records carry: the bound fields as pairs, made once here (a record holding
        # a dict is never untracked by the garbage collector; see tapelog._event.Pairs).
        self._pairs: Pairs = tuple(bound.items()) if bound else ()

    @property
    def name(self) -> str:
        """The dotted logger name."""
        return self._core.name

    @property
    def bound(self) -> Mapping[str, object]:
        """The fields bound to this logger (read-only)."""
        return MappingProxyType(self._bound)

    def __repr__(self) -> str:
        return f"<Logger {self._core.name!r} bound={dict(self._bound)!r}>"

    def _log(self, level: int, message: str, fields: dict[str, object]) -> None:
        """Build the record and hand it over.

        The six level methods (``info`` ...) inline the common case (``_level_method``);
        whatever else a call carries comes here.
        """
        exc = exc_tuple(fields.pop("exc_info")) if "exc_info" in fields else None
        if CALLSITE:
            meta = _callsite(2)
        elif _otel_context is not None and (otel := _otel_context()):
            meta = {"otel": otel}  # a span is active: the worker writes its ids
        else:
            meta = None
        if exc is not None:
            meta, exc = _error_site(meta, exc, 2)
        # make_record's tuple, built inline: a call less on every enabled log call.
        record: Record = (
            time_ns(),
            level,
            self._core.name,
            message,
            fields or (),  # no dict in the record when the call gave no fields
            self._pairs,
            get_current(),
            exc,
            meta,
        )
        # Dispatcher.put's three steps, inlined: a call less on every enabled log call.
        outlet = _outlet
        queue = outlet.queue
        if len(queue) < outlet.room:
            queue.append(record)
            if outlet.idle:
                outlet.wake()
        else:
            outlet.slow_put(record)

    def _emit(
        self,
        level: int,
        message: str,
        fields: dict[str, object] | Pairs,
        domain: Mapping[str, object] | None,
        depth: int = 1,
        *,
        when: int | None = None,
    ) -> None:
        """Log one entry that carries tapelog's own objects: the domain modules' door.

        ``domain`` maps reserved keys (``trade``, ``metric``, ``error``, ``audit``) to the
        objects the domain APIs built; the worker writes them under those keys, where a
        user's field of the same name would be kept aside as ``key_``. None: the entry's
        domain objects come with its deferred message (``tapelog._event.DEFERRED``).
        ``fields`` may hold ``event``, and may be pairs (a domain API's constant ones:
        a record without a dict is one the garbage collector stops tracking). The caller
        checks the level gate. ``depth`` counts the frames between the user's call and this
        method, for the call-site fields. ``when`` is the call's time in nanoseconds when
        the caller read the clock already (else it is read here).
        """
        exc = (
            exc_tuple(fields.pop("exc_info"))
            if type(fields) is dict and "exc_info" in fields
            else None
        )
        # ``domain`` is the record's meta as it is unless facts join it (the caller hands
        # it over and never changes it after): no copy on a domain event's common path.
        meta: Mapping[str, object] | None = domain
        if CALLSITE:
            extra = _callsite(depth + 1)
            if extra:
                meta = {**domain, **extra} if domain else extra
        elif _otel_context is not None and (otel := _otel_context()):
            meta = {**(domain or {}), "otel": otel}  # a span is active: the worker writes its ids
        if exc is not None:
            meta, exc = _error_site(meta, exc, depth + 1)
        # As in ``_log``, the tuple is built inline (make_record's keywords cost a trade
        # event's caller a measurable share, #14); the hand-over is the outlet's own put,
        # which only ``_log`` inlines (one call, about 15 ns of a trade event's 2.5 us).
        _outlet.put(
            (
                time_ns() if when is None else when,
                level,
                self._core.name,
                message,
                fields,
                self._pairs,
                get_current(),
                exc,
                meta,
            )
        )

    trace: LevelMethod = _level_method(TRACE, "trace")
    debug: LevelMethod = _level_method(DEBUG, "debug")
    info: LevelMethod = _level_method(INFO, "info")
    warning: LevelMethod = _level_method(WARNING, "warning")
    error: LevelMethod = _level_method(ERROR, "error")
    critical: LevelMethod = _level_method(CRITICAL, "critical")

    def exception(self, message: str, /, **fields: object) -> None:
        """Log at level ``error`` with the exception being handled (or ``exc_info=``)."""
        if self._core.level <= ERROR:
            fields.setdefault("exc_info", True)
            self._log(ERROR, message, fields)

    def log(self, level: int | str, message: str, /, **fields: object) -> None:
        """Log at a level given by name or number.

        Raises:
            ValueError: ``level`` is not a level name or a number in 0..100.
        """
        number = parse_level(level)
        if self._core.level <= number:
            self._log(number, message, fields)

    def is_enabled(self, level: int | str) -> bool:
        """Tell whether a call at ``level`` would be logged by this logger."""
        return self._core.level <= parse_level(level)

    def bind(self, **fields: object) -> Logger:
        """Return a copy of this logger with more fields bound; this one is unchanged."""
        return Logger(self._core, {**self._bound, **fields})

    def unbind(self, *keys: str) -> Logger:
        """Return a copy of this logger without the given bound fields."""
        kept = {k: v for k, v in self._bound.items() if k not in keys}
        return Logger(self._core, kept or EMPTY)
