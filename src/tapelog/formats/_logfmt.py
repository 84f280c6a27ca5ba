"""The logfmt format: ``key=value`` pairs on one line, and the parser that reads them back.

Quoting follows go-logfmt, with two additions that make a parsed-back line carry the same
types as the JSON entry: a string that looks like a number, boolean, null or JSON is quoted
(``order_qty="10"``), and a list is one quoted JSON string. Nested objects flatten with
dots (``trade.symbol=BTC-USD``).

The round trip is ``parse_logfmt(line) == flatten(entry)``, and ``unflatten`` rebuilds
tapelog's nested objects from the flat view, so that a parsed-back line validates against
the log-entry schema.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Final, TypeAlias, cast, final

import orjson

from ._json import dumps
from ._text import NEEDS_QUOTES_SEARCH as _NEEDS_QUOTES_SEARCH
from ._text import TYPED_START as _TYPED_START
from ._text import looks_typed, quote, safe_text


if TYPE_CHECKING:
    from tapelog.typing import EventDict


__all__ = [
    "NESTED_OBJECTS",
    "LogfmtFormat",
    "encode_value",
    "flat_items",
    "flatten",
    "parse_logfmt",
    "unflatten",
]

FlatValue: TypeAlias = "str | int | float | bool | None"
"""A value in the flat view: what one ``key=value`` pair holds."""

NESTED_OBJECTS: Final = ("error", "trade", "metric", "audit")
"""tapelog's nested objects, which ``unflatten`` rebuilds by default."""

# Fields of tapelog's objects that hold a list or an object, so unflatten decodes the JSON
# text logfmt wrote for them. Any other string stays a string, even if it reads as JSON:
# an error message "[1, 2]" must come back as text.
_CONTAINER_FIELDS: Final = frozenset(
    {"frames", "notes", "exceptions", "attributes", "threshold", "buckets", "counts"}
)
# Maps whose keys are OpenTelemetry attribute names, which contain dots themselves:
# metric.attributes.network.io.direction is the key "network.io.direction" of attributes.
_ATTRIBUTE_MAPS: Final = frozenset({"attributes"})
# OpenTelemetry names that are single keys inside ``error`` (and its cause or context):
# error.server.address is the key "server.address" of error, not a "server" object.
_DOTTED_LEAVES: Final = frozenset(
    {"server.address", "server.port", "url.full", "http.response.status_code"}
)

_MAX_DEPTH: Final = 32
# A key holds no space (of any script), control character, "=", '"' or backslash, which
# go-logfmt's readers and the log-entry schema refuse; any other character is kept.
_KEY_BAD_CHAR: Final = re.compile(
    '[\x00-\x20"=\\\\\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
)
_key_cache: dict[str, str] = {}
_KEY_CACHE_SIZE: Final = 4096
# String values as written (bare or quoted): levels, loggers, symbols and statuses repeat.
# Reads and writes are single dict operations, safe when several formatters share it.
_text_cache: dict[str, str] = {}
_TEXT_CACHE_SIZE: Final = 4096
_CACHEABLE_TEXT_LENGTH: Final = 64
_CONSTANTS: Final[dict[object, str]] = {None: "null", True: "true", False: "false"}

# The parser: whitespace is any byte <= 0x20, as in go-logfmt.
_SPACE: Final = re.compile(r"[\x00-\x20]*")
_KEY: Final = re.compile(r'[^\x00-\x20="]+')
_BARE: Final = re.compile(r"[^\x00-\x20]*")
_QUOTED: Final = re.compile(r'"((?:[^"\\]|\\.)*)"', re.DOTALL)
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")
_WORDS: Final[dict[str, FlatValue]] = {"true": True, "false": False, "null": None}


def _new_key(key: object) -> str:
    """Return ``key`` as a logfmt key, and remember it: callers look in ``_key_cache`` first.

    A valid key is kept as given (the same object); any other gets ``_`` for each bad
    character, so a key can never hold a space, ``=``, ``"`` or a control character, and
    an empty key becomes ``_``. Two keys rewritten to one name are told apart afterwards
    (see ``_unique_parts``).
    """
    text = safe_text(key)
    if _KEY_BAD_CHAR.search(text) is not None:
        text = _KEY_BAD_CHAR.sub("_", text)
    elif not text:
        text = "_"
    if type(key) is str:  # only str keys: 1, 1.0 and True are one dict key, but not one name
        if len(_key_cache) >= _KEY_CACHE_SIZE:
            _key_cache.clear()  # keys repeat; unbounded keys just pay the check each time
        _key_cache[key] = text
    return text


def encode_value(value: object) -> str:
    """Return one value as logfmt text.

    ``None`` is ``null``, booleans ``true``/``false``, numbers bare, and a string bare
    unless it is empty, holds a space, ``=``, ``"``, a control character or a line break,
    or looks like a number, boolean, null, list or object: then it is quoted with
    JSON-style escapes.
    Any other value is first made flat (see ``flatten``).

    Args:
        value: a value from the flat view.

    Returns:
        The text after ``key=``.
    """
    # Exact type checks, most frequent first; bool is not int here, as type(True) is bool.
    if type(value) is str:
        text = _text_cache.get(value)
        return text if text is not None else _encode_text(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if type(value) is int:
        return int.__repr__(value)
    if type(value) is float:
        return float.__repr__(value) if math.isfinite(value) else "null"
    return encode_value(_leaf(value))


def _encode_text(text: str) -> str:
    """A string value as logfmt writes it (bare or quoted); short ones are remembered."""
    encoded = text if _is_bare(text) else quote(text)
    # Timestamps and numeric-looking ids start with a digit and rarely repeat: not kept.
    if len(text) <= _CACHEABLE_TEXT_LENGTH and not text[:1].isdigit():
        if len(_text_cache) >= _TEXT_CACHE_SIZE:
            _text_cache.clear()
        _text_cache[text] = encoded
    return encoded


def _is_bare(text: str) -> bool:
    return (
        bool(text)
        and _NEEDS_QUOTES_SEARCH(text) is None
        and not (text[0] in _TYPED_START and looks_typed(text))
    )


def _leaf(value: object) -> FlatValue:
    """Return a value that is not a mapping as a flat value."""
    if value is None or type(value) is str or type(value) is bool or type(value) is int:
        return value
    if type(value) is float:
        return value if math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        return dumps(cast("Sequence[object]", value)).decode("utf-8")
    if isinstance(value, str):
        return safe_text(value)
    try:
        if isinstance(value, int):
            return int(value)  # an IntEnum member and the like
        if isinstance(value, float):
            number = float(value)
            return number if math.isfinite(number) else None
    except Exception:  # a subclass with a broken __int__ or __float__: fall back to text
        return safe_text(value)
    return safe_text(value)


def flat_items(mapping: Mapping[str, object], prefix: str = "") -> Iterator[tuple[str, FlatValue]]:
    """Yield the flat ``(key, value)`` pairs of ``mapping``, in order.

    Nested mappings flatten with dots; an empty one is the string ``"{}"``. A list is its
    compact JSON text. Non-finite floats become ``None``, as in the JSON format. When two
    keys would give one flat name (``{"a.b": 1, "a": {"b": 2}}``, or two keys rewritten
    alike), the later gets ``_`` appended: ``a.b`` and ``a.b_``.

    Args:
        mapping: an entry, or part of one.
        prefix: prepended to every key (``"trade."``).

    Returns:
        An iterator of pairs of a logfmt key and a flat value.
    """
    return iter(_unique_pairs(list(_flat_items(mapping, prefix, 0))))


def _unique_name(name: str, taken: set[str]) -> str:
    """``name_`` (or ``name__`` ...): the first of them not in ``taken``, which it joins."""
    name = f"{name}_"
    while name in taken:
        name = f"{name}_"
    taken.add(name)
    return name


def _unique_pairs(pairs: list[tuple[str, FlatValue]]) -> list[tuple[str, FlatValue]]:
    """Give every pair its own name: a repeated one becomes ``name_`` (see ``_unique_name``)."""
    taken = {name for name, _ in pairs}
    if len(taken) == len(pairs):
        return pairs
    seen: set[str] = set()
    unique: list[tuple[str, FlatValue]] = []
    for name, value in pairs:
        if name in seen:
            name = _unique_name(name, taken)  # noqa: PLW2901 - the name it is written under
        seen.add(name)
        unique.append((name, value))
    return unique


def _unique_parts(parts: list[str]) -> list[str]:
    """``_unique_pairs`` for written ``name=value`` parts (a name never holds ``=``)."""
    names = [part[: part.index("=")] for part in parts]
    taken = set(names)
    if len(taken) == len(names):
        return parts
    seen: set[str] = set()
    unique: list[str] = []
    for name, part in zip(names, parts, strict=True):
        if name in seen:
            new = _unique_name(name, taken)
            seen.add(new)
            unique.append(new + part[len(name) :])
        else:
            seen.add(name)
            unique.append(part)
    return unique


def _flat_items(
    mapping: Mapping[str, object], prefix: str, depth: int
) -> Iterator[tuple[str, FlatValue]]:
    cache = _key_cache
    for key, value in mapping.items():
        name = prefix + (cache.get(key) or _new_key(key))
        if type(value) is str or type(value) is int or value is None or type(value) is bool:
            yield name, value
        elif isinstance(value, Mapping):
            nested = cast("Mapping[str, object]", value)
            if not nested:
                yield name, "{}"
            elif depth >= _MAX_DEPTH:
                yield name, "<too deep>"  # a cycle, or nesting no reader wants
            else:
                yield from _flat_items(nested, name + ".", depth + 1)
        else:
            yield name, _leaf(value)


def flatten(entry: Mapping[str, object]) -> dict[str, object]:
    """Return the flat view of an entry: exactly what ``LogfmtFormat`` writes.

    Nested objects flatten with dots (``{"trade": {"symbol": "X"}}`` gives
    ``{"trade.symbol": "X"}``), an empty object becomes the string ``"{}"``, and a list
    becomes its compact JSON text. ``parse_logfmt(LogfmtFormat()(entry).decode())``
    equals ``flatten(entry)``.

    Args:
        entry: a log entry.

    Returns:
        Flat keys mapped to ``None``, ``bool``, ``int``, ``float`` or ``str``.

    Example:
        >>> flatten({"trade": {"symbol": "BTC-USD", "fills": [1, 2]}, "tags": {}})
        {'trade.symbol': 'BTC-USD', 'trade.fills': '[1,2]', 'tags': '{}'}
    """
    return dict(_unique_pairs(list(_flat_items(entry, "", 0))))


@final
class LogfmtFormat:
    r"""Writes an entry as ``key=value`` pairs on one line, go-logfmt style.

    See ``encode_value`` for the quoting and ``flatten`` for nested objects and lists.
    No value can split the line: newlines, control characters, U+0085, U+2028 and U+2029
    are escaped inside quotes.

    Example:
        >>> LogfmtFormat()({"level": "info", "message": "order filled",
        ...                 "trade": {"order_qty": "10", "symbol": "BTC-USD"}})
        b'level=info message="order filled" trade.order_qty="10" trade.symbol=BTC-USD\n'
    """

    __slots__ = ()

    def __call__(self, entry: EventDict) -> bytes:
        """Return the entry as one logfmt line ending in a newline."""
        parts: list[str] = []
        try:
            if _append_pairs(parts, entry, "", 0):
                parts = _unique_parts(parts)
        except Exception as exc:  # only a hostile Mapping subclass gets here
            parts = [f"logfmt_error={quote(safe_text(exc))}", f"entry={quote(safe_text(entry))}"]
        return (" ".join(parts) + "\n").encode("utf-8", "backslashreplace")

    def __repr__(self) -> str:
        return "LogfmtFormat()"


def _skip_space(line: str, pos: int) -> int:
    space = _SPACE.match(line, pos)
    assert space is not None  # [...]* always matches
    return space.end()


def _append_pairs(parts: list[str], mapping: Mapping[str, object], prefix: str, depth: int) -> bool:
    """Append the pairs of ``mapping``; return whether two of them may share a name.

    They may only when a key was rewritten or a nested mapping was flattened (``a.b``
    beside ``a: {b}``); otherwise the names are the mapping's own distinct keys.
    """
    # flat_items and encode_value fused into one loop, because this runs per field on the
    # worker and a generator costs about half again as much. The property tests hold the
    # two equal: parse_logfmt(LogfmtFormat()(entry)) == flatten(entry).
    cache = _key_cache
    texts = _text_cache
    suspect = False
    for key, value in mapping.items():
        name = cache.get(key) or _new_key(key)
        if name is not key:
            suspect = True
        if prefix:
            name = prefix + name
        if type(value) is str:
            text = texts.get(value)
            if text is None:
                text = _encode_text(value)
            parts.append(f"{name}={text}")
        elif type(value) is int:
            parts.append(f"{name}={value}")
        elif type(value) is float:
            parts.append(f"{name}={value!r}" if value - value == 0.0 else f"{name}=null")
        elif value is None or type(value) is bool:
            parts.append(f"{name}={_CONSTANTS[value]}")
        elif isinstance(value, Mapping):
            nested = cast("Mapping[str, object]", value)
            if not nested:
                parts.append(f'{name}="{{}}"')
            elif depth >= _MAX_DEPTH:
                parts.append(f'{name}="<too deep>"')
            else:
                _append_pairs(parts, nested, name + ".", depth + 1)
                suspect = True
        else:
            parts.append(f"{name}={encode_value(_leaf(value))}")
    return suspect


def _parse_bare(text: str) -> FlatValue:
    if not text:
        return ""
    word = _WORDS.get(text, text)
    if word is not text:
        return word
    if text[0] in "-0123456789":
        number = _NUMBER.match(text)
        if number is not None:
            return float(text) if number.group(1) or number.group(2) else int(text)
    return text


def parse_logfmt(line: str) -> dict[str, object]:
    r"""Parse one logfmt line into flat keys and typed values.

    Unquoted numbers read as ``int`` or ``float``, ``true``/``false`` as booleans,
    ``null`` as ``None``, ``k=`` and ``k=""`` as the empty string, and a bare ``k`` as
    ``True``. A quoted value is always a string, with JSON escapes decoded. A repeated
    key keeps its last value.

    Args:
        line: one line, with or without its trailing newline.

    Returns:
        The flat view of the entry (see ``flatten``).

    Raises:
        ValueError: the line is not logfmt (an unterminated quote, a bad escape, a
            stray ``=`` or ``"``).

    Example:
        >>> parse_logfmt('level=info qty="10" n=10 ok=true x=null msg="a \\"b\\""')
        {'level': 'info', 'qty': '10', 'n': 10, 'ok': True, 'x': None, 'msg': 'a "b"'}
    """
    result: dict[str, object] = {}
    end = len(line)
    pos = _skip_space(line, 0)
    while pos < end:
        key_match = _KEY.match(line, pos)
        if key_match is None:
            msg = f"logfmt column {pos}: expected a key, got {line[pos : pos + 20]!r}"
            raise ValueError(msg)
        key = key_match.group()
        pos = key_match.end()
        value: object = True
        if pos < end and line[pos] == "=":
            pos += 1
            if pos < end and line[pos] == '"':
                quoted = _QUOTED.match(line, pos)
                if quoted is None:
                    got = line[pos : pos + 20]
                    msg = f"logfmt column {pos}: expected a closing quote, got {got!r}"
                    raise ValueError(msg)
                raw = quoted.group(1)
                value = _unescape(raw, pos) if "\\" in raw else raw
                pos = quoted.end()
            else:
                bare = _BARE.match(line, pos)
                assert bare is not None  # [^...]* always matches
                value = _parse_bare(bare.group())
                pos = bare.end()
        result[key] = value
        after = _skip_space(line, pos)
        if after == pos and pos < end:
            msg = (
                f"logfmt column {pos}: expected a space between pairs, got {line[pos : pos + 20]!r}"
            )
            raise ValueError(msg)
        pos = after
    return result


def _unescape(raw: str, pos: int) -> str:
    try:
        # strict=False: accept raw control characters that other writers leave in quotes.
        return cast("str", json.loads(f'"{raw}"', strict=False))
    except ValueError as exc:
        msg = f"logfmt column {pos}: expected JSON escapes in a quoted value, got {raw[:40]!r}"
        raise ValueError(msg) from exc


def _decode_container(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("[", "{"):
        try:
            # Text starting with [ or { that parses is a list or an object.
            return cast("object", orjson.loads(value))
        except orjson.JSONDecodeError:
            return value
    return value


def _split_path(rest: str) -> list[str]:
    parts: list[str] = []
    while True:
        if rest in _DOTTED_LEAVES:
            parts.append(rest)
            return parts
        head, dot, tail = rest.partition(".")
        parts.append(head)
        if not dot:
            return parts
        if head in _ATTRIBUTE_MAPS:
            parts.append(tail)
            return parts
        rest = tail


def unflatten(
    flat: Mapping[str, object], nested: Collection[str] = NESTED_OBJECTS
) -> dict[str, object]:
    """Rebuild nested objects from a flat view, such as ``parse_logfmt`` returns.

    Keys under a name in ``nested`` become nested objects again
    (``trade.symbol`` becomes ``{"trade": {"symbol": ...}}``); every other key stays flat,
    so OpenTelemetry names such as ``server.address`` stay as they are. Inside the rebuilt
    objects:

    - the JSON text of a list or object is decoded for the fields of tapelog's objects that
      hold one (``frames``, ``notes``, ``exceptions``, ``attributes``, ``threshold``,
      ``buckets``, ``counts``) and for the object itself (``trade="{}"``); any other
      string stays a string, even when it reads as JSON;
    - keys below ``attributes`` are kept whole, since attribute names contain dots
      (``metric.attributes.network.io.direction``).

    A key that clashes with a value already there (``trade=1`` then ``trade.side=buy``)
    stays flat rather than overwrite it.

    Args:
        flat: flat keys and values.
        nested: the top-level names to rebuild.

    Returns:
        The entry, in the order its keys first appeared.

    Example:
        >>> unflatten({"server.port": 443, "trade.side": "buy", "error.notes": '["retry"]'})
        {'server.port': 443, 'trade': {'side': 'buy'}, 'error': {'notes': ['retry']}}
    """
    result: dict[str, object] = {}
    for key, value in flat.items():
        root, dot, rest = key.partition(".")
        if root not in nested:
            result[key] = value
        elif not dot:
            result[key] = _decode_container(value)
        elif not _insert(result, root, _split_path(rest), value):
            result[key] = value
    return result


def _insert(result: dict[str, object], root: str, path: list[str], value: object) -> bool:
    node: object = result.setdefault(root, {})
    for part in path[:-1]:
        if not isinstance(node, dict):
            return False
        node = cast("dict[str, object]", node).setdefault(part, {})
    if not isinstance(node, dict):
        return False
    last = path[-1]
    cast("dict[str, object]", node)[last] = (
        _decode_container(value) if last in _CONTAINER_FIELDS else value
    )
    return True
