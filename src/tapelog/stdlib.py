"""Bridges to and from the standard ``logging`` module.

Into tapelog: ``capture_stdlib()`` routes every ``logging`` record (third-party
libraries included) into tapelog, with its level, ``extra=`` fields and ``exc_info``.

From ``logging`` configurations: ``TapelogHandler`` (hand records to tapelog) and
``TapelogFormatter`` (render a record as a tapelog JSON line in place) can be named in a
``dictConfig``::

    "handlers": {"tapelog": {"()": "tapelog.stdlib.TapelogHandler"}}
    "formatters": {"json": {"()": "tapelog.stdlib.TapelogFormatter"}}
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Final, final

from tapelog._context import get_current as _get_current
from tapelog._event import make_record as _make_record
from tapelog._levels import parse_level as _parse_level


if TYPE_CHECKING:
    from tapelog._event import ExcInfo, Record


__all__ = ["TapelogFormatter", "TapelogHandler", "capture_stdlib"]

#: Attributes every ``LogRecord`` has; anything else came from ``extra=``.
_RECORD_ATTRIBUTES: Final = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys()
) | {"message", "asctime", "taskName"}


def _record_to_tapelog(record: logging.LogRecord) -> Record:
    fields = {
        k: v
        for k, v in record.__dict__.items()
        if k not in _RECORD_ATTRIBUTES and not k.startswith("_")
    }
    try:
        message = record.getMessage()
    except Exception as problem:  # a bad %-format in a third-party call must not lose the entry
        message = f"{record.msg!r} (unformattable with args {record.args!r}: {problem})"
    exc: ExcInfo | None = None
    if record.exc_info:
        etype, value, tb = record.exc_info
        if etype is not None and value is not None:
            exc = (etype, value, tb)
    meta = {
        "source": f"{record.pathname}:{record.lineno}",
        "function": record.funcName,
        "thread": record.threadName or "",
    }
    time_ns = int(record.created * 1_000_000_000)
    return _make_record(
        record.levelno,
        message,
        fields,
        logger=record.name,
        context=_get_current(),
        exc=exc,
        meta=meta,
        time_ns=time_ns,
    )


@final
class TapelogHandler(logging.Handler):
    """A ``logging.Handler`` that hands records to tapelog's queue.

    tapelog's own level for the record's logger name applies on top of the handler's.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Queue the record for tapelog's worker; never raises."""
        from tapelog._runtime import RUNTIME

        try:
            if RUNTIME.level_for(record.name) > record.levelno:
                return
            RUNTIME.dispatcher.put(_record_to_tapelog(record))
        except Exception:
            self.handleError(record)


@final
class TapelogFormatter(logging.Formatter):
    """A ``logging.Formatter`` that renders a record as one tapelog JSON entry.

    Redaction and value conversion apply as in tapelog (default redaction settings).
    For users who keep their ``logging`` handlers and want tapelog's entries.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__()
        del args, kwargs
        from tapelog._entry import EntryBuilder
        from tapelog.formats._json import JsonFormat
        from tapelog.processors._redact import Redactor

        self._builder = EntryBuilder(redactor=Redactor())
        self._format = JsonFormat()
        # One formatter may serve handlers on several threads; the builder's caches and
        # its seq counter are made for one thread at a time. (CPython's GIL happens to
        # make the counter's two steps atomic today; a free-threaded build would not.)
        self._building = threading.Lock()

    def format(self, record: logging.LogRecord) -> str:
        """Return the entry as a JSON string without the trailing newline."""
        converted = _record_to_tapelog(record)
        with self._building:
            entry = self._builder.build(converted)
        return self._format(entry).decode("utf-8").rstrip("\n")


def capture_stdlib(level: int | str = "info", *, replace_handlers: bool = False) -> logging.Handler:
    """Route the standard ``logging`` module into tapelog.

    Adds one ``TapelogHandler`` to the root logger and sets the root level, so records
    from any library arrive as tapelog entries with their ``extra=`` fields, level and
    exception. Handlers already on the root logger (a Sentry handler, a file handler)
    keep receiving records, unless ``replace_handlers`` removes them. Calling it again
    replaces the ``TapelogHandler`` it added, never adding a second one.

    Args:
        level: the lowest level the standard library should pass on.
        replace_handlers: remove the root logger's other handlers too (records then go
            to tapelog only; use it when a ``basicConfig`` handler would print twice).

    Returns:
        The installed handler.
    """
    number = _parse_level(level)
    handler = TapelogHandler(level=number)
    root = logging.getLogger()
    for old in list(root.handlers):
        if replace_handlers or isinstance(old, TapelogHandler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(number)
    return handler
