"""Where configuration comes from, and which source wins.

Lowest to highest: built-in defaults < the config file (or a dict, or a ``Config``) <
keyword overrides < environment variables. Each layer is merged over the ones below it,
tables key by key and anything else (``sinks`` included) replaced whole, and every key
path remembers the layer that set it, for ``tapelog config show`` and for error messages.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any, Final, cast

from tapelog.config._convert import join
from tapelog.config._model import Config, SinkConfig
from tapelog.config._validate import leaf_paths, validate
from tapelog.exceptions import ConfigError


__all__ = ["ENV_CONFIG", "ENV_FORMAT", "ENV_LEVEL", "ENV_LEVELS", "load_config", "read_file"]

ENV_CONFIG: Final = "TAPELOG_CONFIG"
ENV_LEVEL: Final = "TAPELOG_LEVEL"
ENV_LEVELS: Final = "TAPELOG_LEVELS"
ENV_FORMAT: Final = "TAPELOG_FORMAT"

_NOT_EMPTY: Final = (
    "a configuration with at least one key (an empty file is refused on reload: it would"
    " replace every sink with the default console sink)"
)
_TOO_DEEP: Final = "a configuration nested less deeply"
_LEVELS_EXPECTED: Final = (
    'comma-separated logger=level pairs like "proxy.health=debug,urllib3=warning"'
)


def read_file(path: str | os.PathLike[str], *, allow_empty: bool = True) -> dict[str, object]:
    """Read a configuration file: TOML if its name ends in ``.toml``, JSON if ``.json``.

    ``allow_empty=False`` refuses a file without a single key (empty, blank or comments
    only): on reload, that is a file caught in the middle of being saved, not a wish to
    replace every sink with the default console sink.

    Raises:
        ConfigError: the file has another suffix, cannot be read, is not valid TOML or
            JSON (the message gives the line and column), is nested too deeply, does not
            hold a table, or holds no key while ``allow_empty`` is False.
    """
    import tomllib  # only when there is a file to read

    name = os.fspath(path)
    suffix = Path(name).suffix.lower()
    if suffix not in {".toml", ".json"}:
        raise ConfigError("", name, "a .toml or .json file")
    try:
        raw = Path(name).read_bytes()
    except OSError as exc:
        raise ConfigError("", name, f"a readable file ({exc.strerror})") from exc
    try:
        if suffix == ".toml":
            data: object = tomllib.loads(raw.decode("utf-8"))
        else:
            data = json.loads(raw)
    except RecursionError:
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise ConfigError("", name, f"valid {kind} (nested too deeply to read)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError("", name, f"UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", name, f"valid TOML ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError("", name, f"valid JSON ({_json_problem(exc)})") from exc
    if _deeper_than(data, _MAX_FILE_DEPTH):
        kind = "TOML" if suffix == ".toml" else "JSON"
        raise ConfigError("", name, f"valid {kind} (nested too deeply to read)")
    if not isinstance(data, dict):
        raise ConfigError("", name, "a JSON object at the top level")
    if not data and not allow_empty:
        raise ConfigError("", name, _NOT_EMPTY)
    return cast("dict[str, object]", data)


# What the json module's messages mean, in this project's words: its wording (and, for a
# trailing comma, the position it points at) changes between Python versions.
_JSON_PROBLEMS: Final = (
    ("Expecting property name", "a key in double quotes should start here"),
    ("Expecting ':'", "a ':' should follow the key here"),
    ("Expecting ','", "a ',' or the closing bracket should come here"),
    ("Extra data", "more text after the end of the top-level object"),
    ("Unterminated string", "a string that is never closed starts here"),
    ("Invalid control character", "a control character (tab, line break) inside a string"),
    ("Invalid \\uXXXX", "a \\u escape without four hex digits"),
    ("Invalid \\escape", "an unknown backslash escape"),
)

_MAX_FILE_DEPTH: Final = 100
"""Tables and arrays nested deeper than this in a config file are refused, on every Python
(the parsers' own limits differ between versions; a real configuration is 4 deep)."""


def _json_problem(exc: json.JSONDecodeError) -> str:
    """Say what is wrong in a JSON text and where (line and column, from 1).

    The words do not change with the Python version, as the json module's do.

    >>> try:
    ...     json.loads('{"level": "info",}')
    ... except json.JSONDecodeError as exc:
    ...     print(_json_problem(exc))
    a comma before the closing '}' (JSON allows none) at line 1, column 17
    """
    doc, pos = exc.doc, exc.pos
    before = doc[:pos].rstrip()
    after = doc[pos + 1 :].lstrip()
    if doc[pos : pos + 1] == "," and after[:1] in {"}", "]"}:  # Python 3.13 points here
        what = f"a comma before the closing {after[0]!r} (JSON allows none)"
    elif doc[pos : pos + 1] in {"}", "]"} and before.endswith(","):  # 3.11 and 3.12 here
        what = f"a comma before the closing {doc[pos]!r} (JSON allows none)"
        pos = len(before) - 1
    elif exc.msg.startswith("Expecting value"):
        what = (
            "the text ends where a value should be"
            if pos >= len(doc)
            else ("a value should start here")
        )
    else:
        what = next(
            (ours for theirs, ours in _JSON_PROBLEMS if exc.msg.startswith(theirs)),
            "text that is not JSON",
        )
    line = doc.count("\n", 0, pos) + 1
    column = pos - doc.rfind("\n", 0, pos)
    return f"{what} at line {line}, column {column}"


def _deeper_than(value: object, limit: int) -> bool:
    """Whether tables or arrays in ``value`` nest more than ``limit`` levels (no recursion)."""
    todo: list[tuple[object, int]] = [(value, 1)]
    while todo:
        item, depth = todo.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children: Iterable[object] = (
                cast("dict[str, object]", item).values()
                if isinstance(item, dict)
                else cast("list[object]", item)
            )
            todo.extend((child, depth + 1) for child in children)
    return False


def load_config(
    source: str | os.PathLike[str] | Mapping[str, object] | Config | None = None,
    /,
    *,
    overrides: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
    allow_empty: bool = True,
) -> Config:
    """Merge every source of configuration, lowest first, and validate the result.

    Args:
        source: a TOML or JSON file path; a mapping with the file's shape (origin
            ``dict``); a ``Config``, taken as it is; or ``None`` for the file named by
            ``TAPELOG_CONFIG``, if set.
        overrides: top-level keys over the source; tables merge key by key, other values
            (``sinks`` included) replace. ``None`` values count as absent.
        environ: the environment to read ``TAPELOG_*`` from; ``os.environ`` by default.
        allow_empty: False refuses a config file without a single key (``reload`` does).

    Returns:
        The validated configuration, with ``origins`` and ``source_path`` filled in.

    Raises:
        ConfigError: a file cannot be read, or a value from any source is invalid; the
            message names the key path and the source (``env:TAPELOG_LEVEL``).
    """
    try:
        return _load_config(source, overrides, environ, allow_empty=allow_empty)
    except RecursionError:  # a mapping nested thousands deep, passed in by code
        raise ConfigError("", "(a deeply nested value)", _TOO_DEEP) from None


def _load_config(
    source: str | os.PathLike[str] | Mapping[str, object] | Config | None,
    overrides: Mapping[str, object] | None,
    environ: Mapping[str, str] | None,
    *,
    allow_empty: bool,
) -> Config:
    environ = os.environ if environ is None else environ
    given = cast("object", source)  # callers outside the type checker may pass anything
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    source_path: str | None = None
    if isinstance(given, Config):
        data = cast("dict[str, Any]", _as_data(given))
        origins = dict(given.origins) or dict.fromkeys(leaf_paths(data), "config")
        source_path = given.source_path
    elif isinstance(given, Mapping):
        _merge(data, cast("Mapping[str, object]", given), origins, "dict")
    elif given is not None and not isinstance(given, str | os.PathLike):
        raise ConfigError("", given, "a file path, a mapping or a Config")
    elif path := source or environ.get(ENV_CONFIG, "").strip():
        source_path = str(Path(cast("str | os.PathLike[str]", path)).absolute())
        try:
            layer = read_file(source_path, allow_empty=allow_empty)
        except ConfigError as exc:
            if source is not None:
                raise
            variable = f"env:{ENV_CONFIG}"
            raise ConfigError(exc.path, exc.value, exc.expected, source=variable) from exc
        _merge(data, layer, origins, f"file:{source_path}")
    extra = cast("object", overrides)
    if extra is not None and not isinstance(extra, Mapping):
        raise ConfigError("", extra, "a mapping of top-level keys", source="overrides")
    if overrides:
        _merge(data, overrides, origins, "overrides")
    for variable, layer in _environment(environ):
        _merge(data, layer, origins, f"env:{variable}")
    return replace(validate(data, origins=origins), source_path=source_path)


def _environment(environ: Mapping[str, str]) -> Iterator[tuple[str, Mapping[str, object]]]:
    """Yield each ``TAPELOG_*`` variable that is set, as a layer. Empty counts as unset."""
    if value := environ.get(ENV_LEVEL, "").strip():
        yield ENV_LEVEL, {"level": value}
    if value := environ.get(ENV_LEVELS, "").strip():
        yield ENV_LEVELS, {"levels": _parse_levels(value)}
    if value := environ.get(ENV_FORMAT, "").strip():
        yield ENV_FORMAT, {"format": value}


def _parse_levels(value: str) -> dict[str, str]:
    """Read ``"proxy.health=debug,urllib3=warning"``; the levels are checked later."""
    levels: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        logger, equals, level = (part.strip() for part in item.partition("="))
        if not (logger and equals and level):
            raise ConfigError("levels", value, _LEVELS_EXPECTED, source=f"env:{ENV_LEVELS}")
        levels[logger] = level
    return levels


def _merge(
    base: dict[str, Any],
    layer: Mapping[str, object],
    origins: dict[str, str],
    origin: str,
    prefix: str = "",
) -> None:
    """Merge ``layer`` into ``base`` in place, recording ``origin`` for each path it sets."""
    for key, value in layer.items():
        if value is None:
            continue
        path = join(prefix, key)
        current = base.get(key)
        if isinstance(value, Mapping):
            if not isinstance(current, dict):
                _forget(origins, path, subtree=current is not None)
                current = base[key] = {}
            _merge(
                cast("dict[str, Any]", current),
                cast("Mapping[str, object]", value),
                origins,
                origin,
                path,
            )
        else:
            _forget(origins, path, subtree=isinstance(current, dict | list | tuple))
            base[key] = value
            origins.update(dict.fromkeys(leaf_paths(value, path), origin))


def _forget(origins: dict[str, str], path: str, *, subtree: bool) -> None:
    """Drop the origin of ``path``, and of everything under it if it held a container."""
    origins.pop(path, None)
    if subtree:
        for key in [k for k in origins if k.startswith((f"{path}.", f"{path}["))]:
            del origins[key]


def _as_data(value: object) -> object:
    """Turn a ``Config`` back into raw data that validates to it; sinks are kept as they are."""
    if isinstance(value, SinkConfig):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        skip = {"source_path", "origins"}
        return {
            f.name: _as_data(getattr(value, f.name)) for f in fields(value) if f.name not in skip
        }
    if isinstance(value, Mapping):
        return {k: _as_data(v) for k, v in cast("Mapping[str, object]", value).items()}
    if isinstance(value, tuple):
        return [_as_data(v) for v in cast("tuple[object, ...]", value)]
    return value
