"""Exact counters, and the frozen snapshots ``stats()`` returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, final


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["SinkStats", "Stats"]


@final
@dataclass(frozen=True, slots=True)
class SinkStats:
    """What became of the entries one sink was offered.

    At a quiet moment (after ``flush()``), for a sink present since the start:
    ``processed + received == written + filtered + sampled_out + failed + spooled``
    (``received`` is 0 for a sink that is no other sink's fallback).
    """

    written: int = 0
    """Entries the sink accepted (for network sinks: delivered)."""
    filtered: int = 0
    """Entries below the sink's level or refused by its filter."""
    sampled_out: int = 0
    """Entries the sink's sampler dropped on purpose."""
    failed: int = 0
    """Entries given up on after the sink failed (and its fallback, if any)."""
    retried: int = 0
    """Write attempts repeated after a failure (an entry may be retried many times)."""
    spooled: int = 0
    """Entries parked for a later delivery attempt: in the disk spool, or in memory when
    the sink has no ``spool_dir``."""
    received: int = 0
    """Entries another sink gave up on and handed to this one, as its ``fallback``; they
    are counted here as this sink's own are (``written``, else ``failed``)."""


@final
@dataclass(frozen=True, slots=True)
class Stats:
    """A snapshot of tapelog's counters.

    At a quiet moment (after ``flush()``): ``emitted == processed + dropped_overflow``.
    """

    emitted: int = 0
    """Calls that passed the level gate."""
    dropped_overflow: int = 0
    """Entries refused because the queue was full (any overflow policy)."""
    processed: int = 0
    """Entries the worker took from the queue and handed to the sinks."""
    queue_depth: int = 0
    """Entries waiting in the queue now."""
    queue_high_water: int = 0
    """The most entries the queue has held at once, counted against ``queue.size``: never
    more than the size. It equals the size once the queue was full (the overflow policy ran);
    what the bound lets through beyond it (one record per concurrently appending thread,
    ``flush()`` markers, tapelog's own reports from the worker) is not counted."""
    sinks: Mapping[str, SinkStats] = field(default_factory=lambda: MappingProxyType({}))
    """Per sink, by name."""
    dropped_by_reason: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """``dropped_overflow`` split by why: ``drop_newest``, ``drop_oldest``, ``block_timeout``,
    ``shed_by_level``."""
    dropped_by_level: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """``dropped_overflow`` split by the level of the entries lost (``debug``, ``info``, ...),
    whatever the policy; a level with no drop is absent."""

    def as_dict(self) -> dict[str, object]:
        """Return the snapshot as plain dicts and ints, for export."""
        return {
            "emitted": self.emitted,
            "dropped_overflow": self.dropped_overflow,
            "processed": self.processed,
            "queue_depth": self.queue_depth,
            "queue_high_water": self.queue_high_water,
            "sinks": {name: asdict(sink) for name, sink in self.sinks.items()},
            "dropped_by_reason": dict(self.dropped_by_reason),
            "dropped_by_level": dict(self.dropped_by_level),
        }


class SinkCounters:
    """Mutable counters for one sink; written only by the worker (or the sync caller)."""

    __slots__ = ("failed", "filtered", "received", "retried", "sampled_out", "spooled", "written")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Every counter back to zero (a forked child starts its own counts)."""
        self.written = 0
        self.filtered = 0
        self.sampled_out = 0
        self.failed = 0
        self.retried = 0
        self.spooled = 0
        self.received = 0

    def snapshot(self) -> SinkStats:
        """Freeze the current values."""
        return SinkStats(
            written=self.written,
            filtered=self.filtered,
            sampled_out=self.sampled_out,
            failed=self.failed,
            retried=self.retried,
            spooled=self.spooled,
            received=self.received,
        )
