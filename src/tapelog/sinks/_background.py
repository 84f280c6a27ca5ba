"""A base for sinks that deliver over a network: each runs its transport on its own thread.

tapelog's worker hands a batch to ``write_batch``, which only appends it to this sink's
buffer and returns, so a destination that is slow, hangs or is down never delays the
worker, and so never delays the other sinks. The sink's thread calls ``deliver`` for each
batch; a subclass implements ``deliver`` (send, retry, spool) and counts what became of
every entry in ``self.counters``: ``written`` once delivered, ``retried`` per repeated
attempt, ``spooled`` while parked for a later attempt (in a disk spool, or in memory),
``failed`` when given up on (``give_up``, which also hands the entries to the fallback
sink, if one is configured).

A subclass that holds entries between ``deliver`` calls (to batch them) or retries on a
schedule overrides ``next_tick`` and ``tick``: the thread calls ``tick`` when it is idle
and ``next_tick`` says something is due, and with ``force=True`` when ``flush()`` or
``close()`` asks for everything held to be dealt with.

Counter ownership: the pipeline (worker thread) counts ``filtered`` and ``sampled_out``;
this sink's thread counts the rest. Each field has one writer, so no lock is needed.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING, ClassVar, Final

from tapelog._stats import SinkCounters
from tapelog.sinks._base import BaseSink


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tapelog.typing import EventDict


__all__ = ["BackgroundSink"]


def _done(timeout: float | None = None) -> bool:  # noqa: ARG001 - a waiter's signature
    return True


_DEFAULT_BUFFER: Final = 100_000  # entries held in memory before new batches are given up
_DEFAULT_FLUSH_TIMEOUT: Final = 10.0
_LONGEST_WAIT: Final = 3600.0  # the thread looks again at least this often, whatever is due
_STOP_GRACE: Final = 0.2  # after close's time is up: the thread's moment to count and stop
_AFTER_ERROR: Final = 0.1  # the pause after an unexpected error, so a bug cannot spin


class BackgroundSink(BaseSink):
    """Base class for sinks that deliver on their own thread (documented as a base).

    Subclasses implement ``deliver(entries)``, and may override ``close_transport`` and
    ``after_fork`` (calling this class's first).

    Args:
        name: the sink's name, as in ``stats().sinks``.
        buffer_size: entries held in memory waiting for delivery; beyond it new batches
            are given up at once (counted as failed, sent to the fallback).
        flush_timeout: how long ``flush()`` waits for the buffer to drain.
    """

    delivers_itself: ClassVar[bool] = True

    def __init__(
        self,
        name: str,
        *,
        buffer_size: int = _DEFAULT_BUFFER,
        flush_timeout: float = _DEFAULT_FLUSH_TIMEOUT,
    ) -> None:
        self.name = name
        self.counters = SinkCounters()
        self.buffer_size = buffer_size
        self.flush_timeout = flush_timeout
        self._fallback: Callable[[Sequence[EventDict]], None] | None = None
        self._failures = 0
        self._failure_reason = ""
        self._init_thread_state()

    def _init_thread_state(self) -> None:
        self._batches: deque[list[EventDict]] = deque()
        self._pending = 0  # entries buffered or being delivered
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        # flush() asks for a forced tick by raising _flush_asked, and waits until the thread
        # has run a forced tick that started after its request (_flush_done catches up).
        self._flush_asked = 0
        self._flush_done = 0
        self._close_deadline = 0.0

    # -- what the pipeline calls ----------------------------------------------------

    def bind_counters(self, counters: SinkCounters) -> None:
        """Count into the dispatcher's counters for this sink (kept across reloads)."""
        self.counters = counters

    def set_fallback(self, fallback: Callable[[Sequence[EventDict]], None]) -> None:
        """Where entries go that this sink gives up on."""
        self._fallback = fallback

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Queue the batch for this sink's thread and return at once."""
        batch = list(entries)
        with self._cond:
            if self._pending + len(batch) > self.buffer_size:
                overflow = True
            else:
                overflow = False
                self._batches.append(batch)
                self._pending += len(batch)
                if self._thread is None:
                    self._start()
                self._cond.notify_all()
        if overflow:
            self.give_up(batch, f"{self.name}: delivery buffer full ({self.buffer_size} entries)")

    def flush(self) -> None:
        """Wait (at most ``flush_timeout``) until every buffered batch was dealt with.

        "Dealt with" means delivered, retried on a schedule, parked or given up: ``flush``
        runs one forced ``tick`` and never waits out a backoff.
        """
        self._flush_waiter()(self.flush_timeout)

    def request_flush(self) -> None:
        """Ask the sink's thread for what ``flush`` does, without waiting for it."""
        self._flush_waiter()

    def _flush_waiter(self) -> Callable[[float | None], bool]:
        """Ask for what ``flush`` does without waiting; return a function that waits for it.

        The waiter takes a timeout in seconds (None: ``flush_timeout``) and returns True once
        everything buffered before the request was dealt with. It may run on any thread, so
        a caller can wait for several sinks at once, or off the thread that feeds them.
        """
        with self._cond:
            if self._thread is None:
                return _done  # nothing buffered: the thread starts with the first batch
            self._flush_asked += 1
            asked = self._flush_asked
            self._cond.notify_all()

        def wait(timeout: float | None = None) -> bool:
            limit = self.flush_timeout if timeout is None else timeout
            deadline = time.monotonic() + limit
            with self._cond:
                while self._pending or self._flush_done < asked:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._thread is None:
                        return False
                    self._cond.wait(min(remaining, _LONGEST_WAIT))
            return True

        return wait

    def wait_delivered(self, timeout: float | None = None) -> bool:
        """Ask for a forced ``tick`` and wait until everything buffered before it was dealt with.

        For the thread that called ``tapelog.flush()``, after the worker handed its batches
        over: waiting here rather than in ``flush`` on the worker keeps a slow destination
        from delaying the other sinks. True if done within ``timeout`` (None:
        ``flush_timeout``).
        """
        return self._flush_waiter()(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Deliver what is buffered, stop, close the transport: all within ``timeout``.

        ``timeout`` (None: ``flush_timeout``) bounds the whole close. When it runs out
        while the thread is still busy (a receiver that never answers), ``close_out``
        deals with what the sink holds (spooled or counted failed, never lost
        uncounted) and the thread is left to end with the process.
        """
        budget = self.flush_timeout if timeout is None else max(0.0, timeout)
        deadline = time.monotonic() + budget
        self._close_deadline = deadline
        self._flush_waiter()(budget)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        current = threading.current_thread()
        if thread is not None and thread is not current:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                # Time is up. Wake the thread out of a network call, so it counts what it
                # was sending itself; if it is still busy after a moment, take over.
                self.abort_attempt()
                thread.join(_STOP_GRACE)
            if thread.is_alive():
                self.close_out()
        with self._cond:
            self._thread = None
            self._stopping = False
        self.close_transport()

    def closing_budget(self) -> float:
        """Seconds a closing sink's thread may still spend delivering.

        At most half the flush timeout, and half of what is left of the close's time, so
        the rest is left to stop in.
        """
        left = self._close_deadline - time.monotonic()
        return max(0.0, min(self.flush_timeout / 2, left / 2))

    def close_out(self) -> None:
        """``close`` stopped waiting for a busy thread: give up what is buffered.

        The base counts the batches not yet taken by the thread as failed (and hands them
        to the fallback); a subclass that holds more (a batch being gathered, a memory
        spool) or can keep it (a disk spool) overrides this. Runs on the closing thread.
        """
        with self._cond:
            waiting = list(self._batches)
            self._batches.clear()
            self._pending -= sum(len(batch) for batch in waiting)
            self._cond.notify_all()
        held = [entry for batch in waiting for entry in batch]
        if held:
            self.give_up(held, "shutdown timed out before delivery")

    def abort_attempt(self) -> None:
        """Wake the thread out of a network call in progress, if the transport can."""

    def after_fork(self) -> None:
        """In a forked child: an empty buffer (the parent delivers its own), no thread.

        A subclass that holds more (a socket, a spool) extends this, calling it first.
        """
        self._init_thread_state()

    def take_failures(self) -> tuple[int, str] | None:
        """Failures since the last call, for tapelog's ``tapelog.sink_failed`` report."""
        with self._cond:
            if not self._failures and not self._failure_reason:
                return None
            taken = (self._failures, self._failure_reason)
            self._failures = 0
            self._failure_reason = ""
        return taken

    # -- for subclasses ---------------------------------------------------------------

    def deliver(self, entries: list[EventDict]) -> None:
        """Deliver one batch, counting its outcome. Runs on this sink's thread.

        Raising is allowed: the batch is then given up (counted failed, sent to the
        fallback).
        """
        raise NotImplementedError

    def start(self) -> None:
        """Start this sink's thread now, before any batch (e.g. to replay a spool)."""
        with self._cond:
            if self._thread is None and not self._stopping:
                self._start()

    def next_tick(self) -> float | None:
        """Seconds until ``tick`` is due (0 or less: now), or None: wait for batches.

        Called on this sink's thread, under its lock: keep it cheap, take no other lock.
        """
        return None

    def tick(self, *, force: bool) -> None:
        """Timed work between batches (send a batch whose delay ran out, retry a backlog).

        Runs on this sink's thread when ``next_tick`` came due, and with ``force=True``
        when ``flush()`` or ``close()`` wants everything held dealt with (``stopping``
        tells which). Raising is allowed: ``abandon`` then gives up what the sink held.
        """

    def give_up(
        self, entries: Sequence[EventDict], reason: BaseException | str, *, count: bool = True
    ) -> None:
        """Count entries as failed, report why, and hand them to the fallback sink.

        ``count=False`` leaves the counters alone, for entries counted elsewhere (or never
        counted by this process, such as a spool left by an earlier run).
        """
        if count:
            self.counters.failed += len(entries)
        self.note_failure(reason, len(entries))
        if self._fallback is not None:
            try:
                self._fallback(entries)
            except Exception as exc:
                self.note_failure(f"fallback failed too: {type(exc).__name__}: {exc}", 0)

    def abandon(self, exc: BaseException) -> None:
        """``tick`` raised: give up what the sink held, so nothing vanishes uncounted.

        The base holds nothing between batches, so it only reports; a subclass that holds
        entries (a batch being gathered) overrides this and gives them up.
        """
        self.note_failure(exc)

    def note_failure(self, reason: BaseException | str, count: int = 0) -> None:
        """Record a problem (a failed attempt, a lost connection) for the next report."""
        text = reason if isinstance(reason, str) else f"{type(reason).__name__}: {reason}"
        with self._cond:
            self._failures += count
            self._failure_reason = text

    def wait_or_stop(self, seconds: float) -> bool:
        """Sleep up to ``seconds`` (for backoff); True if the sink is closing meanwhile."""
        deadline = time.monotonic() + seconds
        with self._cond:
            # The condition is also notified for new batches and flush requests: keep
            # sleeping through those, or a backoff would turn into a busy retry loop.
            while not self._stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(min(remaining, _LONGEST_WAIT))
            return self._stopping

    @property
    def stopping(self) -> bool:
        """True once ``close()`` asked the thread to finish."""
        return self._stopping

    def close_transport(self) -> None:
        """Release connections and files; called once by ``close()``."""

    # -- the thread -------------------------------------------------------------------

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"tapelog-sink-{self.name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        # The thread must outlive any bug in a subclass or any value that slipped through
        # validation: a dead thread would leave every later batch buffered and uncounted.
        while True:
            try:
                if self._run_until_error():
                    return
            except Exception as exc:  # reported, and the thread goes on
                self.note_failure(exc)
                self.wait_or_stop(_AFTER_ERROR)

    def _run_until_error(self) -> bool:
        """The thread's loop; True when the sink is closed and everything was dealt with."""
        while True:
            batch: list[EventDict] | None = None
            forced = False
            asked = 0
            with self._cond:
                while True:
                    if self._batches:
                        batch = self._batches.popleft()
                        break
                    forced = self._stopping or self._flush_asked != self._flush_done
                    due = self.next_tick()
                    if forced or (due is not None and due <= 0):
                        asked = self._flush_asked
                        break
                    self._cond.wait(_LONGEST_WAIT if due is None else min(due, _LONGEST_WAIT))
            if batch is not None:
                try:
                    self.deliver(batch)
                except Exception as exc:
                    self.give_up(batch, exc)
                finally:
                    with self._cond:
                        self._pending -= len(batch)
                        self._cond.notify_all()
                continue
            try:
                self.tick(force=forced)
            except Exception as exc:
                self.abandon(exc)
            if forced:
                with self._cond:
                    self._flush_done = asked
                    self._cond.notify_all()
                    if self._stopping and not self._batches:
                        return True
