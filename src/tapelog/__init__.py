"""tapelog: structured logging for Python services whose logs are data.

The layers, top first, each with the layers it may import (the table lives in
tests/contract/test_public_api.py, which checks every import against it and this map)::

    (on top)    the API, _runtime, _capture, _signals, _otel, stdlib, testing, cli/ ...
    pipeline    _entry _pipeline  -> sinks, dispatch, formats, processors, config, caller
    sinks       sinks/  -> dispatch, retention, formats, config, caller
    dispatch    _dispatch _stats  -> config, caller
    retention   retention/  -> formats, config, caller
    formats     formats/  -> caller
    processors  processors/  -> caller
    config      config/  -> caller
    caller      _context _event exceptions _lazy _levels _logger _loggers typing  -> nothing

Quick start:
    >>> import tapelog
    >>> log = tapelog.get_logger("shop")
    >>> log.info("order placed", symbol="BTC-USD")  # doctest: +SKIP
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from tapelog._build import build_name as _build_name
from tapelog._context import bind_context, clear_context, context, get_context, unbind_context
from tapelog._logger import Logger
from tapelog._runtime import RUNTIME as _RUNTIME
from tapelog._signals import install_signal_handlers
from tapelog._stats import SinkStats, Stats
from tapelog.exceptions import ConfigError, TapelogError


if TYPE_CHECKING:
    from collections.abc import Mapping
    from os import PathLike

    from tapelog.config._model import Config
    from tapelog.stdlib import capture_stdlib


__all__ = [
    "Config",
    "ConfigError",
    "Logger",
    "SinkStats",
    "Stats",
    "TapelogError",
    "bind_context",
    "build",
    "capture_stdlib",
    "clear_context",
    "configure",
    "context",
    "flush",
    "get_context",
    "get_logger",
    "install_signal_handlers",
    "reload",
    "set_level",
    "shutdown",
    "stats",
    "unbind_context",
]


def configure(
    source: str | PathLike[str] | Mapping[str, object] | Config | None = None,
    /,
    **overrides: object,
) -> Config:
    """Configure tapelog, replacing the running pipeline atomically.

    Sources, lowest precedence first: built-in defaults, the config file (``source`` or
    ``TAPELOG_CONFIG``), ``overrides``, the ``TAPELOG_*`` environment variables, and
    ``set_level`` at run time.

    Args:
        source: a TOML or JSON file path, a dict shaped like the file, or a ``Config``.
        **overrides: top-level keys, as in the file (``level="debug"``, ``sinks=[...]``).

    Returns:
        The validated configuration now in effect.

    Raises:
        ConfigError: a value is invalid; the message names its key path, the value and
            what is allowed. Nothing was changed: the previous pipeline keeps logging.
    """
    return _RUNTIME.configure(source, overrides)


def build() -> str:
    """Which build is running: ``"compiled"`` or ``"pure Python"``.

    ``TAPELOG_COMPILE=1 pip install .`` gives the compiled one, in which the worker's hot
    modules run as C extension modules built by mypyc; both behave the same
    (docs/architecture.md, "The optional compiled core"). ``tapelog --version`` says it too.
    """
    return _build_name()


def get_logger(name: str | None = None, /, **bound: object) -> Logger:
    """Return a logger named ``name`` (default: the calling module's ``__name__``).

    Args:
        name: a dotted name; levels set for a prefix apply to every name under it.
        **bound: fields every entry of the returned logger carries.
    """
    if name is None:
        name = str(sys._getframe(1).f_globals.get("__name__", "root"))  # pyright: ignore[reportPrivateUsage]
    return _RUNTIME.get_logger(name, bound)


def set_level(level: int | str | None, logger: str | None = None) -> None:
    """Override the level of every logger, or of one logger name and its children.

    This is the top of the precedence: it outlives ``configure`` and ``reload``.
    ``None`` removes the override.

    Raises:
        ConfigError: ``level`` is not a level name or number.
    """
    _RUNTIME.set_level(level, logger)


def flush(timeout: float | None = None) -> bool:
    """Wait until every entry logged before this call is written.

    Returns:
        True when everything was written; False if ``timeout`` (seconds) ran out first.
    """
    return _RUNTIME.flush(timeout)


def shutdown(timeout: float | None = None) -> None:
    """Drain the queue, stop the worker and close the sinks.

    With a ``timeout`` (seconds), shutdown ends within it: a network sink still busy then
    leaves what it holds in its disk spool, or counts it as failed. Runs by itself at
    interpreter exit (10 seconds). Entries logged afterwards are written synchronously;
    ``configure()`` starts a worker again.
    """
    _RUNTIME.shutdown(timeout)


def stats() -> Stats:
    """Return a snapshot of tapelog's exact counters (see ``Stats``)."""
    return _RUNTIME.stats()


def reload() -> bool:
    """Re-read the config file and the environment.

    Returns:
        True if the new configuration is in effect; False if it was invalid, in which
        case the old one keeps running and an entry (``config.reload_failed``) says why.
    """
    return _RUNTIME.reload()


# Each public object names its public home, so reprs, docs and pickles point there.
for _name in (
    "Logger",
    "build",
    "SinkStats",
    "Stats",
    "bind_context",
    "clear_context",
    "context",
    "get_context",
    "install_signal_handlers",
    "unbind_context",
):
    globals()[_name].__module__ = __name__


def __getattr__(name: str) -> object:
    # Imported on first use, so that ``import tapelog`` stays cheap (docs/architecture.md,
    # "Import time"): the configuration model and the standard-library bridge.
    if name == "__version__":
        from tapelog._version import __version__

        return __version__
    if name == "Config":
        from tapelog.config._model import Config

        Config.__module__ = "tapelog.config"
        globals()[name] = Config
        return Config
    if name == "capture_stdlib":
        from tapelog.stdlib import capture_stdlib

        capture_stdlib.__module__ = __name__
        globals()[name] = capture_stdlib
        return capture_stdlib
    msg = f"module 'tapelog' has no attribute {name!r}"
    raise AttributeError(msg)
