"""Normalisation: any value a caller passes becomes a JSON value, in one pass, never raising.

The worker calls :func:`clean_fields` once per entry. It builds the only copy there is:
the caller's objects are read, never changed. Redaction happens in the same pass: a value
under a sensitive key is replaced whole, and every string on the way out goes through
:meth:`Redactor.redact_text`.

Common types (``str``, ``int``, ``float``, ``bool``, ``None``, ``dict``, ``list``) are
dispatched on their exact type first; subclasses and protocol types (dataclasses,
namedtuples, pydantic-like models, mappings) take the slower ``isinstance`` route. A
cycle becomes ``"<cycle>"``, nesting deeper than :data:`MAX_DEPTH` becomes
``"<too deep>"``, and anything whose conversion raises falls back to its ``repr``.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import math
import pathlib
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Final, TypeAlias


if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from tapelog.processors._redact import Redactor


__all__ = [
    "MAX_DEPTH",
    "JsonValue",
    "clean_field_value",
    "clean_fields",
    "clean_value",
    "decimal_text",
    "sanitize_key",
]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
"""A value orjson writes as it is: what :func:`clean_value` returns."""

MAX_DEPTH: Final = 32
_PLAN_CACHE_SIZE: Final = 4096  # distinct field names remembered per redactor
"""How many containers deep a value may nest before the rest becomes ``"<too deep>"``."""

CYCLE: Final = "<cycle>"
TOO_DEEP: Final = "<too deep>"

_INT_MIN: Final = -(2**63)
_INT_MAX: Final = 2**64 - 1
_DECIMAL_EXPONENT_LIMIT: Final = 1000
_KEY_LENGTH: Final = 128
# Letters and digits of any script, "_" and "."; \w never matches a lone surrogate.
_VALID_KEY: Final = re.compile(r"[\w.]{1,128}")
_BAD_KEY_CHARACTER: Final = re.compile(r"[^\w.]")

# Sanitised keys, cached because the same keys come back in every entry. Cleared when full;
# long keys are not stored, so the cache stays small. Reads and writes are single dict
# operations, safe to share between threads.
_CACHE_SIZE: Final = 4096
_CACHEABLE_KEY_LENGTH: Final = 256
_key_cache: dict[str, str] = {}

_Stack: TypeAlias = set[int]
_Converter: TypeAlias = Callable[[Any, "Redactor | None", int, _Stack], JsonValue]

# `type`, typed to return type[object]: `type(value)` of an `Any` is "partially unknown"
# to pyright strict, and the fast path must not pay for a cast() call.
_type_of: Callable[[object], type[object]] = type


def sanitize_key(key: object) -> str:
    """Return ``key`` as a top-level field name: letters and digits of any script, ``_``, ``.``.

    Each other character (a space, ``-``, ``=``, a quote, a control character, a lone
    surrogate) becomes ``_``, an empty key becomes ``_``, and a longer key is cut at 128
    characters. Keys inside nested values are not sanitised: they are kept verbatim.

    Args:
        key: the key; a non-``str`` key is converted with ``str()`` first (never raising).

    Returns:
        The sanitised key (the same object when it was already valid).

    >>> sanitize_key("http.status"), sanitize_key("1st try"), sanitize_key("ключ"), sanitize_key(42)
    ('http.status', '1st_try', 'ключ', '42')
    """
    text = key if type(key) is str else _text_of(key)
    cached = _key_cache.get(text)
    if cached is not None:
        return cached
    result = _sanitize(text)
    if len(text) <= _CACHEABLE_KEY_LENGTH:
        if len(_key_cache) >= _CACHE_SIZE:
            _key_cache.clear()
        _key_cache[text] = result
    return result


def clean_value(value: object, redactor: Redactor | None) -> JsonValue:
    """Return ``value`` as a JSON value, redacted; never raises, never mutates ``value``.

    Args:
        value: anything.
        redactor: the redactor to apply, or ``None`` for no redaction.

    Returns:
        A value made of ``None``, ``bool``, ``int`` (64-bit), finite ``float``, ``str``,
        ``list`` and ``dict`` with ``str`` keys.

    >>> from decimal import Decimal
    >>> clean_value({"qty": Decimal("1E-8"), "tags": {"b", "a"}}, None)
    {'qty': '0.00000001', 'tags': ['a', 'b']}
    """
    return _clean_from(value, redactor, 0)


def clean_field_value(value: object, redactor: Redactor | None) -> JsonValue:
    """Clean one top-level field's value exactly as :func:`clean_fields` would.

    For the entry builder's fast path, which handles plain values itself and hands
    anything else (containers, Decimals, objects, non-ASCII text) here.
    """
    return _clean_from(value, redactor, 1)


def _clean_from(value: object, redactor: Redactor | None, depth: int) -> JsonValue:
    """Clean ``value`` found ``depth`` containers deep; never raises."""
    if redactor is not None and not redactor.enabled:
        redactor = None
    try:
        return _clean(value, redactor, depth, set())
    except Exception:  # pragma: no cover - _clean already contains every failure
        return _fallback(value, redactor)


def clean_fields(fields: Mapping[str, object], redactor: Redactor | None) -> dict[str, JsonValue]:
    """Return an entry's fields with keys sanitised and values cleaned and redacted.

    Top-level keys are sanitised (see :func:`sanitize_key`); keys of nested mappings are
    kept verbatim (a non-``str`` key through ``str()``). A key that collides with an
    earlier one after sanitising gets ``_`` appended. If the
    mapping itself cannot be read to the end, what was read is kept and the key
    ``_unrepresentable`` says so.

    Args:
        fields: the fields of one entry; not modified.
        redactor: the redactor to apply, or ``None`` for no redaction.

    Returns:
        A new dict of JSON values.

    >>> from tapelog.processors import Redactor
    >>> clean_fields({"user": "bob", "apiKey": "k-123", "n-retries": 3}, Redactor())
    {'user': 'bob', 'apiKey': '[REDACTED]', 'n_retries': 3}
    >>> clean_fields({"headers": {"X-Api-Key": "k-1", "Accept": "*/*"}}, Redactor())
    {'headers': {'X-Api-Key': '[REDACTED]', 'Accept': '*/*'}}
    """
    if redactor is not None and not redactor.enabled:
        redactor = None
    out: dict[str, JsonValue] = {}
    try:
        _clean_items(fields.items(), redactor, 1, {id(fields)}, out)
    except Exception:
        out["_unrepresentable"] = f"<unrepresentable {type(fields).__name__}>"
    return out


def _clean(value: Any, redactor: Redactor | None, depth: int, stack: _Stack) -> JsonValue:
    """Clean one value; ``depth`` counts the containers around it, ``stack`` their ids.

    ``value`` is typed ``Any`` because the fast paths below test its exact type with ``is``,
    which is faster than ``isinstance`` and right for subclasses (they take the slow path).
    """
    cls = _type_of(value)
    if cls is str:
        return _text(value, redactor)
    if cls is int:
        return value if _INT_MIN <= value <= _INT_MAX else _big_int(value)
    if value is None or cls is bool:
        return value
    if cls is float:
        return value if math.isfinite(value) else _non_finite(value)
    try:
        leaf = _LEAVES.get(cls)
        if leaf is not None:
            return leaf(value)
        container = _CONTAINERS.get(cls)
        if container is not None:
            return container(value, redactor, depth, stack)
        return _clean_other(value, redactor, depth, stack)
    except Exception:
        return _fallback(value, redactor)


def _clean_other(value: object, redactor: Redactor | None, depth: int, stack: _Stack) -> JsonValue:
    """Clean a value whose exact type is not in ``_LEAVES`` or ``_CONTAINERS``."""
    cls = type(value)
    # Enum first: a StrEnum member is also a str, an IntEnum member also an int.
    if isinstance(value, enum.Enum):
        return _converted(value, value.value, redactor, depth, stack)
    if isinstance(value, str):
        return _text(str.__str__(value), redactor)
    if isinstance(value, int):
        return _clean(int.__int__(value), redactor, depth, stack)
    if isinstance(value, float):
        return _clean(float.__float__(value), redactor, depth, stack)
    if isinstance(value, decimal.Decimal):
        return _decimal(value)
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return _datetime(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, pathlib.PurePath):
        return _text(str(value), redactor)
    if isinstance(value, memoryview):
        return _text(value.tobytes().decode("utf-8", "backslashreplace"), redactor)
    if isinstance(value, bytes | bytearray):
        return _text(bytes(value).decode("utf-8", "backslashreplace"), redactor)
    if isinstance(value, BaseException):
        return _exception(value, redactor)
    # Protocols are looked up on the type, so that objects answering any attribute
    # (mocks, proxies) are not mistaken for models.
    as_dict = getattr(cls, "_asdict", None)
    if callable(as_dict):  # a namedtuple, before tuple
        return _converted(value, as_dict(value), redactor, depth, stack)
    model_dump = getattr(cls, "model_dump", None)
    if callable(model_dump):
        return _converted(value, model_dump(value), redactor, depth, stack)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _dataclass(value, redactor, depth, stack)
    if isinstance(value, Mapping):
        return _mapping(value, redactor, depth, stack)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, list | tuple | collections.deque):
        return _sequence(value, redactor, depth, stack)  # pyright: ignore[reportUnknownArgumentType]
    if isinstance(value, set | frozenset):
        return _set(value, redactor, depth, stack)  # pyright: ignore[reportUnknownArgumentType]
    return _fallback(value, redactor)


def _text(text: str, redactor: Redactor | None) -> str:
    if not text.isascii():
        try:
            text.encode()
        except UnicodeEncodeError:  # lone surrogates: no JSON encoder accepts them
            text = text.encode("utf-8", "backslashreplace").decode()
    return text if redactor is None else redactor.redact_text(text)


def _text_of(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _fallback(value: object, redactor: Redactor | None) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return _text(text, redactor)


def _sanitize(key: str) -> str:
    if not key:
        return "_"
    key = key[:_KEY_LENGTH]
    if _VALID_KEY.fullmatch(key):
        return key
    return _BAD_KEY_CHARACTER.sub("_", key)


def _unique_key(key: str, taken: Mapping[str, object]) -> str:
    """Return ``key`` with ``_`` appended until it is not in ``taken``, within 128 chars."""
    count = 1
    candidate = key
    while candidate in taken:
        suffix = "_" * count if len(key) + count <= _KEY_LENGTH else f"_{count}"
        candidate = key[: _KEY_LENGTH - len(suffix)] + suffix
        count += 1
    return candidate


def _big_int(value: int) -> str:
    try:
        return str(value)
    except ValueError:  # beyond sys.get_int_max_str_digits(): hex has no such limit
        return hex(value)


def _non_finite(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _clean_items(
    items: Iterable[tuple[object, Any]],
    redactor: Redactor | None,
    depth: int,
    stack: _Stack,
    out: dict[str, JsonValue],
) -> dict[str, JsonValue]:
    """Add ``items`` to ``out`` with sanitised keys; sensitive keys get the replacement."""
    names = _key_cache
    if redactor is None:
        for key, value in items:
            name = names.get(key) if type(key) is str else None
            if name is None:
                name = sanitize_key(key)
            if name in out:
                name = _unique_key(name, out)
            out[name] = _clean(value, None, depth, stack)
        return out
    # The same loop with redaction, its lookups inlined: this runs for every field of
    # every entry, and most fields are short ASCII strings or numbers under known keys.
    # ``plans`` remembers, per raw key, its sanitised name and whether it is sensitive.
    is_sensitive, redact = redactor.is_sensitive, redactor.redact_text
    replacement = redactor.replacement
    plans = redactor.plans
    texts = redactor.texts
    for key, value in items:
        plan = plans.get(key) if type(key) is str else None
        if plan is None:
            name = sanitize_key(key)
            if name != key:  # a key that is text, not a name, may hold a secret too
                name = sanitize_key(redact(key if type(key) is str else _text_of(key)))
            plan = (name, is_sensitive(name))
            if type(key) is str and len(plans) < _PLAN_CACHE_SIZE:
                plans[key] = plan
        name, sensitive = plan
        if name in out:
            name = _unique_key(name, out)
            sensitive = is_sensitive(name)
        if sensitive:
            out[name] = replacement
            continue
        cls = _type_of(value)
        if cls is str:
            done = texts.get(value)
            if done is not None:
                out[name] = done
            else:
                out[name] = (
                    redact(value) if value.isascii() else _clean(value, redactor, depth, stack)
                )
        elif (
            (cls is int and _INT_MIN <= value <= _INT_MAX)
            or cls is bool
            or value is None
            or (cls is float and value - value == 0.0)
        ):
            out[name] = value
        else:
            out[name] = _clean(value, redactor, depth, stack)
    return out


def _verbatim_items(
    items: Iterable[tuple[object, Any]],
    redactor: Redactor | None,
    depth: int,
    stack: _Stack,
) -> dict[str, JsonValue]:
    """A nested mapping's items: keys kept as they are, values cleaned and redacted."""
    out: dict[str, JsonValue] = {}
    for key, value in items:
        if type(key) is str:
            name = key if key.isascii() else _text(key, None)
        else:
            name = _text(_text_of(key), None)
        # A key may hold a secret as a value can ({"https://u:pw@proxy:8080": 3}); one
        # that is an identifier cannot, and most are.
        if redactor is not None and not name.isidentifier():
            name = redactor.redact_text(name)
        if name in out:  # 1 and "1", or two keys differing in a lone surrogate
            name = _unique_key(name, out)
        if redactor is not None and redactor.is_sensitive(name):
            out[name] = redactor.replacement
        else:
            out[name] = _clean(value, redactor, depth, stack)
    return out


def _enter(value: object, depth: int, stack: _Stack) -> str | None:
    """Return the marker to write instead of ``value``, or ``None`` after pushing it."""
    if depth >= MAX_DEPTH:
        return TOO_DEEP
    ident = id(value)
    if ident in stack:
        return CYCLE
    stack.add(ident)
    return None


def _mapping(
    value: Mapping[object, object], redactor: Redactor | None, depth: int, stack: _Stack
) -> JsonValue:
    marker = _enter(value, depth, stack)
    if marker is not None:
        return marker
    try:
        return _verbatim_items(value.items(), redactor, depth + 1, stack)
    finally:
        stack.discard(id(value))


def _sequence(
    value: Iterable[object], redactor: Redactor | None, depth: int, stack: _Stack
) -> JsonValue:
    marker = _enter(value, depth, stack)
    if marker is not None:
        return marker
    try:
        depth += 1
        items = [_clean(item, redactor, depth, stack) for item in value]
    finally:
        stack.discard(id(value))
    # A pair whose first item names a secret, as headers are often passed (ASGI's
    # [(b"authorization", b"Bearer ...")], requests' list of tuples): hide its second item.
    if (
        redactor is not None
        and len(items) == 2  # noqa: PLR2004 - a pair
        and type(name := items[0]) is str
        and len(name) <= _KEY_LENGTH
        and redactor.is_sensitive(name)
    ):
        items[1] = redactor.replacement
    return items


def _set(
    value: AbstractSet[Any], redactor: Redactor | None, depth: int, stack: _Stack
) -> JsonValue:
    marker = _enter(value, depth, stack)
    if marker is not None:
        return marker
    try:
        items: list[object]
        try:
            items = sorted(value)
        except Exception:
            items = sorted(value, key=_repr_key)
        depth += 1
        return [_clean(item, redactor, depth, stack) for item in items]
    finally:
        stack.discard(id(value))


def _repr_key(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def _dataclass(
    value: DataclassInstance, redactor: Redactor | None, depth: int, stack: _Stack
) -> JsonValue:
    marker = _enter(value, depth, stack)
    if marker is not None:
        return marker
    try:
        missing = object()
        items = (
            (field.name, item)
            for field in dataclasses.fields(value)
            if (item := getattr(value, field.name, missing)) is not missing
        )
        return _verbatim_items(items, redactor, depth + 1, stack)
    finally:
        stack.discard(id(value))


def _converted(
    value: object, converted: object, redactor: Redactor | None, depth: int, stack: _Stack
) -> JsonValue:
    """Clean what ``value`` converted itself to (enum value, ``_asdict()``, ``model_dump()``)."""
    marker = _enter(value, depth, stack)
    if marker is not None:
        return marker
    try:
        return _clean(converted, redactor, depth + 1, stack)
    finally:
        stack.discard(id(value))


def _decimal(value: decimal.Decimal) -> JsonValue:
    text = str(value)
    # str() is format(value, "f") unless it chose scientific notation or the value is not
    # finite, and it is three times faster: check for the exceptions instead.
    if "E" not in text and text[-1].isdigit():
        return text
    if not value.is_finite():
        return "NaN" if value.is_nan() else ("-Infinity" if value.is_signed() else "Infinity")
    if -_DECIMAL_EXPONENT_LIMIT <= value.adjusted() <= _DECIMAL_EXPONENT_LIMIT:
        return format(value, "f")
    # Writing 1E+1000000 in full would take a megabyte; scientific notation is exact too.
    return text


def decimal_text(value: decimal.Decimal) -> JsonValue:
    """A ``Decimal`` as :func:`clean_value` writes it (positional text, exact)."""
    return _decimal(value)


def _datetime(value: dt.datetime) -> JsonValue:
    # Naive datetimes are taken as UTC, like the entry's own timestamp.
    offset = value.utcoffset()
    if offset:
        try:
            value -= offset
        except OverflowError:  # near datetime.min or max: keep the original offset
            return value.isoformat(timespec="microseconds")
    # isoformat() without arguments is twice as fast as with timespec=, and replace() is
    # slower still: cut its output instead ("YYYY-MM-DDTHH:MM:SS[.ffffff][+HH:MM]").
    text = value.isoformat()
    if value.microsecond:
        return text[:26] + "Z"
    return text[:19] + ".000000Z"


def _isoformat(value: dt.date | dt.time) -> JsonValue:
    return value.isoformat()


def _seconds(value: dt.timedelta) -> JsonValue:
    return value.total_seconds()


def _exception(value: BaseException, redactor: Redactor | None) -> JsonValue:
    message = str(value)
    name = type(value).__name__
    # As the last line of a traceback: the bare type name when there is no message.
    return _text(f"{name}: {message}" if message else name, redactor)


_LEAVES: Final[dict[type, Callable[[Any], JsonValue]]] = {
    decimal.Decimal: _decimal,
    dt.datetime: _datetime,
    dt.date: _isoformat,
    dt.time: _isoformat,
    dt.timedelta: _seconds,
    uuid.UUID: str,
}
"""Exact types converted without redaction: nothing secret fits in their text."""

_CONTAINERS: Final[dict[type, _Converter]] = {
    dict: _mapping,
    list: _sequence,
    tuple: _sequence,
    collections.deque: _sequence,
    set: _set,
    frozenset: _set,
}
"""Exact container types, cleaned item by item."""
