"""The dispatcher: a bounded queue between callers and one worker thread.

The caller's side is ``put``: a length check, a ``deque.append`` and, only when the
worker sleeps, one ``Event.set``. Everything else (building the entry, redaction,
formatting, writing) happens on the worker, in batches.

Why each lock exists:

* ``_lock`` guards the slow paths only: a full queue (overflow policies, drop counters)
  and the condition blocked callers wait on. The fast path takes no lock: ``deque``
  operations are atomic under the GIL, so the bound can be exceeded by at most one
  record per concurrently appending thread, never by more.
* ``_work_lock`` is held by whoever runs the pipeline: the worker for one batch, a caller
  in ``sync`` mode, ``swap`` while it replaces the pipeline, and ``fork`` while it
  duplicates the process. Holding it across a batch is what makes a pipeline swap exact:
  each batch is handled wholly by the old pipeline or wholly by the new one.

Loss accounting is exact: ``emitted`` is derived as processed + in flight + queued +
dropped, and the drop counters are only changed under ``_lock``.

Fork: the child gets new locks, an empty queue and no worker (one starts on its first
call); records still queued in the parent are the parent's to write, so none is
written twice. ``before_fork`` waits (bounded) for the current batch, so no sink is
forked mid-write.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
import time
from collections import deque
from itertools import repeat
from threading import get_ident
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from tapelog._event import is_deferred, make_record
from tapelog._levels import ERROR, WARNING, level_name
from tapelog._stats import SinkCounters, Stats


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from tapelog._event import Record
    from tapelog.config._model import QueueConfig


__all__ = ["Dispatcher", "PipelineLike"]

_INTERNAL_LOGGER: Final = "tapelog"
_REPORT_INTERVAL: Final = 5.0  # seconds between two tapelog.dropped entries
_IDLE_WAIT: Final = 0.25  # the worker wakes this often when idle, for periodic duties
_NAP: Final = 0.001  # a worker busy a moment ago looks at the queue again this soon,
_NAP_MAX: Final = 0.032  # then twice as late each time, up to this,
_LINGER: Final = 1.0  # for this long after its last batch; then it sleeps until woken
_FILL_TIME: Final = 0.5e-6  # about the least time a caller takes per entry: no nap may be
# longer than a burst takes to fill half the queue, nor shorter than _NAP (then: no naps)
_BLOCK_POLL: Final = 0.05  # a blocked caller re-checks the queue this often
_FORK_WAIT: Final = 2.0  # how long fork waits for the batch being written
_EXIT_WAIT: Final = 10.0  # the drain at exit (atexit, or a multiprocessing child's end)
_EXIT_PRIORITY: Final = 0  # among multiprocessing's finalizers: run before children are joined
_SHED_SHARE: Final = 8  # shed_by_level frees up to 1/8 of the queue per scan of it
# While callers keep up, the worker writes whatever is queued each time it looks (a batch
# as it comes: about 10-20 entries at 10,000 entries/s), then naps _NAP, longer and longer
# while nothing comes. Short, frequent batches fit a busy application's idle gaps; a long
# batch (or a long wait to gather one) holds the GIL past them, and every request due
# meanwhile waits. See docs/architecture.md, "The worker's GIL holds (#18)".


class PipelineLike(Protocol):
    """What the dispatcher needs from a pipeline (``tapelog._pipeline.Pipeline``)."""

    def process(self, records: Sequence[Record], counters: dict[str, SinkCounters]) -> None:
        """Build, filter and write a batch of records; never raises."""
        ...

    def flush(self) -> None:
        """Flush every sink."""
        ...

    def close(
        self,
        keep: PipelineLike | None = None,
        timeout: float | None = None,
        *,
        delivering_only: bool = False,
    ) -> None:
        """Close the sinks that ``keep`` does not also use, network sinks within ``timeout``.

        ``delivering_only``: close only the sinks that deliver on their own thread.
        """
        ...

    def final_reports(self, *, local_only: bool = False) -> Sequence[Record]:
        """Every failure not reported yet, rate limit or not.

        ``local_only``: the reports skip the sinks with a thread of their own.
        """
        ...

    def wait_delivered(self, timeout: float | None) -> bool:
        """Wait for network sinks to deliver; runs on the flushing caller's thread."""
        ...

    def after_fork(self) -> None:
        """Reset what a forked child cannot share (sockets, locks)."""
        ...

    def periodic(self) -> Sequence[Record]:
        """Run timed duties (rotation, retries); return internal records to log."""
        ...


class Dispatcher:
    """Moves records from callers to the pipeline. One per process; see the module doc."""

    def __init__(self, pipeline: PipelineLike, queue: QueueConfig) -> None:
        # ``put`` appends while the queue has ``_room``; otherwise it calls ``_slow_put``,
        # which is rebound as the mode changes (start the worker, write synchronously,
        # apply the overflow policy). ``_room`` is 0 whenever the fast path must not run.
        self.room = 0
        self.slow_put: Callable[[Record], None] = self._put_start
        self._pipeline = pipeline
        self._counters: dict[str, SinkCounters] = {}
        self._worker: threading.Thread | None = None
        self._apply_queue(queue)
        self._reset()
        os.register_at_fork(
            before=self._before_fork,
            after_in_parent=self._after_fork_in_parent,
            after_in_child=self._after_fork_in_child,
        )
        atexit.register(self._at_exit)
        self._after_forker_registered = False
        self._exit_drain: object | None = None
        self._arm_multiprocessing()

    def _reset(self) -> None:
        """Fresh runtime state: at start and in a forked child."""
        self._queue: deque[Record | threading.Event] = deque()
        self._lock = threading.Lock()
        self._not_full = threading.Condition(self._lock)
        self._work_lock = threading.RLock()
        self._wake = threading.Event()
        # What loggers read to append without calling ``put`` (see ``_logger.Logger._log``):
        # the same queue and the event's ``set``, under public names.
        self.queue = self._queue
        self.wake = self._wake.set
        self.idle = False
        self._stopping = False
        self._worker = None
        self._worker_ident = 0
        self._processed = 0
        self._inflight = 0
        self._waiters = 0
        self._high_water = 0
        self._dropped = {"drop_newest": 0, "drop_oldest": 0, "block_timeout": 0, "shed_by_level": 0}
        self._reported = dict(self._dropped)
        # The same drops by the level of the entry lost (any policy), and what the last
        # tapelog.dropped report covered of them.
        self._dropped_levels: dict[str, int] = {}
        self._reported_levels: dict[str, int] = {}
        # Batches the worker took: shed_by_level remembers, until the next one, that the
        # queue held nothing below some level (so it need not scan again to know).
        self._drains = 0
        self._shed_floor = (-1, -1)
        self._last_report = 0.0
        self._sync_depth = 0
        self._sync_pending: list[Record] = []
        self._sync_duties_due = 0.0
        self._fork_held = False
        # Flush markers put in the queue and taken out by the worker: when the two are
        # equal, a batch holds records only and skips the per-item marker test.
        self._markers_put = 0
        self._markers_taken = 0
        for counters in self._counters.values():
            counters.reset()
        self._bind_put()

    def _bind_put(self) -> None:
        if self._sync or self._closed:
            self.room, self.slow_put = 0, self._put_sync
        elif self._worker is None:
            self.room, self.slow_put = 0, self._put_start
        else:
            self.room, self.slow_put = self._maxsize, self._overflow

    # -- configuration -------------------------------------------------------------

    def configure_queue(self, queue: QueueConfig) -> None:
        """Apply new queue settings; switching to sync mode drains the queue first."""
        to_sync = queue.mode == "sync" and not self._sync
        if to_sync:
            self.flush()
        with self._lock:
            self._apply_queue(queue)
            self._bind_put()

    def _apply_queue(self, queue: QueueConfig) -> None:
        self._maxsize = queue.size
        self._policy = queue.overflow
        self._block_timeout = queue.block_timeout
        self._batch_size = queue.batch_size
        self._sync = queue.mode == "sync"
        self._closed = False

    def swap(self, pipeline: PipelineLike, *, close_old: bool = True) -> PipelineLike:
        """Replace the pipeline between two batches; close the sinks the new one dropped.

        Records already queued are written by the new pipeline; a batch being written
        finishes with the old one first, so each record is written exactly once.

        Returns:
            The previous pipeline.
        """
        with self._work_lock:
            old = self._pipeline
            self._pipeline = pipeline
            _safe(old.flush)
        # Closing may wait (a compression in progress, a network sink delivering): do it
        # outside the lock, so the worker goes on with the new pipeline meanwhile. The old
        # pipeline is no longer reachable by the worker.
        if close_old:
            old.close(keep=pipeline)
        # What the old pipeline's sinks failed to do since its last report (closing them
        # included) is reported now, through the new pipeline: it would be lost with it.
        # Written before configure() returns, so the reports are not left in the queue.
        reports = list(_safe_records(getattr(old, "final_reports", list)))
        if reports:
            with self._work_lock:
                self._put_sync_many(reports)
        return old

    @property
    def pipeline(self) -> PipelineLike:
        """The pipeline in use."""
        return self._pipeline

    @property
    def counters(self) -> dict[str, SinkCounters]:
        """The per-sink counters, by sink name; kept across pipeline swaps."""
        return self._counters

    # -- the caller's side ---------------------------------------------------------

    def _put_start(self, record: Record) -> None:
        """First call in this process: start the worker, then hand over."""
        with self._lock:
            if self._worker is None and not self._sync and not self._closed:
                self._start_worker()
            self._bind_put()
        self.put(record)

    def put(self, record: Record) -> None:
        """Hand one record over: in async mode, the caller's whole cost is this method.

        ``Logger._log`` and the level methods (``info`` ...) do the same three steps
        themselves, saving a call; they must stay alike (tests/unit/test_event.py).
        """
        queue = self._queue
        if len(queue) < self.room:
            queue.append(record)
            if self.idle:
                self._wake.set()
        else:
            self.slow_put(record)

    def _overflow(self, record: Record) -> None:
        """The queue is full: apply the policy. Every record not queued is counted."""
        queue = self._queue
        if get_ident() == self._worker_ident:
            # A sink or processor logging from the worker itself: blocking would wait on
            # ourselves, and dropping would hide tapelog's own reports. Exceed the bound.
            queue.append(record)
            return
        # shed_by_level never sheds an error or a critical entry either.
        keep = self._must_keep(record) or (self._policy == "shed_by_level" and record[1] >= ERROR)
        with self._lock:
            # The queue was full: the high water reaches the bound, never beyond it (the
            # records that concurrent callers, markers and reports add are not counted).
            self._high_water = self._maxsize
            if self._policy == "drop_newest" and not keep:
                self._count_drop_locked("drop_newest", record[1])
            elif self._policy == "drop_oldest" and not keep:
                self._drop_oldest_locked()
                queue.append(record)
            elif self._policy == "shed_by_level" and self._shed_locked(record, keep=keep):
                pass  # queued after shedding lower entries, or shed itself
            else:
                deadline = time.monotonic() + self._block_timeout
                while len(queue) >= self._maxsize:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        if keep:  # never shed: past the bound rather than lost
                            queue.append(record)
                        else:
                            self._count_drop_locked("block_timeout", record[1])
                        break
                    self._waiters += 1
                    self._wake.set()
                    try:
                        self._not_full.wait(min(remaining, _BLOCK_POLL))
                    finally:
                        self._waiters -= 1
                else:
                    queue.append(record)
        # A full queue cuts the worker's nap short, whatever the policy did.
        if not self._wake.is_set():
            self._wake.set()

    def _must_keep(self, record: Record) -> bool:
        """Whether a record may never be shed: a trade event, or one an audited sink takes.

        Such records wait for room like ``block`` whatever the policy, and after
        ``block_timeout`` go in past the bound (docs/audit.md). Asked on the slow path only.
        A deferred message is a trade event's (``order_placed``, ``order_filled``): its
        ``trade`` object is made on the worker, and its meta is None.
        """
        meta = record[8]
        if (meta is not None and "trade" in meta) or is_deferred(record[3]):
            return True
        keeps = getattr(self._pipeline, "must_keep", None)
        return bool(keeps(record)) if callable(keeps) else False

    def _drop_oldest_locked(self) -> None:
        """Remove the oldest record, keeping any flush markers in front of it."""
        queue = self._queue
        kept: list[Record | threading.Event] = []
        try:
            while True:
                oldest = queue.popleft()
                # Flush markers and tapelog's own reports are stepped over: dropping a
                # report of drops would hide exactly what it is there to tell.
                if (
                    isinstance(oldest, threading.Event)
                    or oldest[2] == _INTERNAL_LOGGER
                    or self._must_keep(oldest)
                ):
                    kept.append(oldest)
                    continue
                self._count_drop_locked("drop_oldest", oldest[1])
                break
        except IndexError:
            pass  # the worker emptied the queue meanwhile: nothing to drop
        queue.extendleft(reversed(kept))

    def _count_drop_locked(self, reason: str, level: int) -> None:
        self._dropped[reason] += 1
        name = level_name(level)
        self._dropped_levels[name] = self._dropped_levels.get(name, 0) + 1

    def _sheddable(self, item: Record | threading.Event) -> bool:
        """Whether ``shed_by_level`` may remove a queued item: below error, not kept."""
        return (
            not isinstance(item, threading.Event)
            and item[1] < ERROR
            and item[2] != _INTERNAL_LOGGER
            and not self._must_keep(item)
        )

    def _shed_locked(self, record: Record, *, keep: bool) -> bool:
        """``shed_by_level`` on a full queue; True when ``record`` was dealt with.

        The lowest level present among the queued entries that may be shed is found; if
        it is at or below the new entry's level (any level, for an entry never shed), up
        to an eighth of the queue's oldest entries at that level are removed and the new
        entry is queued. Otherwise the new entry is itself the lowest and is shed. An
        entry never shed that finds nothing to shed is left to the ``block`` path (False).
        Each scan of the queue frees many places, so its cost is paid once per chunk.
        """
        queue = self._queue
        level = record[1]
        limit = ERROR - 1 if keep else level  # the highest level this entry may displace
        drains, floor = self._shed_floor
        if drains != self._drains or limit > floor:
            # ``tuple`` copies the deque in one step under the GIL: lock-free appends by
            # callers cannot change it while it is read.
            snapshot = tuple(queue)
            levels = sorted({i[1] for i in snapshot if type(i) is tuple and i[1] <= limit})
            chunk = max(1, self._maxsize // _SHED_SHARE)
            for lowest in levels:
                if self._shed_level_locked(lowest, chunk):
                    queue.append(record)
                    return True
            # Nothing queued at or below ``limit`` may be shed: remember it until the
            # worker takes its next batch (only that makes room for new entries again).
            self._shed_floor = (self._drains, limit)
        if keep:
            return False
        self._count_drop_locked("shed_by_level", level)
        return True

    def _shed_level_locked(self, level: int, chunk: int) -> int:
        """Remove up to ``chunk`` of the oldest sheddable queued records at ``level``."""
        queue = self._queue
        popleft = queue.popleft
        # Only this thread and the worker (under the same lock) take from the left; callers
        # append on the right meanwhile, after the items taken here. While the queue looks
        # short, ``room`` 0 sends callers to the slow path (they wait for this lock), so
        # the bound holds as it does elsewhere: exceeded by at most one record per thread.
        room, self.room = self.room, 0
        removed = 0
        try:
            items = [popleft() for _ in repeat(None, len(queue))]
            kept: list[Record | threading.Event] = []
            for item in items:
                if (
                    removed < chunk
                    and type(item) is tuple
                    and item[1] == level
                    and self._sheddable(item)
                ):
                    removed += 1
                    self._count_drop_locked("shed_by_level", level)
                else:
                    kept.append(item)
            queue.extendleft(reversed(kept))
        finally:
            self.room = room
        return removed

    def _put_sync(self, record: Record) -> None:
        """Sync mode: the caller runs the pipeline. A sink that logs is queued, not recursed."""
        with self._work_lock:
            if self._sync_depth:
                self._sync_pending.append(record)
                return
            self._sync_depth = 1
            try:
                batch: list[Record] = [record]
                while True:
                    count = self._inflight = len(batch)
                    self._pipeline.process(batch, self._counters)
                    self._processed += count
                    self._inflight = 0
                    if not self._sync_pending:
                        # No worker runs the timers in sync mode: the caller does, every
                        # _IDLE_WAIT seconds, so a sink failure or a rotation is reported
                        # as it happens, not at exit.
                        now = time.monotonic()
                        if self._sync and not self._closed and now >= self._sync_duties_due:
                            self._sync_duties_due = now + _IDLE_WAIT
                            self._sync_pending.extend(self._duties())
                    if not self._sync_pending:  # what a sink logged meanwhile, if anything
                        break
                    batch, self._sync_pending = self._sync_pending, []
            finally:
                self._sync_depth = 0

    # -- the worker ----------------------------------------------------------------

    def _start_worker(self) -> None:
        self._stopping = False
        worker = threading.Thread(target=self._run, name="tapelog-worker", daemon=True)
        self._worker = worker
        worker.start()

    def _run(self) -> None:
        self._worker_ident = get_ident()
        queue = self._queue
        wake = self._wake
        monotonic = time.monotonic
        duties_due = lingering_until = nap_cap = 0.0
        nap = _NAP
        while True:
            if queue:
                self._drain_once(queue)
                # No nap outlasts half the time a burst takes to fill the queue; a queue
                # too small for even the first nap gets none: callers wake the worker.
                nap_cap = min(_NAP_MAX, self._maxsize * _FILL_TIME / 2)
                linger = _LINGER if nap_cap >= _NAP else 0.0
                lingering_until = monotonic() + linger
                nap = _NAP
            elif self._stopping:
                return
            elif monotonic() < lingering_until:
                # Busy a moment ago: look again soon without announcing idleness, so that
                # callers append without waking us while entries keep coming (a wake
                # costs the caller a system call, several times the rest of a call). The
                # naps lengthen while nothing comes; flush() and shutdown() cut one short.
                if wake.wait(nap):
                    wake.clear()
                nap = min(nap + nap, nap_cap)
            else:
                # Announce idleness, then re-check: a put that missed the flag appended
                # before this check, and a later one sees the flag and sets the event.
                wake.clear()
                self.idle = True
                if not queue and not self._stopping:
                    wake.wait(_IDLE_WAIT)
                self.idle = False
            # The timers (drop reports, sink failures, rotation, housekeeping) run every
            # _IDLE_WAIT seconds, busy or idle: under a sustained overload the queue never
            # empties, and a wake per entry must not pay for them each time.
            now = monotonic()
            if now >= duties_due:
                duties_due = now + _IDLE_WAIT
                self._periodic()

    def _drain_once(self, queue: deque[Record | threading.Event]) -> None:
        """Run a batch (whatever is queued, up to ``batch_size``) through the pipeline."""
        popleft = queue.popleft
        # Under the lock, so that a drop_oldest caller (who pops too) cannot empty the
        # queue under this loop. Appending callers take no lock and only lengthen it.
        with self._lock:
            depth = len(queue)
            # Read after the depth: a flush counts its marker before appending it, so a
            # marker among the first ``depth`` items was counted before this read.
            markers_queued = self._markers_put != self._markers_taken
            take = min(depth, self._batch_size)
            items = [popleft() for _ in repeat(None, take)]
            self._drains += 1
        self._high_water = max(self._high_water, min(depth, self._maxsize))
        markers: list[threading.Event] = []
        if markers_queued:
            records: list[Record] = []
            for item in items:
                if isinstance(item, threading.Event):
                    markers.append(item)
                else:
                    records.append(item)
            self._markers_taken += len(markers)
        else:
            records = cast("list[Record]", items)
        with self._work_lock:
            pipeline = self._pipeline
            if records:
                self._inflight = len(records)
                try:
                    pipeline.process(records, self._counters)
                except BaseException as exc:  # pragma: no cover - process() isolates its parts
                    _last_resort(exc)
                self._processed += len(records)
                self._inflight = 0
            if markers:
                _safe(pipeline.flush)
        for marker in markers:
            marker.set()
        if self._waiters:
            with self._lock:
                self._not_full.notify_all()

    def _periodic(self) -> None:
        """Idle-time duties: the drop report and the pipeline's timers."""
        self._queue.extend(self._duties())

    def _duties(self) -> list[Record]:
        """Run the pipeline's timers; return what they and the drop counters report."""
        internal = list(_safe_records(self._pipeline.periodic))
        report = self._drop_report()
        if report is not None:
            internal.append(report)
        return internal

    def _drop_report(self, *, force: bool = False) -> Record | None:
        """Build a ``tapelog.dropped`` record when drops happened since the last one."""
        now = time.monotonic()
        if not force and now - self._last_report < _REPORT_INTERVAL:
            return None
        with self._lock:
            current = dict(self._dropped)
            levels = dict(self._dropped_levels)
        since = _since(current, self._reported)
        if not since:
            return None
        by_level = _since(levels, self._reported_levels)
        self._reported = current
        self._reported_levels = levels
        self._last_report = now
        fields: dict[str, object] = {
            "event": "tapelog.dropped",
            "dropped": since,
            "dropped_by_level": by_level,
            "dropped_total": sum(current.values()),
            "queue_size": self._maxsize,
            "overflow": self._policy,
        }
        message = f"{sum(since.values())} entries dropped: the queue was full"
        return make_record(WARNING, message, fields, logger=_INTERNAL_LOGGER)

    # -- flush, shutdown, stats ----------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put before this call is written; see ``tapelog.flush``.

        Two steps: the worker hands everything queued before the call to the sinks (a
        flush marker), then this thread waits for network sinks to deliver it. The second
        wait happens here, not on the worker, so a destination that is down delays only
        the flushing caller.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._hand_over(timeout):
            return False
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        return self._pipeline.wait_delivered(remaining)

    def _hand_over(self, timeout: float | None) -> bool:
        """Wait until the worker has given every earlier record to the sinks."""
        worker = self._worker
        if self._sync or self._closed or worker is None or not worker.is_alive():
            if self._queue and not self._sync and not self._closed:
                # The worker died or never started although records wait: restart it.
                with self._lock:
                    self._worker = None
                    self._start_worker()
                    self._bind_put()
                return self._hand_over(timeout)
            with self._work_lock:
                _safe(self._pipeline.flush)
            return True
        if get_ident() == self._worker_ident:
            return False  # the worker cannot wait for itself
        report = self._drop_report(force=True)
        if report is not None:
            self._queue.append(report)
        marker = threading.Event()
        self._markers_put += 1  # before the append: see _drain_once
        self._queue.append(marker)
        self._wake.set()
        return marker.wait(timeout)

    def shutdown(self, timeout: float | None = None) -> bool:
        """Drain, stop the worker and close the sinks; later calls write synchronously.

        With a ``timeout``, the whole shutdown ends within it (plus what the sinks without
        a thread of their own take to write a last batch): a network sink still busy when
        it runs out spools or counts what it holds (see ``BackgroundSink.close``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout

        def remaining() -> float | None:
            return None if deadline is None else max(0.0, deadline - time.monotonic())

        drained = self.flush(timeout)
        worker = self._worker
        self._stopping = True
        self._wake.set()
        if worker is not None and worker is not threading.current_thread():
            worker.join(remaining())
        with self._lock:
            self._closed = True
            self._worker = None
            self._bind_put()
        left = remaining()
        if not self._work_lock.acquire(timeout=-1 if left is None else left):
            # The worker is stuck in a sink's write past the deadline: what is queued stays
            # counted in queue_depth (emitted = processed + in flight + queued + dropped).
            return False
        try:
            leftovers = [r for r in self._queue if not isinstance(r, threading.Event)]
            self._markers_taken += len(self._queue) - len(leftovers)
            self._queue.clear()
            # A last round of timed duties, so their reports (a rotation, the last drops)
            # are written before the sinks close.
            pipeline = self._pipeline
            leftovers.extend(_safe_records(pipeline.periodic))
            # Failures of the last seconds, which the rate limit held back: written now.
            final_reports = getattr(pipeline, "final_reports", None)
            if final_reports is not None:
                leftovers.extend(_safe_records(final_reports))
            report = self._drop_report(force=True)
            if report is not None:
                leftovers.append(report)
            if leftovers:
                self._put_sync_many(leftovers)
            _safe(pipeline.flush)
            if final_reports is not None:
                # Network sinks close first: what they give up while closing (a receiver
                # that never answered) is reported to the sinks still open, which close last.
                pipeline.close(timeout=remaining(), delivering_only=True)
                last = list(_safe_records(lambda: final_reports(local_only=True)))
                if last:
                    self._put_sync_many(last)
                    _safe(pipeline.flush)
            pipeline.close(timeout=remaining())
        finally:
            self._work_lock.release()
        return drained

    def reset_counters(self) -> None:
        """Zero every counter. For tests; call only at a quiet moment (after ``flush``)."""
        with self._lock:
            self._processed = 0
            self._high_water = 0
            self._dropped = dict.fromkeys(self._dropped, 0)
            self._reported = dict(self._dropped)
            self._dropped_levels = {}
            self._reported_levels = {}
            self._last_report = 0.0  # the next drops start a new report period
            self._counters.clear()

    def _put_sync_many(self, records: list[Record]) -> None:
        self._pipeline.process(records, self._counters)
        self._processed += len(records)

    def reopen(self) -> None:
        """Undo ``shutdown``: the next call starts a worker again."""
        with self._lock:
            self._closed = False
            self._bind_put()

    def _at_exit(self) -> None:
        if not self._closed:
            self.shutdown(timeout=_EXIT_WAIT)

    # -- multiprocessing children --------------------------------------------------
    #
    # A child started by multiprocessing with fork or forkserver ends with os._exit(): the
    # interpreter's exit, and with it our atexit drain, never runs there. What it does run
    # is multiprocessing's own exit: the finalizers registered with multiprocessing.util.
    # But a child's bootstrap clears the finalizers it inherited (or that were registered
    # while it was being set up), then runs the "after fork" callbacks. So we register an
    # after-fork callback once per process that has multiprocessing loaded (inherited by
    # every child), and it registers the drain as a finalizer in each child; a child that
    # imports tapelog inside its target registers the finalizer directly.

    def _arm_multiprocessing(self) -> None:
        """Make multiprocessing children drain at their end (see the comment above)."""
        util = sys.modules.get("multiprocessing.util")
        if util is None:
            return  # not loaded: checked again before every fork
        if not self._after_forker_registered:
            self._after_forker_registered = True
            util.register_after_fork(self, Dispatcher._arm_exit_drain)
        process = sys.modules.get("multiprocessing.process")
        if process is not None and process.parent_process() is not None:
            self._arm_exit_drain()  # already inside a child's target

    def _arm_exit_drain(self) -> None:
        """Register the drain as a multiprocessing finalizer, once per process."""
        util = sys.modules.get("multiprocessing.util")
        if util is None:
            return
        current = cast("Any", self._exit_drain)
        if current is not None and current.still_active():
            return
        self._exit_drain = util.Finalize(None, self._at_exit, exitpriority=_EXIT_PRIORITY)

    def stats(self) -> Stats:
        """A snapshot of the counters; exact at a quiet moment."""
        with self._lock:
            dropped = dict(self._dropped)
            by_level = dict(self._dropped_levels)
        processed = self._processed
        inflight = self._inflight
        depth = sum(1 for item in tuple(self._queue) if not isinstance(item, threading.Event))
        total_dropped = sum(dropped.values())
        return Stats(
            emitted=processed + inflight + depth + total_dropped,
            dropped_overflow=total_dropped,
            processed=processed,
            queue_depth=depth,
            queue_high_water=min(max(self._high_water, depth), self._maxsize),
            sinks=MappingProxyType({n: c.snapshot() for n, c in self._counters.items()}),
            dropped_by_reason=MappingProxyType(dropped),
            dropped_by_level=MappingProxyType(by_level),
        )

    # -- fork ----------------------------------------------------------------------

    def _before_fork(self) -> None:
        self._arm_multiprocessing()  # multiprocessing may have been imported after us
        # Let the batch being written finish, so the child does not inherit a sink
        # mid-write (bounded: a hung network sink must not hang fork()).
        self._fork_held = self._work_lock.acquire(timeout=_FORK_WAIT)
        self._lock.acquire()

    def _after_fork_in_parent(self) -> None:
        self._lock.release()
        if self._fork_held:
            self._work_lock.release()

    def _after_fork_in_child(self) -> None:
        self._worker = None
        self._reset()
        _safe(self._pipeline.after_fork)


def _since(current: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """The counts that grew since ``before``, by how much."""
    return {k: n - before.get(k, 0) for k, n in current.items() if n > before.get(k, 0)}


def _safe(func: Callable[[], object]) -> None:
    try:
        func()
    except Exception as exc:
        _last_resort(exc)


def _safe_records(func: Callable[[], Sequence[Record]]) -> Sequence[Record]:
    try:
        return func()
    except Exception as exc:
        _last_resort(exc)
        return ()


def _last_resort(exc: BaseException) -> None:
    """Report a failure that has nowhere else to go, without raising."""
    stream = sys.__stderr__
    if stream is not None:
        with contextlib.suppress(Exception):  # nothing is left to report to
            stream.write(f"tapelog: internal error: {type(exc).__name__}: {exc}\n")
