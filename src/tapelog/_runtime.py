"""The process-wide state: the configuration, the dispatcher and the loggers' levels.

There is one ``Runtime`` per process, created when ``tapelog`` is imported. Its public
face is the set of functions in ``tapelog/__init__.py``. ``configure`` and ``reload``
validate and build everything new before they swap anything, so a failure changes
nothing.

Reload. ``reload()`` re-reads the sources of the last ``configure()`` (its file, or
``TAPELOG_CONFIG``, with the same overrides) and the environment. Besides user code, the
watcher thread calls it when the config file changed and when a ``SIGHUP`` asked for it
(the signal handler only sets a flag, see below); ``configure()`` shares its steps.
Each step runs under ``_lock``:

1. load and validate (a failure here changes nothing);
2. build the whole new pipeline, taking over sinks whose settings are unchanged, so a
   file is not reopened, a connection not dropped, a spool not reset (a failure here
   changes nothing either: the old pipeline keeps running);
3. log ``config.changed`` and set the loggers' levels: from here nothing can fail.
   Levels act on the callers' side, so they change now and not after the drain below,
   which can take as long as the sinks need to empty a full queue;
4. drain what was queued before through the old pipeline, then swap pipelines between
   two batches. Each batch is written wholly by the old or wholly by the new pipeline,
   so every entry is written exactly once; sinks the new one does not use are flushed
   and closed.

Why the signal handler does not reload: a handler runs on the main thread between two
bytecodes, possibly while that thread holds ``_lock`` inside ``configure()`` or sits in
the dispatcher's ``flush``. Reloading there could deadlock or reenter a half-done
swap, so the handler sets a flag that the watcher thread reads within a quarter second.

Fork: a child has no watcher thread and may inherit ``_lock`` held by a thread that
does not exist there; the at-fork hooks wait (bounded) for a reload in progress, give
the child a new lock and start its own watcher.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final, Literal, TypeAlias, cast

from tapelog import _logger
from tapelog._capture import Captures
from tapelog._context import EMPTY
from tapelog._dispatch import Dispatcher
from tapelog._event import OPTIONAL_FIELDS, make_record
from tapelog._levels import DEBUG, ERROR, INFO, parse_level
from tapelog._logger import Logger
from tapelog._loggers import Loggers, level_in
from tapelog._otel import context_getter
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from tapelog._stats import Stats
    from tapelog.config._model import Config
    from tapelog.config._watch import ConfigWatcher, Signature
    from tapelog.processors._redact import Redactor


__all__ = ["RUNTIME", "ConfigSource", "Runtime", "Trigger", "redactor_for"]

# What ``Runtime._start`` sets: reading one of them first starts the runtime.
_STARTED_BY: Final = frozenset({"config", "dispatcher", "_watcher"})

_DRAIN_BEFORE_SWAP: Final = 5.0
_CALLSITE_FIELDS: Final = frozenset({"thread", "source", "function"})
_WATCHER_STOP_WAIT: Final = 2.0  # shutdown waits this long for a reload in progress
_FORK_WAIT: Final = 2.0  # fork waits this long for a reload in progress
_KEYS_IN_MESSAGE: Final = 5

ConfigSource: TypeAlias = "str | os.PathLike[str] | Mapping[str, object] | Config | None"
"""What ``configure()`` takes as its source."""

Trigger: TypeAlias = Literal["configure", "reload", "watch", "signal", "set_level"]
"""What applied a change: a call (``configure``, ``reload``, ``set_level``), the file
watcher (``watch``) or a ``SIGHUP`` (``signal``)."""


class Runtime:
    """Configuration, dispatcher and logger levels of this process.

    Created at import, started on first use: reading ``config``, ``dispatcher`` or the
    watcher (``get_logger`` and every public function do) loads the configuration and
    builds the pipeline (``_start``), so ``import tapelog`` imports no parser, format or
    sink (docs/architecture.md, "Import time").
    """

    config: Config
    dispatcher: Dispatcher
    _watcher: ConfigWatcher

    def __init__(self) -> None:
        self._start_lock = threading.RLock()
        self._starting = False
        self._lock = threading.RLock()
        self.loggers = Loggers()
        self._source: ConfigSource = None
        self._overrides: dict[str, object] = {}
        self._configured = False
        self._serving_requests = False
        self._failed_reload: tuple[str, str | None] | None = None
        self._fork_held = False
        self._hooks_by_config = False
        self.captures = Captures(self)

    def __getattr__(self, name: str) -> object:
        """Start the runtime on first use of what ``_start`` sets; see the class doc."""
        if name not in _STARTED_BY:
            msg = f"{type(self).__name__!r} object has no attribute {name!r}"
            raise AttributeError(msg)
        with self._start_lock:
            if name not in self.__dict__:
                if self._starting:  # read by _start before it set it: a bug, not a start
                    msg = f"{name!r} read before the runtime set it"
                    raise AttributeError(msg)
                self._starting = True
                try:
                    self._start()
                finally:
                    self._starting = False
        return self.__dict__[name]

    def _start(self) -> None:
        """Load the configuration, build the pipeline and the dispatcher, watch the file."""
        from tapelog._pipeline import build_pipeline
        from tapelog.config._sources import load_config
        from tapelog.config._watch import ConfigWatcher, file_signature

        startup_error: ConfigError | None = None
        seen = file_signature(path) if (path := _config_file(None)) else None
        try:
            config = load_config(None)
            pipeline = build_pipeline(config)
        except ConfigError as exc:
            startup_error = exc
            config = load_config({}, environ={})
            pipeline = build_pipeline(config)
        self.config = config
        self.loggers.configure(config.level, config.levels)
        self.dispatcher = Dispatcher(pipeline, config.queue)
        _logger.set_outlet(self.dispatcher)
        self._apply_callsite()
        _apply_metrics(config)
        _apply_clock(config)
        self._watcher = ConfigWatcher(self._on_watch)
        # Registered after the dispatcher's hooks: before fork runs last-registered first,
        # so a reload in progress ends before the dispatcher holds its locks; at exit the
        # watcher stops before the dispatcher's drain.
        os.register_at_fork(
            before=self._before_fork,
            after_in_parent=self._after_fork_in_parent,
            after_in_child=self._after_fork_in_child,
        )
        atexit.register(self._stop_watcher)
        # A broken TAPELOG_CONFIG is watched too: fixing the file applies it.
        self._update_watch(seen)
        if startup_error is not None:
            self._internal(
                ERROR,
                "invalid logging configuration at startup",
                "config.invalid",
                str(startup_error),
            )

    # -- configuration ---------------------------------------------------------------

    def configure(
        self, source: ConfigSource = None, overrides: Mapping[str, object] | None = None
    ) -> Config:
        """Validate, build, then swap; see ``tapelog.configure``."""
        from tapelog.config._sources import load_config
        from tapelog.config._watch import file_signature

        with self._lock:
            seen = file_signature(path) if (path := _config_file(source)) else None
            config = load_config(source, overrides=overrides)
            # The first configure() sets the program's configuration up; it is not a change
            # of a configuration anyone relied on, so it is not logged as one.
            self._install(config, "configure" if self._configured else None)
            self._source = source
            self._overrides = dict(overrides or {})
            self._configured = True
            self._failed_reload = None
            self._update_watch(seen)
            return config

    def _install(self, config: Config, trigger: Trigger | None) -> None:
        """Build, log the change, set levels, drain, swap: steps 2-4 of the module doc."""
        from tapelog._pipeline import Pipeline, build_pipeline
        from tapelog.config._watch import diff

        current = self.captures.real_pipeline()
        pipeline = build_pipeline(config, current if isinstance(current, Pipeline) else None)
        old = self.config
        if trigger is not None:
            overrides = self.loggers.overrides
            before = level_in("tapelog", old.level, old.levels, overrides)
            after = level_in("tapelog", config.level, config.levels, overrides)
            # Queued before the drain: the old pipeline writes it, so a sink being removed
            # still records why it stops.
            changes = diff(old, config, redactor_for(config))
            self._log_changes(changes, trigger, min(before, after), config.source_path)
        self.config = config
        self.loggers.configure(config.level, config.levels)
        # Entries logged before this call go where they were headed when logged: drain
        # them through the old pipeline first (bounded, so a hung sink cannot hang us).
        self.dispatcher.flush(_DRAIN_BEFORE_SWAP)
        if not self.captures.install(current, pipeline):
            self.dispatcher.configure_queue(config.queue)
            self.dispatcher.swap(pipeline)
        self._apply_callsite()
        _apply_metrics(config)
        _apply_clock(config)

    def reload(self, trigger: Trigger = "reload") -> bool:
        """Re-read the configuration from its sources; keep the old one if it is invalid.

        Returns:
            True if the new configuration is in effect (changed or not), False if it was
            invalid: then a ``config.reload_failed`` entry says why.
        """
        from tapelog.config._sources import load_config
        from tapelog.config._watch import file_signature

        with self._lock:
            source = self._source
            if source is None:
                # The file read last time, absolute: a chdir since does not lose it.
                source = self.config.source_path
            seen = file_signature(path) if (path := _config_file(source)) else None
            try:
                # An empty file is refused here (not at start): on reload it is a file
                # caught mid-save, and would replace every sink with the default console.
                config = load_config(source, overrides=self._overrides, allow_empty=False)
                self._install(config, trigger)
            except ConfigError as exc:
                self._reload_failed(exc, trigger, path)
                return False
            except Exception as exc:  # a reload must never escape (the watcher's thread)
                problem = f"a configuration that loads ({type(exc).__name__}: {exc})"
                self._reload_failed(ConfigError("", path or source, problem), trigger, path)
                return False
            self._failed_reload = None
            self._update_watch(seen)
            return True

    def _reload_failed(self, exc: ConfigError, trigger: Trigger, path: str | None) -> None:
        """Log why a reload failed; the watcher says it once per distinct file content."""
        from tapelog.config._watch import file_digest

        problem = (str(exc), file_digest(path) if path else None)
        if trigger == "watch" and problem == self._failed_reload:
            return  # the same bad content saved again: said already
        self._failed_reload = problem
        fields: dict[str, object] = {"trigger": trigger}
        if exc.path:
            fields["key"] = exc.path
        if path:
            fields["config_file"] = path
        self._internal(
            ERROR,
            "configuration reload failed; keeping the old one",
            "config.reload_failed",
            str(exc),
            **fields,
        )

    def _log_changes(
        self,
        changes: list[dict[str, object]],
        trigger: Trigger,
        tapelog_level: int,
        config_file: str | None = None,
    ) -> None:
        """Log one ``config.changed`` entry, if anything changed.

        ``tapelog_level`` is the lower of the ``tapelog`` logger's levels before and after
        the change, so that turning logging up or down is recorded either way. Changes
        from outside the program's own set-up (the file, the environment, ``SIGHUP``,
        ``reload()``, ``set_level()``) are logged at info; a later ``configure()`` call is
        the program changing its own settings, routine enough for debug.
        """
        level = DEBUG if trigger == "configure" else INFO
        if not changes or tapelog_level > level:
            return
        if trigger in {"configure", "set_level"}:
            source = "api"
        else:
            source = "env" if all(c["source"] == "env" for c in changes) else "file"
        keys = [str(c["key"]) for c in changes]
        listed = ", ".join(keys[:_KEYS_IN_MESSAGE])
        if len(keys) > _KEYS_IN_MESSAGE:
            listed += f" and {len(keys) - _KEYS_IN_MESSAGE} more"
        fields: dict[str, object] = {
            "event": "config.changed",
            "trigger": trigger,
            "change_source": source,
            "changes": changes,
        }
        if config_file is not None:
            fields["config_file"] = config_file
        self._emit(level, f"configuration changed: {listed}", fields)

    # -- watching ----------------------------------------------------------------------

    def _watched_file(self) -> str | None:
        """The file ``reload()`` would read, if it is to be watched."""
        from tapelog.config._model import Config

        if not self.config.watch or isinstance(self._source, Mapping | Config):
            return None
        return self.config.source_path or _config_file(self._source)

    def _update_watch(self, seen: Signature | None) -> None:
        """Point the watcher at the file in use (as of ``seen``); run it while needed."""
        path = self._watched_file()
        self._watcher.watch(path, seen)
        if path is not None or self._serving_requests:
            self._watcher.start()
        else:
            self._watcher.stop()

    def _on_watch(self, trigger: str) -> None:
        self.reload("signal" if trigger == "signal" else "watch")

    def serve_reload_requests(self) -> None:
        """Keep the watcher thread running for ``request_reload``, even without a file."""
        with self._lock:
            self._serving_requests = True
            self._watcher.start()

    def request_reload(self) -> None:
        """Have the watcher thread reload soon. Safe in a signal handler: sets a flag."""
        self._watcher.request()

    def _stop_watcher(self) -> None:
        self._watcher.stop(_WATCHER_STOP_WAIT)

    def _before_fork(self) -> None:
        self._fork_held = self._lock.acquire(timeout=_FORK_WAIT)

    def _after_fork_in_parent(self) -> None:
        if self._fork_held:
            self._fork_held = False
            self._lock.release()

    def _after_fork_in_child(self) -> None:
        self._lock = threading.RLock()
        self.loggers.after_fork()
        self._fork_held = False
        self._watcher.after_fork()
        if self._watcher.path is not None or self._serving_requests:
            self._watcher.start()
        # After the dispatcher's handler (registered before this one): the clock thread
        # writes at once, into the child's fresh queue.
        if "tapelog.trading._clock" in sys.modules:
            from tapelog.trading._clock import CONFIGURED

            CONFIGURED.after_fork_in_child()

    def _apply_callsite(self) -> None:
        wanted = _CALLSITE_FIELDS.intersection(self.config.fields.include, OPTIONAL_FIELDS)
        _logger.set_otel_context(context_getter())
        _logger.CALLSITE.clear()
        _logger.CALLSITE.update(wanted)
        _logger.ERROR_LOCALS[0] = self.config.errors.locals
        self._apply_hooks()

    def _apply_hooks(self) -> None:
        """``[errors] hooks``: install the unhandled-exception hooks, or remove ours."""
        from tapelog.errors._hooks import install_hooks, uninstall_hooks
        from tapelog.errors._hooks import installed as hooks_installed

        if self.config.errors.hooks:
            if not hooks_installed():
                install_hooks()
                self._hooks_by_config = True
        elif self._hooks_by_config:
            uninstall_hooks()
            self._hooks_by_config = False

    # -- levels ----------------------------------------------------------------------

    def level_for(self, name: str) -> int:
        """The effective level of a logger (see ``Loggers.level_for``)."""
        if "config" not in self.__dict__:
            self.__getattr__("config")
        return self.loggers.level_for(name)

    def set_level(self, level: int | str | None, logger: str | None = None) -> None:
        """Override a level at run time (top precedence); ``None`` removes the override."""
        self._set_level(level, logger, audit=True)

    def set_level_quietly(self, level: int | str | None, logger: str | None = None) -> None:
        """``set_level`` without logging the change (``capture(level=...)``'s own)."""
        self._set_level(level, logger, audit=False)

    def _set_level(self, level: int | str | None, logger: str | None, *, audit: bool) -> None:
        key = logger or ""
        self.__getattr__("config")  # levels set before the first use start the runtime
        with self._lock:
            before, tapelog_before = self.loggers.setting(key), self.level_for("tapelog")
            try:
                number = None if level is None else parse_level(level)
            except ValueError as exc:
                raise ConfigError(
                    "level" if not logger else f"levels.{logger}",
                    level,
                    str(exc).removeprefix("expected "),
                ) from None
            self.loggers.override(key, number)
            after = self.loggers.setting(key)
            if audit and after != before:
                from tapelog.config._watch import level_text

                change: dict[str, object] = {
                    "key": f"levels.{key}" if key else "level",
                    "old": level_text(before),
                    "new": level_text(after),
                    "source": "api",
                }
                lowest = min(tapelog_before, self.level_for("tapelog"))
                self._log_changes([change], "set_level", lowest)

    def get_logger(self, name: str, bound: Mapping[str, object]) -> Logger:
        """Return a logger; every logger of one name shares its level."""
        if "dispatcher" not in self.__dict__:  # the first logger starts the runtime
            self.__getattr__("dispatcher")
        return Logger(self.loggers.core(name), dict(bound) if bound else EMPTY)

    # -- lifecycle -------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """See ``tapelog.flush``."""
        return self.dispatcher.flush(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """See ``tapelog.shutdown``; the watcher stops first (``configure`` restarts it).

        A running metrics reporter then writes its last, partial interval, before the
        sinks close, so that snapshot reaches every sink rather than arriving after them.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        wait = _WATCHER_STOP_WAIT if timeout is None else min(_WATCHER_STOP_WAIT, timeout / 4)
        self._watcher.stop(wait)
        if "tapelog.metrics._reporter" in sys.modules:
            from tapelog.metrics._reporter import REPORTER

            REPORTER.stop()
        if "tapelog.trading._clock" in sys.modules:
            from tapelog.trading._clock import CONFIGURED

            CONFIGURED.stop()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self.dispatcher.shutdown(left)

    def stats(self) -> Stats:
        """See ``tapelog.stats``."""
        return self.dispatcher.stats()

    def _internal(
        self, level: int, message: str, event: str, problem: str, **fields: object
    ) -> None:
        """Log tapelog's own entry through the normal path."""
        self._emit(level, message, {"event": event, "problem": problem, **fields})

    def _emit(self, level: int, message: str, fields: dict[str, object]) -> None:
        self.dispatcher.put(make_record(level, message, fields))

    @property
    def lock(self) -> threading.RLock:
        """Held while the configuration or the pipeline changes (replaced in a fork child)."""
        return self._lock


def redactor_for(config: Config) -> Redactor:
    """A redactor with the configuration's keys and patterns, on even where it is off.

    For describing configurations, which hold credentials (an http sink's headers)
    whatever the entries' redaction settings are.
    """
    from tapelog.processors._redact import Redactor

    redaction = config.redaction
    try:
        return Redactor(redaction.keys, redaction.patterns, redaction.replacement)
    except ConfigError:  # a bad key the pipeline did not build (redaction off): defaults
        return Redactor()


def _apply_metrics(config: Config) -> None:
    """Hand ``[metrics]`` to ``tapelog.metrics``, imported only when configured or in use."""
    from tapelog.config._model import MetricsConfig

    if config.metrics != MetricsConfig() or "tapelog.metrics" in sys.modules:
        from tapelog.metrics._reporter import REPORTER

        REPORTER.apply(config.metrics)


def _apply_clock(config: Config) -> None:
    """Hand ``[clock]`` to its thread, imported only when configured or already in use."""
    from tapelog.config._model import ClockConfig

    if config.clock != ClockConfig() or "tapelog.trading._clock" in sys.modules:
        from tapelog.trading._clock import CONFIGURED

        CONFIGURED.apply(config.clock)


def _config_file(source: object) -> str | None:
    """The absolute path of the file ``load_config(source)`` reads, if it reads one."""
    if source is None:
        from tapelog.config._sources import ENV_CONFIG

        name = os.environ.get(ENV_CONFIG, "").strip()
    elif isinstance(source, str | os.PathLike):
        name = os.fspath(cast("str | os.PathLike[str]", source))
    else:
        return None
    if not name:
        return None
    from pathlib import Path  # only when a file is named: pathlib costs import time

    return str(Path(name).absolute())


def _is_command_line() -> bool:
    """Whether this process is tapelog's own command line (``tapelog``, ``python -m tapelog``).

    The command line reads, checks and shows logs; the application's configuration in the
    environment (its sinks, its clock and metrics threads) is not its own, so it must not
    start them: ``tapelog verify`` would otherwise write a ``clock.sync`` entry into the very
    files it checks. A command that logs (``tapelog demo``) configures tapelog itself.
    """
    script = sys.argv[0].replace("\\", "/").rsplit("/", 1)[-1] if sys.argv else ""
    if script in {"tapelog", "tapelog.exe", "tapelog-script.py"}:
        return True
    argv = getattr(sys, "orig_argv", [])
    return any(
        flag == "-m" and module in {"tapelog", "tapelog.cli"}
        for flag, module in itertools.pairwise(argv)
    )


RUNTIME: Final = Runtime()
if any(key.startswith("TAPELOG_") for key in os.environ) and not _is_command_line():
    # The environment configures tapelog: load it now, so that a bad setting is reported
    # even by a program that never logs. Without one, the first use starts the runtime.
    RUNTIME.__getattr__("config")
