"""Validation: a raw mapping (a parsed file, a dict) in, a frozen :class:`Config` out.

The whole configuration is described by one table of key to converter below; the sinks
have their own module. Validation stops at the first problem, in the order the keys were
written, and raises :class:`~tapelog.exceptions.ConfigError` naming the key path, the
value, what is allowed, and where the value came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from types import MappingProxyType
from typing import Any, Final, cast, get_args

from tapelog._event import CORE_FIELDS, OPTIONAL_FIELDS
from tapelog.config._convert import (
    Converter,
    Record,
    boolean,
    choice,
    duration,
    fail,
    integer,
    join,
    level,
    mapping,
    number,
    origin_of,
    read_keys,
    sequence,
    string,
    text,
    words,
)
from tapelog.config._model import (
    ClockConfig,
    Config,
    ErrorsConfig,
    FieldsConfig,
    MetricsConfig,
    OverflowPolicy,
    QueueConfig,
    RedactionConfig,
    ThresholdConfig,
)
from tapelog.config._sinks import FORMATS, read_sinks
from tapelog.exceptions import ConfigError


__all__ = ["THRESHOLD_STATS", "leaf_paths", "validate"]


def _pattern(value: object, path: str) -> str:
    if not isinstance(value, str):
        fail(path, value, "a regular expression string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(path, value, f"a valid regular expression ({exc})") from exc
    return value


def _distinct_renames(values: dict[str, Any], path: str) -> dict[str, Any]:
    targets: dict[str, str] = {}
    for old, new in values.get("rename", {}).items():
        if new in targets:
            expected = f"a new name that {targets[new]!r} does not also take"
            fail(join(join(path, "rename"), old), new, expected)
        targets[new] = old
    return values


THRESHOLD_STATS: Final = (
    "value",
    "count",
    "sum",
    "min",
    "max",
    "mean",
    "p50",
    "p90",
    "p95",
    "p99",
    "p999",
)


def _threshold(values: dict[str, Any], path: str) -> dict[str, Any]:
    """One limit or a band; a clear level on the safe side of a single limit."""
    above, below, clear = values.get("above"), values.get("below"), values.get("clear")
    if above is None and below is None:
        fail(path, values, "a threshold with above, below or both")
    if above is not None and below is not None and above < below:
        fail(join(path, "above"), above, f"a limit not below `below` ({below:g})")
    if clear is not None:
        if above is not None and below is not None:
            fail(join(path, "clear"), clear, "no clear level on a band (above and below)")
        if above is not None and clear > above:
            fail(join(path, "clear"), clear, f"a clear level at or below `above` ({above:g})")
        if below is not None and clear < below:
            fail(join(path, "clear"), clear, f"a clear level at or above `below` ({below:g})")
    if "for" in values:
        values["hold"] = values.pop("for")
    return values


def _attribute(value: object, path: str) -> str | float | bool:
    if isinstance(value, str | bool):
        return value
    return number()(value, path)


CLOCK_SYNC_MIN: Final = 0.1
"""The shortest ``clock.sync`` period: faster floods the log without proving more."""


def _clock_sync(value: object, path: str) -> float | None:
    """``clock.sync``: a duration of at least 100ms, or ``false`` for none."""
    if value is False:
        return None
    expected = 'a duration of at least 100ms ("60s", "1m"), or false for no entries'
    if value is True:
        fail(path, value, expected)
    try:
        seconds = duration()(value, path)
    except ConfigError as exc:
        raise ConfigError(path, value, expected) from exc
    if seconds < CLOCK_SYNC_MIN:
        fail(path, value, expected)
    return seconds


_CONFIG: Final[Mapping[str, Converter[Any]]] = {
    "level": level,
    "format": choice(*FORMATS),
    "service": string(),
    "levels": mapping(level, key=string(expected="a logger name prefix")),
    "queue": Record(
        QueueConfig,
        {
            "size": integer(minimum=1),
            "overflow": choice(*get_args(OverflowPolicy)),
            "block_timeout": duration(),
            "mode": choice("async", "sync"),
            "batch_size": integer(minimum=1),
        },
    ),
    "fields": Record(
        FieldsConfig,
        {
            "include": sequence(choice(*OPTIONAL_FIELDS)),
            "exclude": sequence(
                string(
                    pattern=rf"(?!(?:{'|'.join(CORE_FIELDS)})\Z).+",
                    expected=f"a field name other than {words(CORE_FIELDS)}",
                )
            ),
            "rename": mapping(string()),
        },
        check=_distinct_renames,
    ),
    "redaction": Record(
        RedactionConfig,
        {
            "enabled": boolean,
            "keys": sequence(string()),
            "patterns": sequence(_pattern),
            "replacement": text,
        },
    ),
    "sinks": read_sinks,
    "metrics": Record(
        MetricsConfig,
        {
            "enabled": boolean,
            "interval": duration(positive=True),
            "system": boolean,
            "temporality": choice("delta", "cumulative"),
            "relative_error": number(minimum=0.0001, maximum=0.1),
            "thresholds": sequence(
                Record(
                    ThresholdConfig,
                    {
                        "metric": string(
                            pattern=r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*",
                            expected="a metric name (lowercase dotted words)",
                        ),
                        "above": number(),
                        "below": number(),
                        "clear": number(),
                        "for": duration(),
                        "cooldown": duration(),
                        "attributes": mapping(_attribute),
                        "stat": choice(*THRESHOLD_STATS),
                        "nodata": choice("keep", "resolve"),
                    },
                    check=_threshold,
                )
            ),
        },
    ),
    "errors": Record(ErrorsConfig, {"locals": boolean, "hooks": boolean}),
    "clock": Record(
        ClockConfig,
        {"sync": _clock_sync, "logger": string(expected="a logger name")},
    ),
    "watch": boolean,
}

_DEFAULT_SINKS: Final = read_sinks([{"type": "console"}], "sinks")


def validate(data: Mapping[str, object], *, origins: Mapping[str, str] | None = None) -> Config:
    """Check a raw configuration and return it normalised as a :class:`Config`.

    ``data`` has the shape of the config file: ``{"level": "info", "sinks": [...]}``.
    A ``None`` value counts as absent. Without ``sinks``, there is one console sink; an
    empty list means no sink at all.

    Args:
        data: the raw configuration.
        origins: where each key path came from (``file:/etc/app.toml``, ``overrides``);
            by default every key in ``data`` is ``dict``. Paths not set get ``default``.

    Returns:
        The configuration, with ``origins`` covering every key path.

    Raises:
        ConfigError: on the first invalid key, in the order the keys were written; its
            ``source`` is the origin of the bad value.
    """
    given = dict.fromkeys(leaf_paths(data), "dict") if origins is None else dict(origins)
    try:
        values = read_keys(data, "", _CONFIG)
    except ConfigError as exc:
        origin = origin_of(exc.path, given)
        source = exc.source or ("" if origin in {"dict", "default"} else origin)
        raise ConfigError(exc.path, exc.value, exc.expected, source=source) from exc.__cause__
    values.setdefault("sinks", _DEFAULT_SINKS)
    return Config(**values, origins=MappingProxyType(_with_defaults(given)))


def leaf_paths(data: object, prefix: str = "") -> Iterator[str]:
    """Yield the path of every value in ``data`` that is not itself a table.

    Tables are walked (``queue.size``; a dotted logger name stays whole, so
    ``levels.proxy.health``), lists of tables are indexed (``sinks[1].path``), and other
    lists are one value. ``None`` values are skipped: they count as absent.
    """
    if isinstance(data, Mapping):
        for key, value in cast("Mapping[object, object]", data).items():
            yield from leaf_paths(value, join(prefix, key))
        return
    items = list(cast("Iterable[object]", data)) if isinstance(data, list | tuple) else None
    if items is not None and any(isinstance(x, Mapping) for x in items):
        for index, value in enumerate(items):
            yield from leaf_paths(value, f"{prefix}[{index}]")
    elif data is not None:
        yield prefix


def _with_defaults(origins: dict[str, str]) -> dict[str, str]:
    """Add ``default`` for every key path that no source set."""
    for key, converter in _CONFIG.items():
        paths = [key]
        if isinstance(converter, Record):
            paths = [join(key, f.name) for f in fields(converter.cls)]
        for path in paths:
            if not any(p == path or p.startswith((f"{path}.", f"{path}[")) for p in origins):
                origins[path] = "default"
    return origins
