"""What the delivering sinks share: batch accumulation, the retry policy, the memory spool.

``Batcher`` gathers entries until ``max_records``, ``max_bytes`` or ``max_delay`` says a
batch is ready. ``RetryPolicy`` spaces attempts with exponential backoff and jitter and
honours a receiver's ``Retry-After``. A batch that could not be delivered waits in a
``Backlog``: the ``MemorySpool`` here, or the ``DiskSpool`` of ``_spool``, which survives
restarts.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Final, Generic, Literal, Protocol, TypeVar, final


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from pathlib import Path

    from tapelog._stats import SinkCounters
    from tapelog.typing import EventDict


__all__ = [
    "MAX_RETRY_AFTER",
    "Backlog",
    "Batch",
    "Batcher",
    "DecodedBatch",
    "Dropped",
    "MemorySpool",
    "Outcome",
    "Parked",
    "RetryPolicy",
    "oldest_to_drop",
    "parse_retry_after",
    "take_head",
]

MAX_RETRY_AFTER: Final = 900.0
"""The longest ``Retry-After`` honoured, in seconds: a bogus header must not stall delivery."""

_MAX_EXPONENT: Final = 62  # 2**62 s outlasts any max_delay; beyond it floats overflow

T = TypeVar("T")


# -- retry ----------------------------------------------------------------------------


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP-date).

    Args:
        value: the header's value, or None when absent.
        now: the current Unix time, for an HTTP-date (default: ``time.time()``).

    Returns:
        Seconds, at least 0 and at most ``MAX_RETRY_AFTER``; None when absent or unreadable.

    Example:
        >>> parse_retry_after("120")
        120.0
        >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0)
        10.0
    """
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # RFC 9110 dates are GMT; a zone-less one is not an HTTP-date
    current = time.time() if now is None else now
    return min(max(0.0, when.timestamp() - current), MAX_RETRY_AFTER)


@final
@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long to wait after failed attempts: exponential backoff with equal jitter.

    The n-th consecutive failure waits between half and all of
    ``min(max_delay, initial_delay * 2 ** (n - 1))``; a ``Retry-After`` longer than that
    wins. ``max_attempts`` bounds the attempts per batch when batches wait in memory; a
    disk spool retries without a limit (its size cap bounds it instead).
    """

    initial_delay: float = 0.5
    """Seconds before the first retry (before jitter)."""
    max_delay: float = 30.0
    """The backoff stops growing here (before jitter)."""
    max_attempts: int = 5
    """Attempts per batch, the first included, when there is no disk spool."""
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)
    """Returns a number in [0, 1); injected by tests."""

    def delay(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failures`` consecutive failed attempts (at least 1)."""
        exponent = min(max(failures, 1) - 1, _MAX_EXPONENT)
        ceiling = min(self.max_delay, self.initial_delay * 2.0**exponent)
        wait = ceiling / 2 + ceiling / 2 * self.jitter()
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt came to."""

    kind: Literal["ok", "retry", "poison"]
    """``ok``: delivered; ``retry``: try again later; ``poison``: refused for good."""
    reason: str = ""
    """Why it failed, for the failure report (never headers or the body sent)."""
    status: int | None = None
    """The HTTP status, when there was a response."""
    retry_after: float | None = None
    """Seconds the receiver asked us to wait (``Retry-After``)."""
    rejected: int = 0
    """Entries of a delivered batch the receiver said it dropped (OTLP partial success)."""
    resent: bool = False
    """The request was sent twice: a kept-alive connection turned out to be closed."""


# -- batching -------------------------------------------------------------------------


@final
@dataclass(slots=True)
class Batch(Generic[T]):
    """Entries going out in one request, with what the encoder prepared from each."""

    entries: list[EventDict]
    prepared: list[T]
    size: int
    """Encoded size in bytes, before compression."""
    key: str = field(default_factory=lambda: str(uuid.uuid4()))
    """The idempotency key, the same on every attempt (and across restarts, in a spool)."""


@final
class Batcher(Generic[T]):
    """Collects entries into batches of at most ``max_records`` entries and ``max_bytes``.

    A batch is also ready ``max_delay`` seconds after its first entry came in; the sink
    asks ``due_in`` when to come back. An entry larger than ``max_bytes`` goes alone.

    Args:
        max_records: entries per batch.
        max_bytes: encoded bytes per batch (before compression).
        max_delay: seconds the first entry of a batch waits for company.
        clock: a monotonic clock in seconds; injected by tests.
    """

    def __init__(
        self,
        max_records: int,
        max_bytes: int,
        max_delay: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_delay = max_delay
        self._clock = clock
        self._entries: list[EventDict] = []
        self._prepared: list[T] = []
        self._size = 0
        self._started = 0.0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, entry: EventDict, prepared: T, size: int) -> list[Batch[T]]:
        """Add one entry; return the batches that became ready (none, one or two)."""
        ready: list[Batch[T]] = []
        if self._entries and self._size + size > self.max_bytes:
            ready.append(self.cut())
        if not self._entries:
            self._started = self._clock()
        self._entries.append(entry)
        self._prepared.append(prepared)
        self._size += size
        if len(self._entries) >= self.max_records or self._size >= self.max_bytes:
            ready.append(self.cut())
        return ready

    def due_in(self) -> float | None:
        """Seconds until the held batch is due (0 or less: now); None when empty."""
        if not self._entries:
            return None
        return self._started + self.max_delay - self._clock()

    def cut(self) -> Batch[T]:
        """Return what is held as a batch (possibly empty) and start afresh."""
        batch = Batch(self._entries, self._prepared, self._size)
        self._entries, self._prepared, self._size = [], [], 0
        return batch

    def clear(self) -> None:
        """Forget what is held (a forked child: the parent sends it)."""
        self.cut()


# -- what both spools share -----------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A parked batch read back."""

    key: str | None
    """The batch's idempotency key; None when the header frame was damaged."""
    count: int | None
    """How many entries the batch had when written; None when the header was damaged."""
    entries: list[EventDict] = field(default_factory=list[Any])
    """The entries that could be read, in order."""
    damaged: int = 0
    """Damaged frames skipped, plus one for a truncated end or a missing magic."""

    @property
    def lost(self) -> int:
        """Entries written but not read back (0 when the count itself was lost)."""
        return max(0, self.count - len(self.entries)) if self.count is not None else 0

    @property
    def complete(self) -> bool:
        """Every entry came back and nothing was damaged."""
        return not self.damaged and self.count == len(self.entries)


@final
class Parked:
    """One batch waiting in a spool, as the spool's index holds it (the entries may be on disk).

    ``owner`` is the counters that counted the batch as ``spooled`` (None for a batch an
    earlier process left behind), so whichever sink delivers it settles the right ones.
    """

    __slots__ = (
        "attempts",
        "count",
        "entries",
        "inflight",
        "key",
        "owner",
        "path",
        "prepared",
        "size",
    )

    def __init__(
        self,
        key: str,
        count: int,
        size: int,
        owner: SinkCounters | None,
        *,
        path: Path | None = None,
        entries: list[EventDict] | None = None,
        prepared: list[Any] | None = None,
    ) -> None:
        self.key = key
        self.count = count
        self.size = size
        self.owner = owner
        self.path = path
        self.entries = entries
        self.prepared = prepared
        self.attempts = 0
        self.inflight = False

    @property
    def inherited(self) -> bool:
        """Left by an earlier process: counted by none of this process's counters."""
        return self.owner is None

    def __repr__(self) -> str:
        return f"Parked(key={self.key!r}, count={self.count}, attempts={self.attempts})"


@final
@dataclass(frozen=True, slots=True)
class Dropped:
    """A batch pushed out of a full spool (oldest first), with what could be read of it."""

    parked: Parked
    entries: list[EventDict]
    lost: int = 0


class Backlog(Protocol):
    """What a delivering sink needs of a spool."""

    @property
    def durable(self) -> bool:
        """Batches survive a restart."""
        ...

    @property
    def entries(self) -> int:
        """Entries parked."""
        ...

    def put(
        self,
        key: str,
        entries: list[EventDict],
        owner: SinkCounters | None,
        *,
        prepared: list[Any] | None = None,
        size: int = 0,
        hold: bool = False,
        sync: bool = True,
    ) -> tuple[Parked | None, list[Dropped]]:
        """Park a batch at the back; return it (None: over the cap alone) and what was dropped.

        ``hold=True`` parks it already marked as being attempted (``head`` skips it), for a
        batch written down before its first attempt; ``release`` or ``ack`` it after.
        ``sync=False`` lets a disk spool skip ``fsync`` until ``sync(parked)``.
        """
        ...

    def sync(self, parked: Parked) -> None:
        """Make a batch parked with ``sync=False`` survive a power loss."""
        ...

    def head(self) -> Parked | None:
        """The oldest batch not being attempted, now marked as being attempted."""
        ...

    def load(self, parked: Parked) -> DecodedBatch:
        """The batch's entries."""
        ...

    def ack(self, parked: Parked) -> None:
        """Forget a batch: delivered, set aside or given up."""
        ...

    def release(self, parked: Parked) -> None:
        """Put a batch back after a failed attempt; it stays first in line."""
        ...


def take_head(parked: Iterable[Parked]) -> Parked | None:
    """The oldest of ``parked`` not being attempted, now marked as being attempted."""
    for batch in parked:
        if not batch.inflight:
            batch.inflight = True
            return batch
    return None


def oldest_to_drop(parked: Sequence[Parked], wanted: int, cap: int) -> list[Parked]:
    """Which batches to drop, oldest first, so that ``wanted`` bytes come under ``cap``.

    ``wanted`` is what the spool would hold with the new batch. Batches being attempted
    are never dropped, so with many of them the spool may stay over its cap.
    """
    victims: list[Parked] = []
    for batch in parked:
        if wanted <= cap:
            break
        if not batch.inflight:
            victims.append(batch)
            wanted -= batch.size
    return victims


@final
class MemorySpool:
    """Batches waiting for another attempt in memory; lost at exit, so never ``durable``.

    Used by one sink thread only. Args:
        max_size: the cap on the parked batches' encoded size, in bytes.
    """

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._parked: list[Parked] = []
        self._size = 0
        self._entries = 0

    @property
    def durable(self) -> bool:
        """False: parked batches are lost at exit."""
        return False

    @property
    def entries(self) -> int:
        """Entries parked."""
        return self._entries

    def put(
        self,
        key: str,
        entries: list[EventDict],
        owner: SinkCounters | None,
        *,
        prepared: list[Any] | None = None,
        size: int = 0,
        hold: bool = False,
        sync: bool = True,  # noqa: ARG002 - nothing to sync in memory
    ) -> tuple[Parked | None, list[Dropped]]:
        """Park a batch, dropping the oldest ones while it does not fit under the cap."""
        if size > self.max_size:
            return None, []
        dropped: list[Dropped] = []
        for old in oldest_to_drop(self._parked, self._size + size, self.max_size):
            self.ack(old)
            dropped.append(Dropped(old, old.entries or []))
        parked = Parked(key, len(entries), size, owner, entries=entries, prepared=prepared)
        parked.inflight = hold
        self._parked.append(parked)
        self._size += size
        self._entries += parked.count
        return parked, dropped

    def head(self) -> Parked | None:
        """The oldest batch not being attempted, marked as being attempted."""
        return take_head(self._parked)

    def load(self, parked: Parked) -> DecodedBatch:
        """The batch's entries (kept in memory)."""
        entries = parked.entries or []
        return DecodedBatch(parked.key, len(entries), entries)

    def ack(self, parked: Parked) -> None:
        """Forget a batch."""
        with contextlib.suppress(ValueError):
            self._parked.remove(parked)
            self._size -= parked.size
            self._entries -= parked.count

    def release(self, parked: Parked) -> None:
        """Put a batch back first in line."""
        parked.inflight = False

    def sync(self, parked: Parked) -> None:
        """Nothing to do: a memory spool never survives the process."""

    def take_all(self) -> list[Parked]:
        """Empty the spool, returning what was in it (a closing sink gives it up)."""
        parked, self._parked = self._parked, []
        self._size = self._entries = 0
        return parked
