"""The loggers of a process and the levels that decide them, as one unit.

Every logger of one name shares a ``LoggerCore``, whose ``level`` the level gate reads.
The effective level of a name comes from two tables: the configuration's (``level`` and
``[levels]``) and the run-time overrides of ``set_level`` (top precedence). The longest
matching prefix wins; at equal length an override beats the configuration.

Both tables are replaced, never changed in place, so a reader on any thread (the stdlib
bridge asks ``level_for`` for every record) sees a whole table without a lock. Creating a
logger takes a lock of its own, never held while waiting for anything: the worker may
create a logger (a sink, or a library bridged from the standard library) while a
reconfiguration waits for the worker's batch.
"""

from __future__ import annotations

import threading
from types import MappingProxyType
from typing import TYPE_CHECKING, final

from tapelog._levels import INFO
from tapelog._logger import LoggerCore, name_under


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["Loggers", "level_in"]


def level_in(name: str, level: int, levels: Mapping[str, int], overrides: Mapping[str, int]) -> int:
    """The level of ``name`` under a root ``level``, prefix ``levels`` and ``overrides``.

    ``overrides`` maps a logger prefix to a level, ``""`` being the root.
    """
    best = -1
    level = overrides.get("", level)
    for prefix, value in levels.items():
        if prefix and len(prefix) > best and name_under(name, (prefix,)):
            best, level = len(prefix), value
    for prefix, value in overrides.items():
        if prefix and len(prefix) >= best and name_under(name, (prefix,)):
            best, level = len(prefix), value
    return level


@final
class Loggers:
    """Every logger name's shared core, kept at the level its name should have."""

    def __init__(self, level: int = INFO, levels: Mapping[str, int] | None = None) -> None:
        self._level = level
        self._levels: Mapping[str, int] = MappingProxyType(dict(levels or {}))
        self._overrides: Mapping[str, int] = MappingProxyType({})
        self._cores: dict[str, LoggerCore] = {}
        self._cores_lock = threading.Lock()

    @property
    def overrides(self) -> Mapping[str, int]:
        """The ``set_level`` overrides by logger prefix (``""``: every logger)."""
        return self._overrides

    def level_for(self, name: str) -> int:
        """The effective level of the logger ``name``."""
        return level_in(name, self._level, self._levels, self._overrides)

    def setting(self, key: str) -> int | None:
        """The level set for ``key`` (``""``: the root), by ``set_level`` or configuration."""
        if key in self._overrides:
            return self._overrides[key]
        return self._levels.get(key) if key else self._level

    def configure(self, level: int, levels: Mapping[str, int]) -> None:
        """Take the configuration's levels, and apply them to every logger."""
        self._level, self._levels = level, MappingProxyType(dict(levels))
        self._apply()

    def override(self, key: str, level: int | None) -> None:
        """Set (or, with None, remove) the override of ``key``, and apply it."""
        overrides = dict(self._overrides)
        if level is None:
            overrides.pop(key, None)
        else:
            overrides[key] = level
        self._overrides = MappingProxyType(overrides)
        self._apply()

    def clear_overrides(self) -> None:
        """Remove every override (tests start from the configuration's levels)."""
        self._overrides = MappingProxyType({})
        self._apply()

    def core(self, name: str) -> LoggerCore:
        """The core every logger called ``name`` shares, created at its level on first use."""
        core = self._cores.get(name)
        if core is None:
            with self._cores_lock:
                core = self._cores.get(name)
                if core is None:
                    core = self._cores[name] = LoggerCore(name, self.level_for(name))
        return core

    def after_fork(self) -> None:
        """In a forked child: a new lock (the parent's may have been held at the fork)."""
        self._cores_lock = threading.Lock()

    def _apply(self) -> None:
        # Under the lock, so that a logger created meanwhile either is in ``_cores``
        # already or reads the tables set before this call.
        with self._cores_lock:
            for core in self._cores.values():
                core.level = self.level_for(core.name)
