"""The process-wide state: the configuration, the dispatcher and the loggers' levels.

There is one ``Runtime`` per process, created when ``tapelog`` is imported. Its public
face is the set of functions in ``tapelog/__init__.py``. ``configure`` validates and builds
everything new before it swaps anything, so a failure changes nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Final

from tapelog import _logger
from tapelog._context import EMPTY
from tapelog._dispatch import Dispatcher
from tapelog._entry import OPTIONAL_FIELDS
from tapelog._levels import ERROR, parse_level
from tapelog._logger import Logger, LoggerCore
from tapelog._otel import context_getter
from tapelog._pipeline import Pipeline, SinkSlot, build_pipeline
from tapelog.config import load_config
from tapelog.config._model import Config, SinkConfig
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from collections.abc import Generator, Mapping, Sequence

    from tapelog._event import Record
    from tapelog._stats import Stats
    from tapelog.typing import EventDict


__all__ = ["RUNTIME", "Runtime"]

_DRAIN_BEFORE_SWAP: Final = 5.0
_CALLSITE_FIELDS: Final = frozenset({"thread", "source", "function"})


class CapturingSink:
    """Keeps entries in a list, as dicts. ``tapelog.testing`` builds on it."""

    def __init__(self, name: str = "capture") -> None:
        self.name = name
        self.entries: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Append the entries."""
        self.entries.extend(entries)

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self) -> None:
        """Nothing to close."""


def _prefix_matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


class Runtime:
    """Configuration, dispatcher and logger levels of this process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cores: dict[str, LoggerCore] = {}
        self._api_levels: dict[str, int] = {}
        self._source: object = None
        self._overrides: dict[str, object] = {}
        startup_error: ConfigError | None = None
        try:
            config = load_config(None)
            pipeline = build_pipeline(config)
        except ConfigError as exc:
            startup_error = exc
            config = load_config({}, environ={})
            pipeline = build_pipeline(config)
        self.config = config
        self.dispatcher = Dispatcher(pipeline, config.queue)
        _logger.set_outlet(self.dispatcher)
        self._apply_callsite()
        if startup_error is not None:
            self._internal(
                ERROR,
                "invalid logging configuration at startup",
                "config.invalid",
                str(startup_error),
            )

    # -- configuration ---------------------------------------------------------------

    def configure(
        self, source: object = None, overrides: Mapping[str, object] | None = None
    ) -> Config:
        """Validate, build, then swap; see ``tapelog.configure``."""
        with self._lock:
            config = load_config(source, overrides=overrides)  # type: ignore[arg-type]
            self._install(config)
            self._source = source
            self._overrides = dict(overrides or {})
            return config

    def _install(self, config: Config) -> None:
        current = self.dispatcher.pipeline
        pipeline = build_pipeline(config, current if isinstance(current, Pipeline) else None)
        # Entries logged before this call go where they were headed when logged: drain
        # them through the old pipeline first (bounded, so a hung sink cannot hang us).
        self.dispatcher.flush(_DRAIN_BEFORE_SWAP)
        self.dispatcher.configure_queue(config.queue)
        self.dispatcher.swap(pipeline)
        self.config = config
        self._apply_levels()
        self._apply_callsite()

    def reload(self) -> bool:
        """Re-read the configuration from its sources; keep the old one if it is invalid."""
        with self._lock:
            source = self._source
            if source is None or isinstance(source, Config):
                source = self.config.source_path if source is None else source
            try:
                config = load_config(source, overrides=self._overrides)  # type: ignore[arg-type]
                self._install(config)
            except ConfigError as exc:
                self._internal(
                    ERROR,
                    "configuration reload failed; keeping the old one",
                    "config.reload_failed",
                    str(exc),
                    path=exc.path,
                )
                return False
            return True

    def _apply_callsite(self) -> None:
        wanted = set(self.config.fields.include) & _CALLSITE_FIELDS & OPTIONAL_FIELDS
        getter = context_getter()
        _logger.OTEL_CONTEXT[:] = [getter] if getter is not None else []
        if getter is not None:
            wanted.add("otel")  # makes the hot path capture the context; adds no field
        _logger.CALLSITE.clear()
        _logger.CALLSITE.update(wanted)

    # -- levels ----------------------------------------------------------------------

    def level_for(self, name: str) -> int:
        """The effective level of a logger.

        The longest matching prefix wins; at equal length a ``set_level`` override
        beats the configuration.
        """
        best = -1
        level = self._api_levels.get("", self.config.level)
        for prefix, value in self.config.levels.items():
            if prefix and len(prefix) > best and _prefix_matches(name, prefix):
                best, level = len(prefix), value
        for prefix, value in self._api_levels.items():
            if prefix and len(prefix) >= best and _prefix_matches(name, prefix):
                best, level = len(prefix), value
        return level

    def _apply_levels(self) -> None:
        for core in list(self._cores.values()):
            core.level = self.level_for(core.name)

    def set_level(self, level: int | str | None, logger: str | None = None) -> None:
        """Override a level at run time (top precedence); ``None`` removes the override."""
        key = logger or ""
        with self._lock:
            if level is None:
                self._api_levels.pop(key, None)
            else:
                try:
                    self._api_levels[key] = parse_level(level)
                except ValueError as exc:
                    raise ConfigError(
                        "level" if not logger else f"levels.{logger}",
                        level,
                        str(exc).removeprefix("expected "),
                    ) from None
            self._apply_levels()

    def get_logger(self, name: str, bound: Mapping[str, object]) -> Logger:
        """Return a logger; every logger of one name shares its level."""
        core = self._cores.get(name)
        if core is None:
            with self._lock:
                core = self._cores.get(name)
                if core is None:
                    core = self._cores[name] = LoggerCore(name, self.level_for(name))
        return Logger(core, dict(bound) if bound else EMPTY)

    # -- lifecycle -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """See ``tapelog.flush``."""
        return self.dispatcher.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """See ``tapelog.shutdown``."""
        return self.dispatcher.shutdown(timeout)

    def stats(self) -> Stats:
        """See ``tapelog.stats``."""
        return self.dispatcher.stats()

    def _internal(
        self, level: int, message: str, event: str, problem: str, **fields: object
    ) -> None:
        """Log tapelog's own entry through the normal path."""
        all_fields: dict[str, object] = {"event": event, "problem": problem, **fields}
        record: Record = (
            time.time_ns(),
            level,
            "tapelog",
            message,
            all_fields,
            EMPTY,
            EMPTY,
            None,
            None,
        )
        self.dispatcher.put(record)

    # -- testing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def capturing(self, level: int | str | None = None) -> Generator[list[EventDict], None, None]:
        """Send entries, synchronously, to a list instead of the sinks for a while."""
        with self._lock:
            self.dispatcher.flush()
            sink = CapturingSink()
            current = self.dispatcher.pipeline
            base = build_pipeline(
                dataclasses.replace(self.config, sinks=()),
                current if isinstance(current, Pipeline) else None,
            )
            capture = Pipeline(
                base.builder,
                [SinkSlot(sink, SinkConfig(type="capture", name="capture"), 0)],
                self.config,
            )
            previous_queue = self.config.queue
            previous_pipeline = self.dispatcher.pipeline
            previous_level = self._api_levels.get("")
            self.dispatcher.configure_queue(dataclasses.replace(previous_queue, mode="sync"))
            self.dispatcher.swap(capture, close_old=False)
            if level is not None:
                self.set_level(level)
        try:
            yield sink.entries
        finally:
            with self._lock:
                self.dispatcher.swap(previous_pipeline, close_old=False)
                self.dispatcher.configure_queue(previous_queue)
                if level is not None:
                    self.set_level(previous_level)


RUNTIME: Final = Runtime()
