"""The building blocks of validation: converters and the tables made of them.

A converter takes a raw value and its key path (``sinks[1].rotation.size``) and returns
the normalised value, or raises :class:`~tapelog.exceptions.ConfigError` naming the path,
the value and what is allowed. Tables are converters built from a mapping of key to
converter, so each part of the configuration is described by data, not by branches:

- :class:`Record` builds one of the frozen model dataclasses, whose defaults stay the
  dataclass's own;
- :class:`Table` builds a read-only mapping with every key present (defaults filled), for
  a sink's type-specific options and their nested tables.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import MISSING as _DATACLASS_MISSING
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeAlias, TypeVar, cast, final

from tapelog._levels import ALLOWED as LEVEL_EXPECTED
from tapelog._levels import parse_level
from tapelog.config._units import (
    DURATION_EXPECTED,
    SIZE_EXPECTED,
    OutOfRangeError,
    parse_duration,
    parse_size,
)
from tapelog.exceptions import ConfigError


T = TypeVar("T")

Converter: TypeAlias = Callable[[object, str], T]
"""Turns a raw value found at a key path into its normalised form, or raises ConfigError."""

Check: TypeAlias = Callable[[dict[str, Any], str], dict[str, Any]]
"""Runs after a table's keys are converted, for rules that span keys; may add keys."""


@final
class _Missing:
    """The value of a required key that is absent; shows as ``got nothing``."""

    def __repr__(self) -> str:
        return "nothing"


MISSING: Final = _Missing()


def fail(path: str, value: object, expected: str) -> NoReturn:
    """Raise the one kind of error validation raises."""
    raise ConfigError(path, value, expected)


def join(path: str, key: object) -> str:
    """Return the path of ``key`` inside the table at ``path``."""
    return f"{path}.{key}" if path else str(key)


def origin_of(path: str, origins: Mapping[str, str]) -> str:
    """Where the value at ``path`` came from.

    The path's own origin, else that of the nearest table holding it (a whole list of
    sinks), else that of the first key under it (a sink's table), else ``default``.
    """
    parent = path
    while parent:
        if parent in origins:
            return origins[parent]
        parent = parent[: max(parent.rfind("."), parent.rfind("["), 0)]
    for key, origin in origins.items():
        if key.startswith((f"{path}.", f"{path}[")):
            return origin
    return "default"


def words(choices: Iterable[str], last: str = "or") -> str:
    """Return ``"a, b or c"``."""
    items = list(choices)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} {last} {items[-1]}"


# -- scalars ------------------------------------------------------------------------------


def string(*, pattern: str | None = None, expected: str = "a non-empty string") -> Converter[str]:
    """Return a converter for a non-empty string, optionally matching ``pattern`` in full."""
    regex = re.compile(pattern) if pattern is not None else None

    def convert(value: object, path: str) -> str:
        if not isinstance(value, str) or not value or (regex and not regex.fullmatch(value)):
            fail(path, value, expected)
        return value

    return convert


def text(value: object, path: str) -> str:
    """Convert any string, empty included."""
    if not isinstance(value, str):
        fail(path, value, "a string")
    return value


def file_path(value: object, path: str) -> str:
    """Convert a non-empty string or :class:`os.PathLike` to a ``str`` path."""
    if isinstance(value, os.PathLike):
        value = os.fspath(cast("os.PathLike[str]", value))
    if not isinstance(value, str) or not value:
        fail(path, value, "a file path")
    if "\0" in value:
        fail(path, value, "a file path without NUL characters (no system can open one)")
    return value


def _first_existing(place: Path) -> tuple[Path, os.stat_result] | None:
    """The nearest of ``place`` and its parents that exists, with its status."""
    for candidate in (place, *place.parents):
        try:
            return candidate, candidate.stat()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None  # not ours to judge (no permission to look, say)
    return None


def _check_parents(place: Path, raw: object, path: str) -> None:
    """Refuse a path whose directory can never be created: a parent is not a directory."""
    found = _first_existing(place)
    if found is not None and not stat.S_ISDIR(found[1].st_mode):
        fail(path, raw, f"a path whose directory can be created ({str(found[0])!r} is a file)")


def log_file_path(value: object, path: str) -> str:
    """A file to write: not a directory, and under a directory that exists or can."""
    text = file_path(value, path)
    target = Path(text)
    if target.is_dir():
        fail(path, value, "a file path, not a directory")
    _check_parents(target.parent, value, path)
    return text


def directory_path(value: object, path: str) -> str:
    """A directory to write into: a directory already, or one that can be created."""
    text = file_path(value, path)
    target = Path(text)
    if target.exists() and not target.is_dir():
        fail(path, value, "a directory (a file is at this path)")
    _check_parents(target, value, path)
    return text


def boolean(value: object, path: str) -> bool:
    """Convert ``true`` or ``false``; ``1``, ``"yes"`` and the like are refused."""
    if not isinstance(value, bool):
        fail(path, value, "true or false")
    return value


MAX_INTEGER: Final = 2**31 - 1
"""The largest count accepted (queue size, batch records, attempts, files)."""


def integer(*, minimum: int, maximum: int = MAX_INTEGER) -> Converter[int]:
    """Return a converter for an integer in ``[minimum, maximum]``; booleans are refused."""
    expected = f"an integer of at least {minimum}"

    def convert(value: object, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            fail(path, value, expected)
        if value > maximum:
            fail(path, value, f"an integer of at most {maximum}")
        return value

    return convert


def number(*, minimum: float | None = None, maximum: float | None = None) -> Converter[float]:
    """Return a converter for a finite number in ``[minimum, maximum]``, as a float."""
    if minimum is not None and maximum is not None:
        expected = f"a number from {minimum:g} to {maximum:g}"
    else:
        expected = "a number"

    def convert(value: object, path: str) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or (minimum is not None and value < minimum)
            or (maximum is not None and value > maximum)
        ):
            fail(path, value, expected)
        return float(value)

    return convert


def choice(*choices: str) -> Converter[str]:
    """Return a converter for one of ``choices``, spelled exactly."""
    expected = f"one of {', '.join(choices)}"

    def convert(value: object, path: str) -> str:
        if value not in choices:
            fail(path, value, expected)
        return cast("str", value)

    return convert


def level(value: object, path: str) -> int:
    """Convert a level name (any case) or number to its number."""
    try:
        return parse_level(value)
    except ValueError as exc:
        raise ConfigError(path, value, LEVEL_EXPECTED + _quote_hint(value, path)) from exc


def _quote_hint(value: object, path: str) -> str:
    """For ``[levels] proxy.health = "debug"``: TOML read a table, so say to quote the name."""
    if not (path.startswith("levels.") and isinstance(value, Mapping)):
        return ""
    name = path.removeprefix("levels.")
    inner = cast("object", value)
    while isinstance(inner, Mapping):
        table = cast("Mapping[object, object]", inner)
        if len(table) != 1:
            break
        ((key, inner),) = table.items()
        name = f"{name}.{key}"
    shown = f" = {json.dumps(inner)}" if isinstance(inner, str | int) else ""
    return f'; a logger name with dots must be quoted in TOML: "{name}"{shown}'


def _unit(parse: Callable[[object], T], value: object, path: str, expected: str) -> T:
    """Parse a size or a duration; a value it refuses becomes a ConfigError at ``path``."""
    try:
        return parse(value)
    except OutOfRangeError as exc:
        raise ConfigError(path, value, exc.expected) from None
    except ValueError as exc:
        raise ConfigError(path, value, expected) from exc


def size(*, minimum: int = 0) -> Converter[int]:
    """Return a converter for a size in bytes of at least ``minimum``."""

    def convert(value: object, path: str) -> int:
        result = _unit(parse_size, value, path, SIZE_EXPECTED)
        if result < minimum:
            fail(path, value, f"a size of at least {minimum} byte{'s' * (minimum != 1)}")
        return result

    return convert


def duration(*, positive: bool = False) -> Converter[float]:
    """Return a converter for a duration in seconds, greater than zero if ``positive``."""

    def convert(value: object, path: str) -> float:
        result = _unit(parse_duration, value, path, DURATION_EXPECTED)
        if positive and result <= 0:
            fail(path, value, "a duration greater than zero")
        return result

    return convert


# -- containers ---------------------------------------------------------------------------


def as_mapping(value: object, path: str) -> Mapping[object, object]:
    """Return ``value`` if it is a table, else raise."""
    if not isinstance(value, Mapping):
        fail(path, value, "a table")
    return cast("Mapping[object, object]", value)


def as_list(value: object, path: str, expected: str = "a list") -> list[object]:
    """Return ``value`` as a list if it is a list or tuple (never a string), else raise."""
    if not isinstance(value, list | tuple):
        fail(path, value, expected)
    return list(cast("Iterable[object]", value))


def sequence(item: Converter[T]) -> Converter[tuple[T, ...]]:
    """Return a converter for a list whose items ``item`` converts; gives a tuple."""

    def convert(value: object, path: str) -> tuple[T, ...]:
        return tuple(item(x, f"{path}[{i}]") for i, x in enumerate(as_list(value, path)))

    return convert


def mapping(
    item: Converter[T], key: Converter[str] | None = None
) -> Converter[MappingProxyType[str, T]]:
    """Return a converter for a table of free-form string keys whose values ``item`` converts."""
    key = key or string(expected="a non-empty string key")

    def convert(value: object, path: str) -> MappingProxyType[str, T]:
        result: dict[str, T] = {}
        for k, v in as_mapping(value, path).items():
            name = key(k, join(path, k))
            result[name] = item(v, join(path, k))
        return MappingProxyType(result)

    return convert


def read_keys(
    value: object,
    path: str,
    converters: Mapping[str, Converter[Any]],
    *,
    required: Collection[str] = (),
    also_allowed: Collection[str] = (),
) -> dict[str, Any]:
    """Convert the keys of the table at ``path``: the heart of every table.

    A ``None`` value counts as absent. A key outside ``converters`` is an error that
    lists the keys allowed (``converters`` and ``also_allowed``) and the closest one.
    """
    result: dict[str, Any] = {}
    for key, item in as_mapping(value, path).items():
        if not isinstance(key, str) or key not in converters:
            import difflib  # only on this error path: it costs a millisecond to import

            allowed = [*also_allowed, *converters]
            guess = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            fail(join(path, key), key, f"a known key ({words(allowed)}{hint})")
        if item is not None:
            where = join(path, key)
            try:
                result[key] = converters[key](item, where)
            except ConfigError:
                raise
            except (ValueError, TypeError, OverflowError) as exc:
                # A converter's own check missed a case (a library raising on odd input):
                # still a ConfigError naming the key, never a traceback from configure().
                expected = f"a valid value ({type(exc).__name__}: {exc})"
                raise ConfigError(where, item, expected) from exc
    for key in required:
        if key not in result:
            fail(join(path, key), MISSING, "a value (this key is required)")
    return result


@dataclass(frozen=True, slots=True)
class Option:
    """One key of a :class:`Table`: its converter, its default, whether it must be given."""

    convert: Converter[Any]
    default: Any = None
    required: bool = False


@final
@dataclass(frozen=True, slots=True)
class Table:
    """A converter for a table of known keys, giving a read-only mapping with every key.

    ``also_allowed`` only widens the list of keys an unknown-key error offers (a sink's
    common keys, read elsewhere). ``check`` runs last, for rules spanning keys.
    """

    options: Mapping[str, Option]
    check: Check | None = None
    also_allowed: tuple[str, ...] = ()

    def __call__(self, value: object, path: str) -> MappingProxyType[str, Any]:
        converters = {key: option.convert for key, option in self.options.items()}
        required = [key for key, option in self.options.items() if option.required]
        given = read_keys(
            value, path, converters, required=required, also_allowed=self.also_allowed
        )
        result = {key: given.get(key, option.default) for key, option in self.options.items()}
        return MappingProxyType(self.check(result, path) if self.check else result)

    def extend(self, **options: Option) -> Table:
        """Return this table with more keys (or some replaced), for later features."""
        return Table({**self.options, **options}, self.check, self.also_allowed)

    def defaults(self) -> MappingProxyType[str, Any]:
        """Return the value of an absent table: every key at its default."""
        return self({}, "")


@final
@dataclass(frozen=True, slots=True)
class Record:
    """A converter for a table that builds the model dataclass ``cls``.

    Absent keys keep the dataclass's defaults; fields without one are required.
    """

    cls: type[Any]
    converters: Mapping[str, Converter[Any]]
    check: Check | None = None

    def __call__(self, value: object, path: str) -> Any:
        required = [
            f.name
            for f in fields(self.cls)
            if f.default is _DATACLASS_MISSING and f.default_factory is _DATACLASS_MISSING
        ]
        given = read_keys(value, path, self.converters, required=required)
        return self.cls(**(self.check(given, path) if self.check else given))
