"""The record a log call leaves in the queue: one plain tuple, cheap to build.

A tuple rather than an object: the caller allocates as little as possible (see
docs/architecture.md, "Records are tuples"), and the worker unpacks it once. The
positions have names (``LEVEL``, ``META``, ...) for code that reads one field, and
:func:`make_record` is the one constructor; ``Logger._log`` alone builds the tuple inline,
which saves a call on every enabled log call (tests/unit/test_event.py holds the two to
the same shape).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Final, TypeAlias, cast

from tapelog._context import EMPTY


__all__ = [
    "BOUND",
    "CONTEXT",
    "CORE_FIELDS",
    "DEFERRED",
    "EXC",
    "FIELDS",
    "LEVEL",
    "LOGGER",
    "MESSAGE",
    "META",
    "OPTIONAL_FIELDS",
    "TIME",
    "AnyRecord",
    "ExcInfo",
    "Fields",
    "Finisher",
    "Pairs",
    "Record",
    "deferrable",
    "finish_deferred",
    "is_deferred",
    "make_record",
]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
"""An exception as ``sys.exc_info()`` gives it."""

Pairs: TypeAlias = tuple[tuple[str, object], ...]
"""Fields as a tuple of ``(key, value)`` pairs: a mapping's form that the garbage collector
can stop tracking (a tuple holding a dict, even an empty one, is tracked for as long as it
lives). Loggers keep their bound fields and the context in this form, precomputed when
they are bound; see docs/architecture.md, "Records the collector leaves alone"."""

Fields: TypeAlias = "Mapping[str, object] | Pairs"
"""A record's call, bound or context fields: a mapping, or the same as pairs."""

Record: TypeAlias = tuple[
    int,  # 0 time_ns: wall clock at the call
    int,  # 1 level number
    str,  # 2 logger name
    str,  # 3 message
    Fields,  # 4 call fields
    Fields,  # 5 bound fields (immutable)
    Fields,  # 6 context fields (immutable snapshot)
    "ExcInfo | None",  # 7 exception, captured on the caller's thread
    "Mapping[str, object] | None",  # 8 meta: call-site facts and domain objects, or None
]
"""What one call leaves in the queue. Built on the caller's thread, read on the worker's."""

AnyRecord: TypeAlias = tuple[Any, ...]
"""A record as the worker takes it: any slot may hold something else than ``Record`` says
(a domain API's message is a deferred tuple; the builder must survive a broken record and
write it as such). The modules compiled by mypyc check declared types at run time, so
they take records under this type; see docs/architecture.md, "The optional compiled core".
"""


DEFERRED: Final = object()
"""The last item of a deferred message: ``(*facts, finisher number, DEFERRED)``.

A domain API (``order_placed``, ``order_filled``) puts such a tuple in a record's message
slot: the facts taken at the call, finished on the worker by the function registered
under that number (:func:`deferrable`), which returns the message text and the record's
meta with its domain objects (``trade``...) in place. The caller pays for one tuple; the
text, the nested object and every number's formatting are the worker's work. A plain
tuple of plain values (``object()`` and ints are not tracked either) is one the garbage
collector stops tracking, so a backlog of such records costs its collections nothing.
The markers go last so that a tuple the domain keeps anyway (an order's state after a
fill, held by the order table) can be the message itself, with the facts first.
"""

Finisher: TypeAlias = Callable[
    [tuple[object, ...], "Mapping[str, object] | None"],
    tuple[str, "Mapping[str, object] | None"],
]
"""Finishes a deferred message: the message text and the meta to build the entry with."""

_finishers: list[Finisher] = []


def deferrable(finish: Finisher) -> int:
    """Register a finisher; its number goes second to last in each message it finishes."""
    _finishers.append(finish)
    return len(_finishers) - 1


def is_deferred(message: object) -> bool:
    """Whether a record's message is a deferred one (not text)."""
    return type(message) is tuple and len(message) > 1 and message[-1] is DEFERRED  # pyright: ignore[reportUnknownArgumentType]


def finish_deferred(
    message: tuple[object, ...], meta: Mapping[str, object] | None
) -> tuple[str, Mapping[str, object] | None]:
    """The message text and meta of a deferred message, made by its finisher."""
    return _finishers[cast("int", message[-2])](message, meta)


CORE_FIELDS: Final = ("timestamp", "level", "logger", "message")
"""The keys every entry starts with, in this order."""

OPTIONAL_FIELDS: Final = ("pid", "thread", "host", "service", "source", "function")
"""The keys ``[fields] include`` may add to every entry, in the documentation's order."""

TIME: Final = 0
LEVEL: Final = 1
LOGGER: Final = 2
MESSAGE: Final = 3
FIELDS: Final = 4
BOUND: Final = 5
CONTEXT: Final = 6
EXC: Final = 7
META: Final = 8


def make_record(
    level: int,
    message: str,
    fields: Mapping[str, object],
    *,
    logger: str = "tapelog",
    bound: Fields = EMPTY,
    context: Fields = EMPTY,
    exc: ExcInfo | None = None,
    meta: Mapping[str, object] | None = None,
    time_ns: int | None = None,
) -> Record:
    """Build a record; by default one of tapelog's own (logger ``tapelog``, no context).

    Args:
        level: the level number.
        message: the message.
        fields: the call's fields (``event`` among them for tapelog's own entries).
        logger: the logger name.
        bound: the logger's bound fields.
        context: the context fields in effect.
        exc: an exception, as ``sys.exc_info()`` gives it.
        meta: call-site facts and domain objects (``skip_sink``, ``trade``, ...).
        time_ns: the wall clock in nanoseconds (default: now).
    """
    when = time.time_ns() if time_ns is None else time_ns
    return (when, level, logger, message, fields, bound, context, exc, meta)
