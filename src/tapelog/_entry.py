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
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, TypeAlias, TypeVar, cast

import orjson

from tapelog._event import LEVEL, LOGGER, MESSAGE, TIME, finish_deferred, is_deferred
from tapelog._levels import LEVEL_NAMES, level_name
from tapelog._otel import trace_fields
from tapelog.errors._capture import finish, snapshot, type_name
from tapelog.errors._info import ErrorInfo
from tapelog.formats._json import JsonFormat, escape_separators
from tapelog.processors._normalize import (
    clean_field_value,
    clean_fields,
    clean_value,
    decimal_text,
    sanitize_key,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    from tapelog._event import AnyRecord, ExcInfo, Fields
    from tapelog.processors._fields import FieldSelector
    from tapelog.processors._normalize import JsonValue
    from tapelog.processors._redact import Redactor
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

_IMMUTABLE: Final = frozenset({str, int, float, bool, type(None), Decimal, bytes, tuple, frozenset})
_EVENT_NAME: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*")
_BAD_LOGGER_CHARS: Final = re.compile(r"[\x00-\x20\s]")
_DOMAIN_KEYS: Final = ("trade", "metric", "audit")
# Keys of a ``trade`` object whose text tapelog formats itself, in this alphabet
# (RFC 3339 UTC times: digits, "-", ":", ".", "T", "Z"); see ``EntryBuilder._own_object``.
_OWN_TIME_KEYS: Final = frozenset({"transact_time"})
_TIME_ALPHABET: Final = "0123456789-:.TZ"
_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
_SHORT_MIN: Final = -(2**61)  # ints the compiled build holds unboxed (and their negatives)
_SHORT_MAX: Final = 2**61
_K = TypeVar("_K")
_V = TypeVar("_V")
_CACHE_SIZE: Final = 4096  # each of the builder's caches is cleared when it reaches this
_CACHEABLE_LENGTH: Final = 256  # longer keys and messages are never cached
_CACHEABLE_TEXT_LENGTH: Final = 64  # as the redactor's own text cache

# What the fast path does with a call field's key (see ``EntryBuilder.build``).
_PLAIN: Final = 1  # a valid name, not reserved: the value goes in under this key
_SECRET: Final = 2  # a sensitive name: the replacement goes in
_GENERAL: Final = 3  # needs sanitising or keeping aside: the general path builds the entry

# "000Z" .. "999Z": the microseconds within a millisecond, as the timestamp ends.
_MICROS: Final = tuple(f"{micros:03d}Z" for micros in range(1000))
_HEAD: Final[dict[str, JsonValue]] = {
    "timestamp": "",
    "level": "",
    "logger": "",
    "message": "",
    "seq": 0,
}
"""The keys every fast-path entry starts with, in order; the values are placeholders."""
_Shared: TypeAlias = tuple[
    "Fields | None",
    "Fields | None",
    "dict[str, JsonValue] | None",
    bytes | None,
    set[str],
    frozenset[str],
    set[str],
]
"""Bound and context mappings and their template; for ``json_lines``, the template's fields
after the head as JSON (None when the template is not kept), the call keys found fit to
splice after them, the template's own keys, and the call keys found unfit."""
_NOTHING_SHARED: Final[_Shared] = (None, None, None, None, set(), frozenset(), set())
_SITES: Final = 1024  # call keys remembered per template; the set is emptied when full
_GIVE_UP: Final = 32  # records in a row for the general way: json_lines sends the rest there
_MICROS_JSON: Final = tuple(text.encode() for text in _MICROS)
_NEWLINE: Final = orjson.OPT_APPEND_NEWLINE
_COMMA: Final = ord(",")
_batch_json: Final = JsonFormat().batch
# For ``EntryBuilder._bodies``: the value types a batch's call fields may hold to be
# encoded in one call, a record's call fields, and the bound on the texts found fit.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_DICTS: Final = frozenset({dict})
_RECORD_LENGTHS: Final = frozenset({9})
# Batches that skip the attempt after one whose values could not be encoded at once: a
# logger that passes a Decimal or a list in every call pays for the attempt (hashing
# its values) once in 17 batches.
_BULK_WAIT: Final = 16
_NO_RUN: Final = object()  # what no record field is (see _json_lines_bulk)
# No subclass, dataclass or datetime written natively: such values must be cleaned.
_STRICT: Final = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
_fields_of: Final[Callable[[AnyRecord], object]] = itemgetter(4)
_values_of: Final = cast(
    "Callable[[dict[str, object]], Iterable[object]]",
    dict.values,  # pyright: ignore[reportUnknownMemberType]
)


def error_object(exc: ExcInfo | ErrorInfo, redactor: Redactor | None) -> dict[str, JsonValue]:
    """The entry's ``error`` object, redacted: see ``tapelog.errors``.

    It holds the type, message, stack trace, frames, chain, group members, notes and
    network facts.

    ``exc`` is a live exception (read here, on the worker, without locals) or the snapshot
    the caller took (with locals). Never raises: if reading the exception fails, the
    object still has its type, message and the stdlib's text.
    """
    try:
        info = exc if isinstance(exc, ErrorInfo) else snapshot(exc[1])
        info = finish(info, redactor)
        data = info.to_dict()
        text = info.render(locals=False)  # what Python printed; locals stay in frames
        rest = {key: value for key, value in data.items() if key not in {"type", "message"}}
        return {
            "type": data["type"],
            "message": _safe_text(data["message"]),
            "stack_trace": _safe_text(text),
            **rest,
        }
    except Exception:  # a hostile exception; keep what the stdlib can say
        return _plain_error(exc, redactor)


def _plain_error(exc: ExcInfo | ErrorInfo, redactor: Redactor | None) -> dict[str, JsonValue]:
    redact: Callable[[str], str] = redactor.redact_text if redactor is not None else _identity
    if isinstance(exc, ErrorInfo):
        return {"type": exc.type or "Exception", "message": redact(exc.message), "truncated": True}
    etype, value, tb = exc
    name = type_name(etype)
    try:
        message = str(value)
    except Exception:
        message = f"<unprintable {name}>"
    try:
        stack = "".join(traceback.format_exception(etype, value, tb))
    except Exception:  # a broken __str__ or a cycle tripping the formatter
        stack = f"{name}: {message}\n"
    return {
        "type": name,
        "message": _safe_text(redact(message)),
        "stack_trace": _safe_text(redact(stack)),
    }


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


def _remember(cache: dict[_K, _V], key: _K, value: _V) -> None:
    """Store in one of the builder's bounded caches, emptying it first when full."""
    if len(cache) >= _CACHE_SIZE:
        cache.clear()
    cache[key] = value


def _text_of(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _after_head(
    template: EventDict | None,
) -> tuple[bytes | None, set[str], frozenset[str], set[str]]:
    """A template's fields after the head (``seq``), as JSON to splice after it, and their keys.

    ``b""`` when there are none; None when the template is None or its values will not
    encode as they are (``json_lines`` then writes such records the general way).
    """
    if template is None:
        return None, set(), frozenset(), set()
    after = {key: value for key, value in template.items() if key not in _HEAD}
    try:
        text = orjson.dumps(after)
    except Exception:
        return None, set(), frozenset(), set()
    return (b"," + text[1:-1] if after else b""), set(), frozenset(template), set()


def _set_aside(pending: list[AnyRecord], record: AnyRecord, remaining: Iterator[AnyRecord]) -> None:
    """Keep ``record`` for the general way; from ``_GIVE_UP`` kept, the rest of the batch too."""
    pending.append(record)
    if len(pending) >= _GIVE_UP:  # a run this long: the rest go as well
        pending.extend(remaining)


def _identity(text: str) -> str:
    return text


# Whether ``json_lines`` first tries to encode a batch's call fields in one call
# (``EntryBuilder._bodies``): in pure Python, where it saves the per-value loop and the
# per-record ``orjson.dumps`` (about 200 ns a record); not in the compiled build, whose
# own loop over the values is cheaper than the C passes that replace it (measured
# 420 -> 550 ns a record there). A compiled module's functions are not Python functions.
ONE_CALL_ENCODING: Final = type(_identity).__name__ == "function"


def _immutable(mapping: Fields) -> bool:
    """Whether a mapping's values cannot change under us (so its cleaned copy can be kept)."""
    if type(mapping) is tuple:
        return all(type(pair[1]) in _IMMUTABLE for pair in mapping)
    values = cast("Mapping[str, object]", mapping).values()
    return all(type(value) in _IMMUTABLE for value in values)


class EntryBuilder:
    """Builds entries from records. One per pipeline; used only by the worker.

    Args:
        redactor: applied to the message and every field value; ``None`` turns it off.
        include: optional core fields to add (``pid``, ``host``, ``service`` ...).
        service: the value of ``service``.
        selector: the ``[fields]`` exclude and rename step, if configured.
    """

    __slots__ = (
        "_bulk_wait",
        "_clean_cache",
        "_fit",
        "_heads",
        "_host",
        "_include",
        "_json_millisecond",
        "_last",
        "_logger_names",
        "_messages",
        "_millisecond",
        "_own_keys",
        "_own_times",
        "_pid",
        "_plain",
        "_plans",
        "_redact",
        "_redactor",
        "_replacement",
        "_seconds",
        "_selector",
        "_service",
        "_shared",
        "_static",
        "_template",
        "_texts",
        "_unbound",
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
        if redactor is not None and not redactor.enabled:
            redactor = None
        self._redactor = redactor
        self._redact: Callable[[str], str] = (
            redactor.redact_text if redactor is not None else _identity
        )
        self._replacement = redactor.replacement if redactor is not None else ""
        # Short texts already cleaned: the redactor's cache, or the builder's own.
        self._texts: dict[str, str] = redactor.texts if redactor is not None else {}
        self._include = include
        self._service = service
        self._selector = selector
        self._host = socket.gethostname() if "host" in include else ""
        self._pid = os.getpid()
        self._seconds: tuple[int, str] = (-1, "")
        self._logger_names: dict[str, str] = {}
        self._clean_cache: dict[int, tuple[Fields, dict[str, JsonValue]]] = {}
        self._shared: dict[int, _Shared] = {}
        self._heads: dict[tuple[int, str, str], bytes] = {}
        self._json_millisecond: tuple[int, bytes] = (-1, b"")
        self._messages: dict[str, str] = {}
        self._plans: dict[str, int] = {}
        self._plain: set[str] = set()  # the keys planned _PLAIN, for one subset test
        self._fit: set[str] = set()  # call texts found to be written as they are (_bodies)
        self._bulk_wait = 0  # batches json_lines still writes record by record (_BULK_WAIT)
        # tapelog's own objects (``trade``): the keys found not sensitive (each decided
        # once for this redactor), and whether its own times pass redaction unchanged.
        self._own_keys: set[str] = set()
        self._own_times = redactor is None or redactor.leaves_alone(_TIME_ALPHABET)
        self._millisecond: tuple[int, str] = (-1, "")  # as _seconds, to the millisecond
        self._static: dict[str, JsonValue] = {}
        self._template: EventDict = {}
        self._unbound: _Shared = _NOTHING_SHARED
        self._last = _NOTHING_SHARED
        self._set_static()
        self.seq = seq if seq is not None else SeqCounter()

    @property
    def selector(self) -> FieldSelector | None:
        """The ``[fields]`` exclude and rename step entries pass through, if configured."""
        return self._selector

    @property
    def redactor(self) -> Redactor | None:
        """The redactor entries are built with (None when redaction is off)."""
        return self._redactor

    def _set_static(self) -> None:
        """The optional fields that are the same in every entry (pid, host, service)."""
        static: dict[str, JsonValue] = {}
        if "pid" in self._include:
            static["pid"] = self._pid
        if "host" in self._include:
            static["host"] = self._host
        if "service" in self._include and self._service:
            static["service"] = self._service
        self._static = static
        self._template = {**_HEAD, **static}
        self._unbound = (None, None, self._template, *_after_head(self._template))
        self._shared.clear()  # their templates hold the old static fields
        self._last = _NOTHING_SHARED

    def after_fork(self) -> None:
        """A forked child has its own pid and its own ``seq`` counting from zero."""
        self._pid = os.getpid()
        self._set_static()
        self.seq.value = 0

    def timestamp(self, time_ns: int) -> str:
        """RFC 3339 UTC with exactly six fractional digits; the second's prefix is cached."""
        second, rest = divmod(time_ns, 1_000_000_000)
        return f"{self._prefix_of(second)}.{rest // 1000:06d}Z"

    def _prefix_of(self, second: int) -> str:
        """The timestamp up to its whole second, cached as one (second, text) pair.

        One attribute holding both keeps two threads sharing a builder (a stdlib
        formatter) from ever pairing one second with another's text.
        """
        cached_second, prefix = self._seconds
        if cached_second != second:
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._seconds = (second, prefix)
        return prefix

    def _stamp_millis(self, millis: int) -> str:
        """Start a new millisecond: return the timestamp up to its milliseconds, cached."""
        second, milli = divmod(millis, 1000)
        stem = f"{self._prefix_of(second)}.{milli:03d}"
        self._millisecond = (millis, stem)
        return stem

    def _message(self, message: str) -> str:
        """Redact a message and make it encodable; remember short ones."""
        text = self._redact(message)
        if not text.isascii():
            text = _safe_text(text)
        if len(message) <= _CACHEABLE_LENGTH:
            _remember(self._messages, message, text)
        return text

    def _text(self, value: str) -> str:
        """A string field value the text cache did not have: clean and redact it."""
        if not value.isascii():
            return cast("str", clean_field_value(value, self._redactor))
        if self._redactor is not None:
            return self._redactor.redact_new(value)  # caches it in self._texts
        if len(value) <= _CACHEABLE_TEXT_LENGTH:
            _remember(self._texts, value, value)
        return value

    def _value(self, value: object) -> JsonValue:
        """Clean one call field's value (any value: text, numbers, containers, objects)."""
        if type(value) is str:
            done = self._texts.get(value)
            return done if done is not None else self._text(value)
        return clean_field_value(value, self._redactor)

    def _planned_fields(self, entry: EventDict, fields: Mapping[str, object]) -> bool:
        """Add call fields whose keys are not all known plain: sensitive ones redacted.

        Returns:
            False, having added nothing, when a key needs the general path (a name to
            sanitise or keep aside).
        """
        plans = self._plans
        planned: list[tuple[str, int]] = []
        for field in fields:
            plan = plans.get(field)
            if plan is None:
                plan = self._plan(field)
            if plan == _GENERAL:
                return False
            planned.append((field, plan))
        for field, plan in planned:
            entry[field] = self._replacement if plan == _SECRET else self._value(fields[field])
        return True

    def _plan(self, key: object) -> int:
        """Decide what the fast path does with a call field's key; remember it."""
        if type(key) is not str:
            return _GENERAL
        if key in _KEPT_ASIDE or sanitize_key(key) != key:
            plan = _GENERAL
        elif self._redactor is not None and self._redactor.is_sensitive(key):
            plan = _SECRET
        else:
            plan = _PLAIN
        if len(key) <= _CACHEABLE_LENGTH:
            if len(self._plans) >= _CACHE_SIZE:
                self._plans.clear()
                self._plain.clear()
            self._plans[key] = plan
            if plan == _PLAIN:
                self._plain.add(key)
        return plan

    def _shared_for(self, bound: Fields, context: Fields) -> _Shared:
        """The template (and its JSON) for a pair of context and bound mappings."""
        key = id(bound) + id(context)
        shared = self._shared.get(key)
        if shared is None or shared[0] is not bound or shared[1] is not context:
            shared = self._share(key, bound, context)
        else:
            self._last = shared
        return shared

    def _template_for(self, bound: Fields, context: Fields) -> EventDict | None:
        """The template for a pair of context and bound mappings: cached, else made."""
        return self._shared_for(bound, context)[2]

    def _share(self, key: int, bound: Fields, context: Fields) -> _Shared:
        """The fast path's template for a pair of context and bound mappings, kept per pair.

        The template is an entry's first keys (placeholders for the required keys and
        ``seq``, then the static optional fields), then the context and bound fields,
        cleaned and merged. It is ``None`` when one of those keys must be kept aside (a
        reserved name or ``event``), which only the general path does.
        """
        merged: dict[str, JsonValue] = {}
        if context:
            merged.update(self._cleaned_once(context))
        if bound:
            merged.update(self._cleaned_once(bound))
        template = {**self._template, **merged} if _KEPT_ASIDE.isdisjoint(merged) else None
        if _immutable(bound) and _immutable(context):
            # Holding both mappings keeps their ids from being reused meanwhile.
            shared: _Shared = (bound, context, template, *_after_head(template))
            _remember(self._shared, key, shared)
            self._last = shared
            return shared
        return (bound, context, template, None, set(), frozenset(), set())  # for one record

    def _logger_name(self, name: str) -> str:
        clean = self._logger_names.get(name)
        if clean is None:
            # A name may carry what a message may (a URL with credentials, a key=value):
            # it is redacted like one, once, since names are remembered.
            clean = _BAD_LOGGER_CHARS.sub("_", _safe_text(self._redact(name))) or "root"
            if len(self._logger_names) < 10_000:  # noqa: PLR2004 - a bound, not a tunable
                self._logger_names[name] = clean
        return clean

    def build(self, record: AnyRecord) -> EventDict:
        """Turn one record into an entry. Never raises for any field value."""
        return self.build_many((record,))[0]

    def build_many(self, records: Iterable[AnyRecord]) -> list[EventDict]:
        """Turn records into entries, in order: the worker's way, one call per batch.

        Most records take the fast path below: no exception or call-site facts, a message
        already seen, a template per logger (the required keys, the static optional
        fields, the bound and context fields cleaned once) and call fields under plain keys
        (valid names, not reserved, not ``event``). It writes the same entry the general
        path would, in fewer steps; anything else goes to the general path. A record whose
        building raises gives an entry that says so, and the others are unaffected.
        """
        # This loop runs once per entry on the worker: everything it reads from ``self``
        # is held in a local, and refreshed after the calls that change it.
        entries: list[EventDict] = []
        append = entries.append
        messages = self._messages
        names = self._logger_names
        plain = self._plain
        texts = self._texts
        selector = self._selector
        seq = self.seq
        millis_now, stem = self._millisecond
        value: Any  # the exact-type tests below narrow it; isinstance() costs more
        for record in records:
            try:
                time_ns, level, name, message, fields, bound, context, exc, meta = record
                text = messages.get(message) if type(message) is str else None
                if text is None and type(message) is str:
                    text = self._message(message)
                last = self._last  # consecutive records mostly come from one logger
                if bound is last[0] and context is last[1]:
                    template = last[2]
                elif bound or context:
                    template = self._template_for(bound, context)
                else:
                    template = self._template
                if template is None or text is None or exc is not None or meta is not None:
                    append(self._build_general(record))
                    continue
                # An int, named so: the compiled build then divides natively (divmod of an
                # untyped value measured 30 times slower there); not an int -> broken entry.
                when: int = time_ns
                millis = when // 1_000_000
                rest = when % 1_000_000
                if millis != millis_now:
                    millis_now, stem = millis, self._stamp_millis(millis)
                # Copying a template that has every key in place measured cheaper than
                # building the dict key by key; the stores keep each key's position.
                entry = template.copy()
                entry["timestamp"] = stem + _MICROS[rest // 1000]
                entry["level"] = LEVEL_NAMES.get(level) or level_name(level)
                entry["logger"] = names.get(name) or self._logger_name(name)
                entry["message"] = text
                if fields:
                    if type(fields) is tuple:  # pairs (tapelog._event.Pairs): the general way
                        append(self._build_general(record))
                        continue
                    if plain.issuperset(fields):
                        for field, value in fields.items():
                            cls = type(value)  # pyright: ignore[reportUnknownVariableType]
                            if cls is str:
                                done = texts.get(value)
                                entry[field] = done if done is not None else self._text(value)
                            elif cls is float:
                                entry[field] = value if value - value == 0.0 else self._value(value)
                            elif cls is int:
                                entry[field] = (
                                    value if _INT_MIN <= value <= _INT_MAX else self._value(value)
                                )
                            elif value is None or cls is bool:
                                entry[field] = value
                            else:
                                entry[field] = self._value(value)
                    elif not self._planned_fields(entry, fields):
                        append(self._build_general(record))
                        continue
                seq.value += 1
                entry["seq"] = seq.value
                append(entry if selector is None else selector(entry))
            except Exception as exc:  # the builder is defensive; this is the last line
                append(self.broken_entry(record, exc))
        return entries

    def json_lines(self, records: Iterable[AnyRecord]) -> bytearray:
        """Records straight to JSON lines, without building the common records' entries.

        Writes exactly what ``JsonFormat().batch(self.build_many(records))`` writes, byte
        for byte, ``seq`` numbers included. A record takes the direct way when
        ``build_many`` would take its fast path and, beyond that, its call fields are a
        dict of plain keys, none among its bound or context keys. Its line is then
        spliced from bytes kept per call site: the millisecond's stem, the level, logger
        and message (once per such triple), the static, bound and context fields (once
        per template), and one ``orjson.dumps`` of the caller's own fields dict when every
        value is JSON as it is (text the redactor leaves alone, cleaned here when new, a
        finite float, a 64-bit int, a bool or None), else of its cleaned values. Any other
        record is built and encoded the general way (a run of them in one call), in order.
        """
        if self._selector is not None:  # keys to drop or rename: only an entry has them
            return bytearray(_batch_json(self.build_many(records)))
        if ONE_CALL_ENCODING:
            if self._bulk_wait:  # a recent batch could not be encoded at once
                self._bulk_wait -= 1
            else:
                encoded = self._bodies(records)
                if encoded is None:
                    self._bulk_wait = _BULK_WAIT
                else:
                    return self._json_lines_bulk(records, *encoded)
        buffer = bytearray()
        heads = self._heads
        texts = self._texts
        seq = self.seq
        number = seq.value  # held here, given back around the general way and at the end
        pending: list[AnyRecord] = []  # records set aside for the general way, in a run
        unbound = self._unbound
        dumps = orjson.dumps
        int_min, int_max = _INT_MIN, _INT_MAX
        short_min, short_max = _SHORT_MIN, _SHORT_MAX
        millis_now, stem = self._json_millisecond
        # The last call site's line head: (level, logger name, message, head bytes).
        last: tuple[object, object, object, bytes] = (None, None, None, b"")
        value: Any  # the exact-type tests below narrow it; isinstance() costs more
        remaining = iter(records)
        for record in remaining:
            try:
                time_ns, level, name, message, fields, bound, context, exc, meta = record
                shared = self._last  # consecutive records mostly come from one logger
                if bound is not shared[0] or context is not shared[1]:
                    shared = self._shared_for(bound, context) if bound or context else unbound
                after = shared[3]
                if after is None or exc is not None or meta is not None or type(message) is not str:
                    _set_aside(pending, record, remaining)
                    continue
                # The call's fields as orjson writes them, newline included ("{...}\n"),
                # when they may be spliced: their "{" becomes the "," after the fields
                # before them. None with no call fields, and when they may not (a key to
                # keep aside or redact: the general way).
                dumped: bytes | None = None
                if fields:
                    # orjson writes dicts, not mappings. The builtin type() (inlined when
                    # compiled; a local or global alias of it is a generic call there).
                    if type(fields) is dict:
                        # Named by their exact types (tested just above and below), so that
                        # the compiled build iterates the dict and compares values natively.
                        call: dict[str, Any] = fields  # pyright: ignore[reportUnknownVariableType]
                        known = shared[4]
                        # 0: every value JSON as it is; 1: a value cleaning changes; 2: a
                        # key that may not be spliced. Keys and values in one pass: a key
                        # not known fit yet is looked at (all of them) once per template.
                        plan = 0
                        for key, value in call.items():
                            if key not in known and not self._call_keys(shared, call):
                                plan = 2
                                break
                            cls = type(value)  # pyright: ignore[reportUnknownVariableType]
                            if cls is str:
                                done = texts.get(value)
                                if done is not value:  # new text, or one cleaning changes
                                    if done is None:  # new (an order id): clean, remember it
                                        done = self._text(value)
                                    if done != value:
                                        plan = 1
                                        break
                            elif cls is float:
                                real: float = value
                                if real - real != 0.0:  # NaN for NaN and the infinities
                                    plan = 1
                                    break
                            elif cls is int:
                                whole: int = value
                                # Compiled, a machine-sized int against the 64-bit bounds
                                # (big ints there) is boxed for each test: test against
                                # bounds that fit first (about 40 ns a record less).
                                if not (
                                    short_min <= whole <= short_max or int_min <= whole <= int_max
                                ):
                                    plan = 1
                                    break
                            elif value is not None and cls is not bool:
                                plan = 1
                                break
                        if plan == 0:
                            dumped = dumps(call, None, _NEWLINE)  # positional: no keyword matching
                        elif plan == 1 and (
                            known.issuperset(call) or self._call_keys(shared, call)
                        ):  # a value the cleaning changes: encode the cleaned ones
                            dumped = self._cleaned_tail(call)
                    if dumped is None:  # the general way
                        _set_aside(pending, record, remaining)
                        continue
                when: int = time_ns  # as in build_many: native division when compiled
                millis = when // 1_000_000
                rest = when % 1_000_000
                if millis != millis_now:
                    millis_now, stem = (
                        millis,
                        b'{"timestamp":"' + self._stamp_millis(millis).encode(),
                    )
                if message is last[2] and name is last[1] and level is last[0]:
                    head = last[3]  # a run of one call site: no key tuple, no lookup
                else:
                    found = heads.get((level, name, message))
                    head = found if found is not None else self._json_head(level, name, message)
                    last = (level, name, message, head)
                if pending:  # the records set aside before this one come first
                    buffer, number = self._flush(buffer, pending, number)
                number += 1
                if dumped is None:
                    buffer += b"%b%b%b%d%b}\n" % (
                        stem,
                        _MICROS_JSON[rest // 1000],
                        head,
                        number,
                        after,
                    )
                else:
                    # No slice and concatenation of the call's JSON: it goes in as orjson
                    # wrote it, and its first byte is overwritten in the buffer.
                    buffer += b"%b%b%b%d%b" % (
                        stem,
                        _MICROS_JSON[rest // 1000],
                        head,
                        number,
                        after,
                    )
                    start = len(buffer)
                    buffer += dumped
                    buffer[start] = _COMMA
            except Exception as exc:  # the builder is defensive; this is the last line
                if pending:
                    buffer, number = self._flush(buffer, pending, number)
                buffer += _batch_json([self.broken_entry(record, exc)])
        if pending:
            buffer, number = self._flush(buffer, pending, number)
        seq.value = number
        self._json_millisecond = (millis_now, stem)
        return buffer if buffer.isascii() else escape_separators(buffer)

    def _bodies(self, records: Iterable[AnyRecord]) -> tuple[list[str], set[str]] | None:
        """The batch's call fields encoded by one ``orjson.dumps``, one body per record.

        A body is what orjson writes inside a record's ``{...}``, as text, for each record
        with call fields, in order; with the bodies, every call key of the batch. None
        unless every record is a 9-tuple, every non-empty call fields object is a
        ``dict``, and every value is JSON as it is (text the cleaning leaves unchanged, a
        finite float, a 64-bit int, a bool or None), checked in C loops and once per
        distinct value; and None when a text holds ``},{`` (the encoded list would not
        split at the records' borders alone).
        """
        if type(records) is not list:  # read twice: here and by _json_lines_bulk
            return None
        batch = cast("list[AnyRecord]", records)
        try:
            found: list[Any] = list(filter(None, map(_fields_of, batch)))
            calls = cast("list[dict[str, object]]", found)
            if not calls:  # nothing to encode: the loop's lines are still the cheaper
                return [], set()
            if not (
                _RECORD_LENGTHS.issuperset(map(len, batch)) and _DICTS.issuperset(map(type, calls))
            ):
                return None
            # Each distinct value once: a value the set merges into an equal one is an
            # exact scalar, or one that the strict encoding below refuses, or an enum
            # member (a str, int or float mixin), which orjson writes as its value and the
            # cleaning cleans as its value: the equal scalar's text either way.
            distinct: set[Any] = set(chain.from_iterable(map(_values_of, calls)))
            if not _SCALARS.issuperset(map(type, distinct)):
                return None
            fit = self._fit
            distinct.difference_update(fit)
            texts = self._texts
            value: Any
            for value in distinct:
                cls = type(value)  # pyright: ignore[reportUnknownVariableType]
                if cls is str:
                    done = texts.get(value)
                    if done is not value:
                        if done is None:
                            done = self._text(value)
                        if done != value:
                            return None
                    if len(fit) >= _CACHE_SIZE:
                        fit.clear()
                    fit.add(value)
                elif cls is float:
                    real: float = value
                    if real - real != 0.0:  # NaN for NaN and the infinities
                        return None
                elif cls is int:
                    whole: int = value
                    if not _INT_MIN <= whole <= _INT_MAX:
                        return None
            bodies = orjson.dumps(calls, None, _STRICT)[2:-2].decode().split("},{")
        except Exception:  # the per-record way finds (and reports) what is wrong
            return None
        if len(bodies) != len(calls):
            return None
        keys = set[str]().union(*calls)
        return bodies, keys

    def _json_lines_bulk(
        self, records: Iterable[AnyRecord], bodies: list[str], keys: set[str]
    ) -> bytearray:
        """``json_lines`` for a batch whose call fields ``_bodies`` encoded at once.

        The same lines as ``json_lines``' own loop: a record takes the spliced way when
        that loop's would (its call keys are checked here, its values were checked by
        ``_bodies``), and its body goes in after the template's fields.
        """
        buffer = bytearray()
        heads = self._heads
        seq = self.seq
        number = seq.value
        pending: list[AnyRecord] = []
        unbound = self._unbound
        millis_now, stem_bytes = self._json_millisecond
        stem = stem_bytes.decode()
        last: tuple[object, object, object, str] = (None, None, None, "")
        last_after: bytes | None = None
        after: bytes = b""  # the template's fields of the record's call site (new runs)
        after_text = ""
        index = 0
        body = ""
        shared = self._last
        # Whether every call key of the batch is known fit for ``fit_for``'s template:
        # then a record's keys need no test of their own.
        fit_for: object = None
        all_fit = False
        # The call site and mappings of the last line spliced (nothing matches at first).
        run_level: object = _NO_RUN
        run_name: object = _NO_RUN
        run_message: object = _NO_RUN
        run_bound: object = _NO_RUN
        run_context: object = _NO_RUN
        head = after_text = ""
        remaining = iter(records)
        for record in remaining:
            try:
                time_ns, level, name, message, fields, bound, context, exc, meta = record
                if fields:  # as _bodies picked them: one body per record with call fields
                    body = bodies[index]
                    index += 1
                # The call site and template of the last spliced line: only its keys.
                new_run = not (
                    message is run_message
                    and bound is run_bound
                    and context is run_context
                    and name is run_name
                    and level is run_level
                    and exc is None
                    and meta is None
                )
                if new_run:
                    if bound is not shared[0] or context is not shared[1]:
                        shared = self._shared_for(bound, context) if bound or context else unbound
                    if shared is not fit_for:
                        fit_for = shared
                        all_fit = shared[4].issuperset(keys)
                    template = shared[3]
                    if (
                        template is None
                        or exc is not None
                        or meta is not None
                        or type(message) is not str
                    ):
                        _set_aside(pending, record, remaining)
                        continue
                    after = template
                if (
                    fields
                    and not all_fit
                    and not shared[4].issuperset(fields)
                    and not self._call_keys(shared, fields)
                ):
                    _set_aside(pending, record, remaining)
                    continue
                if new_run:
                    if message is last[2] and name is last[1] and level is last[0]:
                        head = last[3]
                    else:
                        found = heads.get((level, name, message))
                        found = (
                            found if found is not None else self._json_head(level, name, message)
                        )
                        head = found.decode()
                        last = (level, name, message, head)
                    if after is not last_after:
                        last_after, after_text = after, after.decode()
                    run_level, run_name, run_message = level, name, message
                    run_bound, run_context = bound, context
                when: int = time_ns
                millis = when // 1_000_000
                rest = when % 1_000_000
                if millis != millis_now:
                    millis_now, stem = millis, '{"timestamp":"' + self._stamp_millis(millis)
                if pending:
                    buffer, number = self._flush(buffer, pending, number)
                number += 1
                micros = _MICROS[rest // 1000]
                if fields:
                    buffer += f"{stem}{micros}{head}{number}{after_text},{body}}}\n".encode()
                else:
                    buffer += f"{stem}{micros}{head}{number}{after_text}}}\n".encode()
            except Exception as exc:  # the builder is defensive; this is the last line
                if pending:
                    buffer, number = self._flush(buffer, pending, number)
                buffer += _batch_json([self.broken_entry(record, exc)])
        if pending:
            buffer, number = self._flush(buffer, pending, number)
        seq.value = number
        self._json_millisecond = (millis_now, stem.encode())
        return buffer if buffer.isascii() else escape_separators(buffer)

    def _cleaned_tail(self, fields: Mapping[str, object]) -> bytes | None:
        """Call fields under plain keys as JSON to splice, their values cleaned first.

        As ``json_lines`` splices them: the object orjson writes, then a newline.

        None when orjson refuses a cleaned value (the entry path's encoder converts it).
        """
        cleaned = {key: self._value(value) for key, value in fields.items()}
        try:
            return orjson.dumps(cleaned, option=_NEWLINE)
        except Exception:
            return None

    def _call_keys(self, shared: _Shared, fields: Mapping[str, object]) -> bool:
        """Whether ``json_lines`` may splice these call fields after a template's.

        Each key must be planned plain and not be one of the template's own keys (a call
        field replaces a bound one in place). What is found of each key is remembered
        with the template, so the next record needs one subset (or disjointness) test.
        """
        known, taken, unfit = shared[4], shared[5], shared[6]
        if not unfit.isdisjoint(fields):
            return False
        for key in fields:
            if key in known:
                continue
            plan = self._plans.get(key)
            if plan is None:
                plan = self._plan(key)
            fit = plan == _PLAIN and key not in taken
            found = known if fit else unfit
            if len(found) >= _SITES:
                found.clear()
            found.add(key)
            if not fit:
                return False
        return True

    def _json_head(self, level: int, name: str, message: str) -> bytes:
        """A line's bytes from the end of the timestamp to ``"seq":``; kept if short."""
        text = self._messages.get(message)
        if text is None:
            text = self._message(message)
        head = b'","level":%b,"logger":%b,"message":%b,"seq":' % (
            orjson.dumps(LEVEL_NAMES.get(level) or level_name(level)),
            orjson.dumps(self._logger_names.get(name) or self._logger_name(name)),
            orjson.dumps(text),
        )
        if len(message) <= _CACHEABLE_LENGTH:
            _remember(self._heads, (level, name, message), head)
        return head

    def _flush(
        self, buffer: bytearray, pending: list[AnyRecord], number: int
    ) -> tuple[bytearray, int]:
        """Add a run of records set aside, built and encoded the general way, in order.

        Their ``seq`` numbers follow ``number``. Returns the buffer (the run's own when
        nothing came before it: copying a batch's lines measured as costly as encoding
        them) and the last ``seq`` number. One ``build_many`` per run keeps the general
        way's cost per record what it is on the entry path.
        """
        self.seq.value = number
        lines = _batch_json(self.build_many(pending))
        pending.clear()
        if not buffer and type(lines) is bytearray:
            buffer = lines
        else:
            buffer += lines
        return buffer, self.seq.value

    def broken_entry(self, record: AnyRecord, exc: Exception) -> EventDict:
        """An entry that still carries the record's core facts when building it failed."""
        try:
            timestamp = self.timestamp(record[TIME])
        except Exception:
            timestamp = self.timestamp(time.time_ns())
        redact = self._redact
        try:
            logger = _BAD_LOGGER_CHARS.sub("_", redact(_safe_text(_text_of(record[LOGGER]))))
            message = redact(_safe_text(_text_of(record[MESSAGE])))
            problem = redact(_safe_text(f"{type(exc).__name__}: {_text_of(exc)}"))
        except Exception:  # the redactor fails closed; so does this
            logger, message, problem = "root", self._replacement, type(exc).__name__
        return {
            "timestamp": timestamp,
            "level": level_name(record[LEVEL]) if type(record[LEVEL]) is int else "error",
            "logger": logger or "root",
            "message": message,
            "tapelog_error": problem,
        }

    def _build_general(self, record: AnyRecord) -> EventDict:
        """Any record: an exception, call-site facts, reserved or unusual keys."""
        fields: Any  # a mapping, or pairs made a dict below
        time_ns, level, name, message, fields, bound, context, exc, meta = record
        if type(fields) is tuple:  # pairs (see tapelog._event.Pairs)
            fields = dict(fields)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
        if type(message) is not str:  # the API says str; a stray object still logs
            if is_deferred(message):  # a domain API's entry, finished here (#14)
                message, meta = finish_deferred(cast("tuple[object, ...]", message), meta)
            else:
                message = str(clean_value(message, None))
        second, rest = divmod(time_ns, 1_000_000_000)
        logger = self._logger_names.get(name) or self._logger_name(name)
        message = self._redact(message)
        entry: EventDict = {
            "timestamp": f"{self._prefix_of(second)}.{rest // 1000:06d}Z",
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
            entry["error"] = error_object(exc, self._redactor)
        if meta is not None:
            for key in _DOMAIN_KEYS:
                if key in meta:
                    value = meta[key]
                    entry[key] = (
                        self._own_object(cast("dict[str, object]", value))
                        if key == "trade" and type(value) is dict
                        else clean_value(value, self._redactor)
                    )
            if "error" in meta:
                error = meta["error"]
                entry["error"] = (
                    error_object(error, self._redactor)
                    if isinstance(error, ErrorInfo)
                    else clean_value(error, self._redactor)
                )
            if "error" in entry:
                self._add_site(entry, meta)
        if self._selector is not None:
            return self._selector(entry)
        return entry

    def _own_object(self, trade: dict[str, object]) -> JsonValue:
        """A ``trade`` object (only tapelog writes one): what ``clean_value`` would write.

        Its keys are tapelog's own names, each checked against the redactor once per
        builder; its Decimals become their exact text; its own times (``transact_time``)
        are written as they are when the redactor leaves such text alone; every other
        text (ids, symbols, reasons: the user's) is cleaned and redacted as a field
        value is. A key or value of any other kind sends the whole object the general way.
        """
        plain = self._own_keys
        times = self._own_times
        texts = self._texts
        out: dict[str, JsonValue] = {}
        value: Any
        for key, value in trade.items():
            if key not in plain:
                plan = self._own_key(key)
                if plan == _GENERAL:
                    return clean_value(trade, self._redactor)
                if plan == _SECRET:
                    out[key] = self._replacement
                    continue
            cls = type(value)  # pyright: ignore[reportUnknownVariableType]
            if cls is str:
                if times and key in _OWN_TIME_KEYS and value.isascii():
                    out[key] = value
                else:
                    done = texts.get(value)
                    out[key] = done if done is not None else self._text(value)
            elif cls is Decimal:
                text = str(value)  # as decimal_text writes it, when positional already
                out[key] = text if "E" not in text and text[-1].isdigit() else decimal_text(value)
            elif value is None or cls is bool:
                out[key] = value
            else:  # not what tapelog puts there: the general way, for all of it
                return clean_value(trade, self._redactor)
        return out

    def _own_key(self, key: object) -> int:
        """What ``_own_object`` does with a key: ``_PLAIN`` ones are remembered."""
        if not (type(key) is str and key.isascii() and key.isidentifier()):
            return _GENERAL
        if self._redactor is not None and self._redactor.is_sensitive(key):
            return _SECRET
        if len(self._own_keys) < _CACHE_SIZE:
            self._own_keys.add(key)
        return _PLAIN

    def _user_fields(
        self,
        context: Fields,
        bound: Fields,
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

    def _cleaned_once(self, mapping: Fields) -> dict[str, JsonValue]:
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
        cleaned = clean_fields(
            dict(mapping) if type(mapping) is tuple else cast("Mapping[str, object]", mapping),
            self._redactor,
        )
        if _immutable(mapping):
            # The cache holds the mapping itself, so its id cannot be reused meanwhile.
            _remember(self._clean_cache, key, (mapping, cleaned))
        return cleaned

    def _add_site(self, entry: EventDict, meta: Mapping[str, object]) -> None:
        """An error entry's execution context: thread, task and call site, always."""
        for key in ("thread", "source", "function", "task"):
            value = meta.get(key)
            if value is not None and key not in entry:
                entry[key] = _safe_text(str(value))

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
