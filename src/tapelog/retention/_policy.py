"""The rotation and retention policies: every way of writing them, normalised once.

The configuration validates ``rotation`` and ``retention`` tables
(``tapelog.config._sinks``); these classes take that normalised form, or a policy built
by hand, and answer the only questions the file sink asks at run time: is a file too big,
when does its period end, which limits apply to finished files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal, TypeAlias, TypeVar, cast, final


__all__ = ["RetentionPolicy", "RotationPolicy", "When"]

When: TypeAlias = Literal["hourly", "daily", "weekly", "interval"]
"""The schedules a file can rotate on."""

_HOUR = 3600.0
_DAY = timedelta(days=1)
_WEEK = timedelta(days=7)


@final
@dataclass(frozen=True, slots=True)
class RotationPolicy:
    """When the live file is closed and a new one started: by size, on a schedule, or both.

    Schedules are in UTC, like every timestamp tapelog writes. ``interval`` periods are
    aligned to the Unix epoch, so that ``"6h"`` rotates at 00:00, 06:00, 12:00 and 18:00
    UTC in every process sharing the file, whenever each of them started.

    Example:
        >>> policy = RotationPolicy(when="daily", at=time(2, 30))
        >>> datetime.fromtimestamp(policy.next_boundary(0.0), UTC).isoformat()
        '1970-01-01T02:30:00+00:00'
    """

    size: int | None = None
    """Rotate before a write would take the file past this many bytes."""
    when: When | None = None
    """The schedule, or ``None`` for size only."""
    interval: float | None = None
    """Seconds between rotations, for ``when="interval"``."""
    at: time | None = None
    """The time of day (UTC) for ``daily`` and ``weekly``; midnight when unset."""
    weekday: int | None = None
    """0 (Monday) to 6 (Sunday), for ``weekly``; Monday when unset."""

    def __post_init__(self) -> None:
        if self.size is None and self.when is None:
            msg = "rotation: expected a size, a when, or both, got neither"
            raise ValueError(msg)
        if self.size is not None and self.size < 1:
            msg = f"rotation.size: expected a size of at least 1 byte, got {self.size!r}"
            raise ValueError(msg)
        if self.when == "interval" and not (self.interval and self.interval > 0):
            msg = f"rotation.interval: expected seconds greater than zero, got {self.interval!r}"
            raise ValueError(msg)

    @classmethod
    def of(cls, value: object) -> RotationPolicy:
        """Normalise any accepted form: a policy, a ``rotation`` table, bytes, or an interval.

        A table goes through the same validation as the configuration file, so
        ``{"size": "100 MiB", "when": "daily@02:00"}`` works here too.

        Raises:
            tapelog.exceptions.ConfigError: the table is invalid.
            ValueError: any other form is invalid.
        """
        if isinstance(value, RotationPolicy):
            return value
        if isinstance(value, Mapping):
            from tapelog.config._sinks import ROTATION_OPTIONS

            return cls.from_options(ROTATION_OPTIONS(cast("Mapping[str, Any]", value), "rotation"))
        if isinstance(value, timedelta):
            return cls(when="interval", interval=value.total_seconds())
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(size=value)
        msg = (
            "rotation: expected a table like {'size': '100 MiB', 'when': 'daily'}, a number of "
            f"bytes or a timedelta, got {value!r}"
        )
        raise ValueError(msg)

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RotationPolicy:
        """Build from the normalised ``rotation`` table of a validated file sink."""
        return _from_table(cls, options)

    def next_boundary(self, after: float) -> float | None:
        """Return the first scheduled rotation strictly after ``after`` (epoch seconds).

        ``None`` when the policy has no schedule.
        """
        when = self.when
        if when is None:
            return None
        if when in {"hourly", "interval"}:
            period = _HOUR if when == "hourly" else float(self.interval or _HOUR)
            return (math.floor(after / period) + 1) * period
        moment = datetime.fromtimestamp(after, UTC)
        at = self.at or time(0, 0)
        day = moment.date()
        step = _DAY
        if when == "weekly":
            step = _WEEK
            day += timedelta(days=((self.weekday or 0) - day.weekday()) % 7)
        candidate = datetime.combine(day, at, UTC)
        while candidate.timestamp() <= after:
            candidate += step
        return candidate.timestamp()


@final
@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """Which finished (rotated) files to keep, archive or purge. ``None`` means no limit.

    Ages are measured from a file's last entry. The live file is never touched, and no file
    younger than ``min_age`` is ever purged, whatever the other limits say.
    """

    max_age: float | None = None
    """Seconds: older finished files move to ``archive_dir``, or are purged without one."""
    archive_max_age: float | None = None
    """Seconds: older files in ``archive_dir`` are purged."""
    max_files: int | None = None
    """Keep at most this many finished files (live directory and archive together)."""
    max_total_size: int | None = None
    """Keep the finished files under this many bytes in total."""
    min_free_disk: int | None = None
    """Purge the oldest finished files while the log directory's disk has less free."""
    min_age: float | None = None
    """Seconds: the floor under which nothing is purged."""

    @classmethod
    def of(cls, value: object) -> RetentionPolicy:
        """Normalise a policy or a ``retention`` table (validated like the configuration).

        Raises:
            tapelog.exceptions.ConfigError: the table is invalid.
        """
        if isinstance(value, RetentionPolicy):
            return value
        if not isinstance(value, Mapping):
            msg = f"retention: expected a table like {{'max_files': 10}}, got {value!r}"
            raise ValueError(msg)
        from tapelog.config._sinks import RETENTION_OPTIONS

        return cls.from_options(RETENTION_OPTIONS(cast("Mapping[str, Any]", value), "retention"))

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> RetentionPolicy:
        """Build from the normalised ``retention`` table of a validated file sink."""
        return _from_table(cls, options)

    @property
    def limits_anything(self) -> bool:
        """True when at least one limit is set."""
        return any(
            value is not None
            for value in (
                self.max_age,
                self.archive_max_age,
                self.max_files,
                self.max_total_size,
                self.min_free_disk,
            )
        )


_Policy = TypeVar("_Policy", RotationPolicy, RetentionPolicy)


def _from_table(cls: type[_Policy], options: Mapping[str, Any]) -> _Policy:
    """A policy from a validated table: each field from its key, ``None`` where absent."""
    return cls(**{field.name: options.get(field.name) for field in fields(cls)})
