"""Sink types: what ``[[sinks]] type = ...`` builds, and how its options are validated.

One registration holds both halves of a type: the options validator (run by the config
layer when a configuration is loaded, so a bad option is refused before anything is built)
and the factory (run by the pipeline with the validated options). The built-in types are
registered here too, with factories that import their module on first use, so that
``import tapelog`` does not pay for rotation, ``ssl``, ``http.client`` or protobuf.
"""

from __future__ import annotations

import importlib
import re
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from tapelog.config._convert import Converter, Option, Table, as_list, boolean, fail, string, text
from tapelog.config._sinks import SinkOptionsValidator, register_sink_options
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

    from tapelog.config._model import SinkConfig
    from tapelog.typing import Formatter, Sink


__all__ = ["BUILT_IN", "SinkFactory", "build_sink", "register_sink", "sink_types"]

SinkFactory: TypeAlias = "Callable[[SinkConfig, Formatter], Sink]"
"""Builds a sink from its validated ``[[sinks]]`` table and the formatter it writes with.

``config.name`` is the sink's name and ``config.options`` its validated type-specific keys.
Raising ``ConfigError`` (or any exception) refuses the configuration; nothing changes.
"""

_FACTORIES: dict[str, SinkFactory] = {}
_TYPE_NAME: Final = re.compile(r"[a-z][a-z0-9_\-]*")
BUILT_IN: Final = ("console", "file", "syslog", "http", "otlp")


def register_sink(
    type_name: str,
    factory: SinkFactory,
    options: Mapping[str, object] | SinkOptionsValidator | None = None,
    *,
    required: Collection[str] = (),
) -> None:
    """Make ``[[sinks]] type = type_name`` valid in a configuration, built by ``factory``.

    Options are validated when the configuration is loaded, like the built-in types': an
    unknown key, a value of the wrong kind or a missing required key raises
    ``ConfigError`` naming its path (``sinks[1].batch_size``), and nothing is built.

    Args:
        type_name: the value of the sink's ``type`` key (lowercase letters, digits, ``_``
            and ``-``); the built-in types cannot be replaced.
        factory: called as ``factory(config, formatter)`` with the sink's validated
            :class:`tapelog.config.SinkConfig`; returns the sink (a ``BaseSink``, or any
            object with ``name``, ``write_batch``, ``flush`` and ``close``).
        options: the type's own keys with their defaults, ``{"url": None, "timeout": 5.0}``:
            a default's type decides what a value must be (``bool``, ``int``, ``float``
            (which also takes an integer), ``str``, or a ``list`` or ``tuple`` of strings;
            ``None`` takes any value). Or a callable ``validate(path, table)`` returning
            the normalised options or raising ``ConfigError``, for full control.
        required: keys of ``options`` that must be given.

    Raises:
        ConfigError: the type name is malformed or built in, or ``required`` names a key
            that ``options`` does not have.
    """
    if not _TYPE_NAME.fullmatch(type_name):
        raise ConfigError("type_name", type_name, "a lowercase name like 'kafka' or 'my-sink'")
    if type_name in BUILT_IN:
        raise ConfigError("type_name", type_name, f"a type that is not built in ({BUILT_IN})")
    register_sink_options(type_name, _validator(options or {}, required))
    _FACTORIES[type_name] = factory


def _validator(
    options: Mapping[str, object] | SinkOptionsValidator, required: Collection[str]
) -> Table | SinkOptionsValidator:
    if callable(options):
        return options
    unknown = [key for key in required if key not in options]
    if unknown:
        raise ConfigError("required", unknown, f"keys of options ({', '.join(options)})")
    return Table(
        {
            str(key): Option(_converter(default), default, key in required)
            for key, default in options.items()
        }
    )


def _any(value: object, path: str) -> object:
    del path
    return value


def _strings(value: object, path: str) -> tuple[str, ...]:
    return tuple(text(item, f"{path}[{i}]") for i, item in enumerate(as_list(value, path)))


def _integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, value, "an integer")
    return value


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(path, value, "a number")
    return float(value)


def _converter(default: object) -> Converter[Any]:
    """What a value must be, judged by the type of the option's default."""
    if default is None:
        return _any
    if isinstance(default, bool):
        return boolean
    if isinstance(default, int):
        return _integer
    if isinstance(default, float):
        return _number
    if isinstance(default, str):
        return string(expected="a string") if default else text
    if isinstance(default, list | tuple):
        return _strings
    raise ConfigError("options", default, "defaults of type bool, int, float, str, list or None")


def sink_types() -> tuple[str, ...]:
    """The type names a configuration may use, sorted."""
    return tuple(sorted(_FACTORIES))


def build_sink(index: int, config: SinkConfig, formatter: Formatter) -> Sink:
    """Build the sink of ``sinks[index]``.

    Raises:
        ConfigError: the type is unknown, or its factory failed (naming why).
    """
    factory = _FACTORIES.get(config.type)
    if factory is None:
        raise ConfigError(f"sinks[{index}].type", config.type, "one of " + ", ".join(sink_types()))
    try:
        return factory(config, formatter)
    except ConfigError:
        raise
    except Exception as exc:
        expected = f"a sink that can be built ({exc})"
        raise ConfigError(f"sinks[{index}]", config.name, expected) from exc


def _lazy_factory(module: str, class_name: str) -> SinkFactory:
    """A factory that imports its sink module on first use, keeping ``import tapelog`` light."""

    def factory(config: SinkConfig, formatter: Formatter) -> Sink:
        sink_class = getattr(importlib.import_module(module), class_name)
        return sink_class.from_config(config, formatter)

    return factory


# The built-in types' options are registered by the config layer (config/_sinks.py).
for _type, _module, _class in (
    ("console", "tapelog.sinks._console", "ConsoleSink"),
    ("file", "tapelog.sinks._file", "FileSink"),
    ("syslog", "tapelog.sinks._syslog", "SyslogSink"),
    ("http", "tapelog.sinks._http", "HttpSink"),
    ("otlp", "tapelog.sinks._otlp", "OtlpSink"),
):
    _FACTORIES[_type] = _lazy_factory(_module, _class)
