"""The worker's first step: turn a queued ``Record`` into an entry (an ordered dict).

Required keys come first (``timestamp``, ``level``, ``logger``, ``message``), then
``event``, ``seq``, the optional core fields, the user's fields (context < bound < call
fields), and tapelog's nested objects. User fields never overwrite a reserved key: they
are kept as ``key_``.
"""

from __future__ import annotations

import os
import re
import socket
import time
import traceback
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from tapelog._levels import LEVEL_NAMES, level_name
from tapelog._otel import trace_fields
from tapelog.processors import clean_fields, clean_value


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tapelog._event import ExcInfo, Record
    from tapelog.processors import FieldSelector, JsonValue, Redactor
    from tapelog.typing import EventDict


__all__ = ["RESERVED", "EntryBuilder", "SeqCounter", "error_object"]

RESERVED: Final = frozenset(
    {
        "timestamp",
        "level",
        "logger",
        "message",
        "seq",
        "trace_id",
        "span_id",
        "trace_flags",
        "error",
        "trade",
        "metric",
        "audit",
        "pid",
        "thread",
        "host",
        "service",
        "source",
        "function",
    }
)
"""Keys only tapelog writes; a user field with one of these names is kept as ``name_``."""

# A valid ``event`` is taken out of the user fields before they are merged, so one left
# there breaks the schema's pattern and is kept aside like a reserved key.
_KEPT_ASIDE: Final = RESERVED | {"event"}

OPTIONAL_FIELDS: Final = frozenset({"pid", "thread", "host", "service", "source", "function"})

_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None), Decimal, bytes, tuple, frozenset})
_CLEAN_CACHE_SIZE: Final = 4096
_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_BAD_LOGGER_CHARS: Final = re.compile(r"[\x00-\x20\s]")
_DOMAIN_KEYS: Final = ("trade", "metric", "audit")


def error_object(exc: ExcInfo, redact: Callable[[str], str]) -> dict[str, JsonValue]:
    """Describe an exception as the entry's ``error`` object: type, message, stack trace."""
    etype, value, tb = exc
    module = getattr(etype, "__module__", "builtins")
    qualname = getattr(etype, "__qualname__", etype.__name__)
    type_name = qualname if module in {"builtins", "__main__"} else f"{module}.{qualname}"
    try:
        message = str(value)
    except Exception:
        message = f"<unprintable {type_name}>"
    try:
        stack = "".join(traceback.format_exception(etype, value, tb))
    except Exception:  # a broken __str__ or a cycle tripping the formatter
        stack = f"{type_name}: {message}\n"
    return {"type": type_name, "message": redact(message), "stack_trace": redact(stack)}


class SeqCounter:
    """The process's ``seq`` counter.

    Shared by every pipeline built in this process, so a reconfiguration does not
    restart it; reset in a forked child.
    """

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


def _free_key(entry: EventDict, key: str) -> str:
    """``key_`` (or ``key__`` ...): a name for a user field that would collide."""
    key = f"{key}_"
    while key in entry:
        key = f"{key}_"
    return key


def _safe_text(text: str) -> str:
    """Escape lone surrogates, which no UTF-8 encoder accepts, so the line stays valid."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _identity(text: str) -> str:
    return text


class EntryBuilder:
    """Builds entries from records. One per pipeline; used only by the worker.

    Args:
        redactor: applied to the message and every field value; ``None`` turns it off.
        include: optional core fields to add (``pid``, ``host``, ``service`` ...).
        service: the value of ``service``.
        selector: the ``[fields]`` exclude and rename step, if configured.
    """

    __slots__ = (
        "_clean_cache",
        "_host",
        "_include",
        "_logger_names",
        "_pid",
        "_prefix",
        "_redact",
        "_redactor",
        "_second",
        "_selector",
        "_service",
        "seq",
    )

    def __init__(
        self,
        redactor: Redactor | None = None,
        include: frozenset[str] = frozenset(),
        service: str | None = None,
        selector: FieldSelector | None = None,
        seq: SeqCounter | None = None,
    ) -> None:
        self._redactor = redactor
        self._redact: Callable[[str], str] = (
            redactor.redact_text if redactor is not None else _identity
        )
        self._include = include
        self._service = service
        self._selector = selector
        self._host = socket.gethostname() if "host" in include else ""
        self._pid = os.getpid()
        self._second = -1
        self._prefix = ""
        self._logger_names: dict[str, str] = {}
        self._clean_cache: dict[int, tuple[Mapping[str, object], dict[str, JsonValue]]] = {}
        self.seq = seq if seq is not None else SeqCounter()

    def after_fork(self) -> None:
        """A forked child has its own pid and its own ``seq`` counting from zero."""
        self._pid = os.getpid()
        self.seq.value = 0

    def timestamp(self, time_ns: int) -> str:
        """RFC 3339 UTC with exactly six fractional digits; the second's prefix is cached."""
        second, rest = divmod(time_ns, 1_000_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{rest // 1000:06d}Z"

    def _logger_name(self, name: str) -> str:
        clean = self._logger_names.get(name)
        if clean is None:
            clean = _BAD_LOGGER_CHARS.sub("_", name) or "root"
            if len(self._logger_names) < 10_000:  # noqa: PLR2004 - a bound, not a tunable
                self._logger_names[name] = clean
        return clean

    def build(self, record: Record) -> EventDict:
        """Turn one record into an entry. Never raises for any field value."""
        # This runs once per entry on the worker: lookups are inlined on purpose.
        time_ns, level, name, message, fields, bound, context, exc, meta = record
        if type(message) is not str:  # the API says str; a stray object still logs
            message = str(clean_value(message, None))
        second, rest = divmod(time_ns, 1_000_000_000)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        logger = self._logger_names.get(name) or self._logger_name(name)
        message = self._redact(message)
        entry: EventDict = {
            "timestamp": f"{self._prefix}.{rest // 1000:06d}Z",
            "level": LEVEL_NAMES.get(level) or level_name(level),
            "logger": logger,
            "message": message if message.isascii() else _safe_text(message),
        }
        user = self._user_fields(context, bound, fields)
        event = user.get("event")
        if isinstance(event, str) and _EVENT_NAME.fullmatch(event):
            entry["event"] = user.pop("event")
        seq = self.seq
        seq.value += 1
        entry["seq"] = seq.value
        if meta is not None:
            otel = meta.get("otel")
            if otel is not None:
                ids = trace_fields(otel)
                if ids is not None:
                    entry.update(ids)
        include = self._include
        if include:
            self._add_optional(entry, include, meta)
        if user:
            if _KEPT_ASIDE.isdisjoint(user) and entry.keys().isdisjoint(user):
                entry.update(user)
            else:
                for key, value in user.items():
                    if key in _KEPT_ASIDE or key in entry:
                        key = _free_key(entry, key)  # noqa: PLW2901 - the kept-aside name
                    entry[key] = value
        if exc is not None:
            entry["error"] = error_object(exc, self._redact)
        if meta is not None:
            for key in _DOMAIN_KEYS:
                if key in meta:
                    entry[key] = clean_value(meta[key], self._redactor)
            if "error" in meta:
                entry["error"] = clean_value(meta["error"], self._redactor)
        if self._selector is not None:
            return self._selector(entry)
        return entry

    def _user_fields(
        self,
        context: Mapping[str, object],
        bound: Mapping[str, object],
        fields: Mapping[str, object],
    ) -> dict[str, JsonValue]:
        """Context < bound < call fields, cleaned and redacted, in a new dict."""
        if not context and not bound:
            return clean_fields(fields, self._redactor) if fields else {}
        merged: dict[str, JsonValue] = {}
        if context:
            merged.update(self._cleaned_once(context))
        if bound:
            merged.update(self._cleaned_once(bound))
        if fields:
            merged.update(clean_fields(fields, self._redactor))
        return merged

    def _cleaned_once(self, mapping: Mapping[str, object]) -> dict[str, JsonValue]:
        """Clean a context or bound mapping, reusing the result while the mapping lives.

        These mappings are never mutated (binding makes new ones) and the same one comes
        with every entry of a logger or a request, so cleaning it once saves most of the
        worker's time per entry. Only mappings of immutable values are cached: a bound
        list the caller mutates later must show its current value.
        """
        key = id(mapping)
        hit = self._clean_cache.get(key)
        if hit is not None and hit[0] is mapping:
            return hit[1]
        cleaned = clean_fields(mapping, self._redactor)
        if all(type(value) in _IMMUTABLE for value in mapping.values()):
            if len(self._clean_cache) >= _CLEAN_CACHE_SIZE:
                self._clean_cache.clear()
            # The cache holds the mapping itself, so its id cannot be reused meanwhile.
            self._clean_cache[key] = (mapping, cleaned)
        return cleaned

    def _add_optional(
        self, entry: EventDict, include: frozenset[str], meta: Mapping[str, object] | None
    ) -> None:
        if "pid" in include:
            entry["pid"] = self._pid
        if "host" in include:
            entry["host"] = self._host
        if "service" in include and self._service:
            entry["service"] = self._service
        if meta is not None:
            for key in ("thread", "source", "function"):
                if key in include and key in meta:
                    entry[key] = str(meta[key])
