"""The pipeline: the entry builder and the sinks as one frozen, swappable unit.

``build_pipeline`` turns a validated ``Config`` into a ``Pipeline``. Building may fail
(a sink that cannot be created); it has no side effects on the running one, so a failed
``configure()`` leaves logging as it was. Sinks whose settings did not change are taken
over from the previous pipeline, so a reconfiguration neither reopens a file nor drops
a connection.
"""

from __future__ import annotations

import contextlib
import operator
import sys
import time
from typing import TYPE_CHECKING, Any, Final, final

from tapelog._entry import EntryBuilder
from tapelog._event import LEVEL, META, OPTIONAL_FIELDS, make_record
from tapelog._levels import ERROR
from tapelog._logger import name_under
from tapelog._stats import SinkCounters
from tapelog.exceptions import SinkError
from tapelog.formats._console import should_color
from tapelog.formats._registry import get_formatter
from tapelog.processors._fields import FieldSelector
from tapelog.processors._redact import Redactor
from tapelog.processors._sample import Sampler
from tapelog.sinks._base import lifecycle
from tapelog.sinks._registry import build_sink


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tapelog._event import AnyRecord, Record
    from tapelog.config._model import Config, SinkConfig
    from tapelog.sinks._base import SinkEvent
    from tapelog.typing import EventDict, Sink


__all__ = ["Pipeline", "SinkSlot", "build_pipeline"]

_FAILURE_REPORT_INTERVAL: Final = 5.0


@final
class SinkSlot:
    """A sink with what decides which entries reach it.

    ``sink`` is the object the factory built (its ``write_batch`` is called directly, the
    hot path); every other call goes through ``lifecycle``, the sink's
    :class:`~tapelog.sinks.BaseSink` contract (the sink itself, or its defaults).
    """

    __slots__ = (
        "accepts",
        "bound_counters",
        "config",
        "delivers_itself",
        "fallback",
        "format_choice",
        "level",
        "lifecycle",
        "name",
        "sampler",
        "sink",
    )

    def __init__(
        self,
        sink: Sink,
        config: SinkConfig,
        level: int,
        accepts: Callable[[EventDict], bool] | None = None,
        sampler: Sampler | None = None,
    ) -> None:
        self.sink = sink
        self.config = config
        self.name = config.name
        self.level = level
        self.accepts = accepts
        self.sampler = sampler
        self.fallback: SinkSlot | None = None
        self.format_choice: tuple[str, bool] = ("json", False)
        self.lifecycle = lifecycle(sink)
        # A sink that delivers on its own thread (network sinks) counts ``written``,
        # ``retried``, ``spooled`` and ``failed`` itself, into the counters bound here.
        self.delivers_itself = self.lifecycle.delivers_itself
        self.bound_counters: SinkCounters | None = None


@final
class Pipeline:
    """Builds entries from records and hands them to each sink that wants them.

    Used by one thread at a time (the dispatcher holds its work lock), so its state
    needs no locks of its own.
    """

    def __init__(
        self, builder: EntryBuilder, slots: Sequence[SinkSlot], config: Config | None = None
    ) -> None:
        self.builder = builder
        self.slots = tuple(slots)
        self.config = config
        self._failures: dict[str, tuple[int, str]] = {}
        self._counters: dict[str, SinkCounters] = {}
        self._failed_at: dict[str, float] = {}
        self._last_failure_report: dict[str, float] = {}
        audited = tuple(slot for slot in self.slots if slot.config.options.get("audit"))
        #: Whether a record is bound for an audited sink (the dispatcher never sheds those);
        #: None when no sink is audited.
        self.must_keep: Callable[[AnyRecord], bool] | None = (
            _audited_filter(audited) if audited else None
        )
        self._closed: set[int] = set()  # ids of sinks closed already (see close)
        #: The one sink that takes JSON lines the builder renders without entries, if any,
        #: and its method that takes them.
        self._lines = _lines_slot(builder, self.slots)

    @property
    def sink_names(self) -> tuple[str, ...]:
        """The names of the sinks, in configuration order."""
        return tuple(slot.name for slot in self.slots)

    def process(self, records: Sequence[AnyRecord], counters: dict[str, SinkCounters]) -> None:
        """Build every record once, then offer the batch to every sink. Never raises."""
        self._counters = counters
        # Whether every record passes a sink's level, and whether any record may skip a
        # sink, decided once per batch in C loops rather than once per entry and sink.
        lowest = min(map(_level_of, records), default=0)
        any_meta = any(map(_meta_of, records))
        lines = self._lines
        if lines is not None and lines[0].level <= lowest and not any_meta:
            self._hand_lines(lines[0], lines[1], records)
            return
        entries = self.builder.build_many(records)
        for slot in self.slots:
            counter = _counter_of(slot, counters)
            if (
                slot.level <= lowest
                and not any_meta
                and slot.accepts is None
                and slot.sampler is None
            ):
                self._hand(slot, entries, counter)
            else:
                self._offer(slot, entries, records, counter)

    def _offer(
        self,
        slot: SinkSlot,
        entries: list[EventDict],
        records: Sequence[AnyRecord],
        counter: SinkCounters,
    ) -> None:
        """Pick the entries this sink wants (level, skip, filter, sampling), then hand them."""
        level = slot.level
        accepts = slot.accepts
        sampler = slot.sampler
        chosen: list[EventDict] = []
        sampled_out = 0
        for entry, record in zip(entries, records, strict=True):
            number = record[LEVEL]
            if number < level:
                continue
            meta = record[META]
            if meta is not None and (
                meta.get("skip_sink") == slot.name
                or (slot.delivers_itself and meta.get("local_only"))
            ):
                continue
            if accepts is not None and not accepts(entry):
                continue
            if sampler is not None and not sampler(number, entry):
                sampled_out += 1
                continue
            chosen.append(entry)
        counter.sampled_out += sampled_out
        counter.filtered += len(entries) - len(chosen) - sampled_out
        if chosen:
            self._hand(slot, chosen, counter)

    def _hand(
        self, slot: SinkSlot, chosen: list[EventDict], counter: SinkCounters, depth: int = 0
    ) -> None:
        """Give a sink its entries; a sink that raises has them counted as failed.

        A sink may have written part of the batch before failing (a full disk): its
        ``SinkError.written`` entries, from the start, are counted written, and only the
        rest is counted failed and handed to the fallback.
        """
        try:
            slot.sink.write_batch(chosen)
        except Exception as exc:
            done = _written_before(exc, len(chosen))
            if done and not slot.delivers_itself:
                counter.written += done
            self._give_up(slot, chosen[done:], counter, exc, depth)
        else:
            if not slot.delivers_itself:
                counter.written += len(chosen)

    def _hand_lines(
        self,
        slot: SinkSlot,
        write: Callable[[bytes | bytearray], None],
        records: Sequence[AnyRecord],
    ) -> None:
        """The one JSON file sink takes every record: render the lines, skip the entries."""
        try:
            lines = self.builder.json_lines(records)
        except Exception as exc:
            self._lines_failed(slot, len(records), 0, exc)
        else:
            self._write_lines(slot, write, lines, len(records))

    def _write_lines(
        self,
        slot: SinkSlot,
        write: Callable[[bytes | bytearray], None],
        lines: bytes | bytearray,
        count: int,
    ) -> None:
        """Hand the JSON file sink the rendered lines of ``count`` records; count them."""
        try:
            write(lines)
        except Exception as exc:
            self._lines_failed(slot, count, _written_before(exc, count), exc)
        else:
            _counter_of(slot, self._counters).written += count

    def _lines_failed(self, slot: SinkSlot, count: int, done: int, exc: Exception) -> None:
        counter = _counter_of(slot, self._counters)
        counter.written += done
        counter.failed += count - done
        self.note_failure(slot.name, count - done, exc)

    def _give_up(
        self,
        slot: SinkSlot,
        entries: list[EventDict],
        counter: SinkCounters,
        exc: BaseException,
        depth: int = 0,
    ) -> None:
        """Count entries a sink could not take; hand them to its fallback, if it has one.

        The fallback counts them as ``received``, and then as it counts its own entries:
        ``written`` or, failing, ``failed`` (and on to its own fallback).
        """
        counter.failed += len(entries)
        self.note_failure(slot.name, len(entries), exc)
        fallback = slot.fallback
        if fallback is not None and entries and depth < len(self.slots):
            taker = _counter_of(fallback, self._counters)
            taker.received += len(entries)
            self._hand(fallback, entries, taker, depth + 1)

    def note_failure(self, sink_name: str, count: int, exc: BaseException | str) -> None:
        """Remember a sink failure for the next rate-limited ``tapelog.sink_failed`` report."""
        reason = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        previous, _ = self._failures.get(sink_name, (0, ""))
        self._failures[sink_name] = (previous + count, reason)
        self._failed_at[sink_name] = time.monotonic()

    def periodic(self) -> Sequence[Record]:
        """Run the sinks' timers and report their failures (rate-limited per sink).

        Each sink's ``periodic()`` returns entries to log (rotation and retention events,
        for example) and ``take_failures()`` what failed on its own thread.
        """
        reports: list[Record] = []
        now_ns = time.time_ns()
        for slot in self.slots:
            sink = slot.lifecycle
            try:
                for level, message, fields in sink.periodic():
                    reports.append(make_record(level, message, fields, time_ns=now_ns))
            except Exception as exc:
                self.note_failure(slot.name, 0, exc)
            taken = sink.take_failures()
            if taken is not None:
                self.note_failure(slot.name, taken[0], taken[1])
        if self._failures:
            reports.extend(self._failure_reports(now_ns))
        return reports

    def final_reports(self, *, local_only: bool = False) -> list[Record]:
        """Every failure not reported yet, whatever the rate limit: for a pipeline's end.

        Only failures that cost entries: a failed attempt whose batch is still parked, or
        was delivered since, is not reported at the end. Collects what the sinks' own
        threads recorded (``take_failures``) too. With ``local_only``, the reports skip the
        sinks that deliver on their own thread (closed already at shutdown; counted as
        filtered there).
        """
        for slot in self.slots:
            try:
                taken = slot.lifecycle.take_failures()
            except Exception as exc:
                taken = (0, f"{type(exc).__name__}: {exc}")
            if taken is not None:
                self.note_failure(slot.name, taken[0], taken[1])
        return self._failure_reports(time.time_ns(), force=True, local_only=local_only)

    def _failure_reports(
        self, now_ns: int, *, force: bool = False, local_only: bool = False
    ) -> list[Record]:
        now = time.monotonic()
        reports: list[Record] = []
        for name, (count, error) in list(self._failures.items()):
            if (
                not force
                and now - self._last_failure_report.get(name, -_FAILURE_REPORT_INTERVAL)
                < _FAILURE_REPORT_INTERVAL
            ):
                continue
            self._last_failure_report[name] = now
            del self._failures[name]
            if force and not count:
                continue  # at the end, an attempt that failed without losing an entry is noise
            fields: dict[str, object] = {
                "event": "tapelog.sink_failed",
                "sink": name,
                "failed": count,
                "reason": error,
            }
            meta: dict[str, object] = {"skip_sink": name}
            if local_only:
                meta["local_only"] = True
            message = f"sink {name!r} failed"
            reports.append(make_record(ERROR, message, fields, meta=meta, time_ns=now_ns))
            if not self._healthy_sink_for(name, fields, now):
                _tell_stderr(f"{message} ({count} entries given up): {error}")
        return reports

    def _healthy_sink_for(self, failing: str, fields: dict[str, object], now: float) -> bool:
        """Whether a sink other than ``failing`` would record its ``sink_failed`` report.

        One that takes error entries from logger ``tapelog``, and has not failed itself in
        the last report interval (nor has failures waiting to be reported).
        """
        entry: dict[str, object] = {"logger": "tapelog", "level": "error", **fields}
        for slot in self.slots:
            if slot.name == failing or slot.level > ERROR or slot.name in self._failures:
                continue
            last = self._failed_at.get(slot.name)
            if last is not None and now - last < _FAILURE_REPORT_INTERVAL:
                continue
            if slot.accepts is not None and not slot.accepts(entry):
                continue
            return True
        return False

    def flush(self) -> None:
        """Flush every sink; one failing does not stop the others.

        Runs on the worker: a network sink is only asked to flush (``request_flush``), and
        the waiting for its delivery happens in ``wait_delivered`` on the caller's thread.
        """
        for slot in self.slots:
            try:
                slot.lifecycle.request_flush()
            except Exception as exc:
                count, _ = self._failures.get(slot.name, (0, ""))
                self._failures[slot.name] = (count, f"{type(exc).__name__}: {exc}")

    def wait_delivered(self, timeout: float | None) -> bool:
        """Wait until the network sinks delivered (or spooled, or gave up) what they hold.

        Runs on the thread that called ``tapelog.flush()``, never on the worker, so a
        destination that is down delays that caller only, not the other sinks.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = True
        for slot in self.slots:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                delivered = slot.lifecycle.wait_delivered(remaining) and delivered
            except Exception:
                delivered = False
        return delivered

    def close(
        self,
        keep: object | None = None,
        timeout: float | None = None,
        *,
        delivering_only: bool = False,
    ) -> None:
        """Close every sink that ``keep`` (the next pipeline) does not use.

        ``timeout`` bounds the whole close for the sinks that deliver on their own thread
        (they take a ``timeout``); None leaves each its own bound. ``delivering_only``
        closes those sinks only, so the others can still write the last reports of
        failures that closing them caused; a later ``close`` skips what is closed.
        """
        kept = {id(slot.sink) for slot in keep.slots} if isinstance(keep, Pipeline) else set[int]()
        deadline = None if timeout is None else time.monotonic() + timeout
        for slot in self.slots:
            if id(slot.sink) in kept or id(slot.sink) in self._closed:
                continue
            if delivering_only and not slot.delivers_itself:
                continue
            self._closed.add(id(slot.sink))
            try:
                if deadline is not None:
                    slot.lifecycle.close(timeout=max(0.0, deadline - time.monotonic()))
                else:
                    slot.sink.close()
            except Exception:  # noqa: S112 - closing is best effort; the sink is going away
                continue

    def after_fork(self) -> None:
        """Reset per-process state in the sinks and the builder."""
        self.builder.after_fork()
        for slot in self.slots:
            slot.lifecycle.after_fork()


def _tell_stderr(text: str) -> None:
    """Say on stderr what no sink can record (rate-limited by the caller)."""
    stream = sys.stderr or sys.__stderr__
    if stream is not None:
        with contextlib.suppress(Exception):  # nothing is left to report to
            stream.write(f"tapelog: {text}; no other sink can record this\n")
            stream.flush()


def _counter_of(slot: SinkSlot, counters: dict[str, SinkCounters]) -> SinkCounters:
    """A sink's counters, made on first use.

    A sink that delivers on its own thread is bound to them, so that it counts into the
    pipeline's counters.
    """
    counter = counters.get(slot.name)
    if counter is None:
        counter = counters[slot.name] = SinkCounters()
    if slot.delivers_itself and slot.bound_counters is not counter:
        slot.lifecycle.bind_counters(counter)
        slot.bound_counters = counter
    return counter


def _written_before(exc: Exception, count: int) -> int:
    """How many of ``count`` entries a sink wrote, from the start, before raising ``exc``.

    A ``SinkError``'s ``written``, kept within 0 and ``count``; 0 for any other error.
    """
    done = getattr(exc, "written", 0) if isinstance(exc, SinkError) else 0
    return min(max(done, 0), count)


# C-level accessors of a record's level and meta, for the per-batch checks in ``process``.
_level_of: Callable[[AnyRecord], int] = operator.itemgetter(LEVEL)
_meta_of: Callable[[AnyRecord], object] = operator.itemgetter(META)


def _lines_slot(
    builder: EntryBuilder, slots: tuple[SinkSlot, ...]
) -> tuple[SinkSlot, Callable[[bytes | bytearray], None]] | None:
    """The slot ``Pipeline.process`` may hand JSON lines without building entries.

    Only when it is the only sink, a file sink writing JSON, not audited, with no filter,
    sampling or fallback, and no ``[fields]`` exclude or rename: then the lines are all
    that is asked of the entries.
    """
    if len(slots) != 1 or builder.selector is not None:
        return None
    slot = slots[0]
    if (
        slot.accepts is not None
        or slot.sampler is not None
        or slot.fallback is not None
        or slot.delivers_itself
    ):
        return None
    write = slot.lifecycle.json_lines_writer()
    return None if write is None else (slot, write)


def _own_entries(builder: EntryBuilder) -> Callable[[Iterable[SinkEvent]], list[EventDict]]:
    """Build a sink's own events through the pipeline's builder, as tapelog's entries.

    Called where the pipeline runs (the worker, or under its work lock at close), so the
    builder's state (``seq``) has one user at a time.
    """

    def build(events: Iterable[SinkEvent]) -> list[EventDict]:
        now_ns = time.time_ns()
        return builder.build_many(
            [
                make_record(level, message, fields, time_ns=now_ns)
                for level, message, fields in events
            ]
        )

    return build


def _format_choice(config: Config, sink: SinkConfig) -> tuple[str, bool]:
    """The format name and colour a sink writes with, from its config and the defaults."""
    explicit_default = config.origins.get("format", "default") != "default"
    if sink.format is not None:
        name = sink.format
    elif sink.type == "console" and not explicit_default:
        stream = sys.stdout if sink.options.get("stream") == "stdout" else sys.stderr
        name = "console" if stream is not None and stream.isatty() else "json"
    else:
        name = config.format
    color = False
    if name == "console" and sink.type == "console":
        stream = sys.stdout if sink.options.get("stream") == "stdout" else sys.stderr
        wanted = sink.options.get("color")
        color = bool(wanted) if wanted is not None else should_color(stream)
    return name, color


def _logger_filter(sink: SinkConfig) -> Callable[[EventDict], bool] | None:
    flt = sink.filter
    if flt is None or not (
        flt.loggers or flt.exclude_loggers or flt.components or flt.exclude_components
    ):
        return None
    include = tuple(flt.loggers)
    exclude = tuple(flt.exclude_loggers)
    components = frozenset(flt.components)
    exclude_components = frozenset(flt.exclude_components)

    def accepts(entry: EventDict) -> bool:
        name = str(entry.get("logger", ""))
        if include and not name_under(name, include):
            return False
        if exclude and name_under(name, exclude):
            return False
        component = entry.get("component")
        if components and component not in components:
            return False
        return not (exclude_components and component in exclude_components)

    return accepts


def _audited_filter(slots: tuple[SinkSlot, ...]) -> Callable[[AnyRecord], bool]:
    """Whether a record would reach one of ``slots`` (their level and logger filters)."""

    def must_keep(record: AnyRecord) -> bool:
        fields: Any = record[4]  # a mapping, or pairs made a dict below
        level, name = record[1], record[2]
        for slot in slots:
            if level < slot.level:
                continue
            if slot.accepts is None:
                return True
            if type(fields) is tuple:  # pairs (see tapelog._event.Pairs)
                fields = dict(fields)  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
            probe: EventDict = {"logger": name, "component": fields.get("component")}
            if slot.accepts(probe):
                return True
        return False

    return must_keep


def _slot(sink: Sink, sink_config: SinkConfig, choice: tuple[str, bool]) -> SinkSlot:
    level = sink_config.level if sink_config.level is not None else 0
    sample = sink_config.sample
    sampler = None
    if sample is not None and sample.rate < 1.0:
        sampler = Sampler(sample.rate, frozenset(sample.keep_levels), sample.key)
    slot = SinkSlot(sink, sink_config, level, _logger_filter(sink_config), sampler)
    slot.format_choice = choice
    return slot


def build_pipeline(config: Config, previous: Pipeline | None = None) -> Pipeline:
    """Build a pipeline for ``config``, reusing the unchanged sinks of ``previous``.

    Raises:
        ConfigError: a sink cannot be built (unknown type, a bad option).
    """
    redaction = config.redaction
    redactor: Redactor | None = None
    if redaction.enabled:
        # Redactor raises ConfigError naming the bad pattern's position.
        redactor = Redactor(redaction.keys, redaction.patterns, redaction.replacement)
    fields = config.fields
    selector = (
        FieldSelector(fields.exclude, fields.rename) if fields.exclude or fields.rename else None
    )
    builder = EntryBuilder(
        redactor=redactor,
        include=frozenset(fields.include).intersection(OPTIONAL_FIELDS),
        service=config.service,
        selector=selector,
        seq=previous.builder.seq if previous is not None else None,
    )
    reusable: dict[str, SinkSlot] = {}
    if previous is not None:
        reusable = {slot.name: slot for slot in previous.slots}
    slots: list[SinkSlot] = []
    built: list[Sink] = []
    try:
        for index, sink_config in enumerate(config.sinks):
            choice = _format_choice(config, sink_config)
            old = reusable.get(sink_config.name)
            if old is not None and old.config == sink_config and old.format_choice == choice:
                sink = old.sink  # unchanged: keep its file, connection and spool
            else:
                formatter = get_formatter(choice[0], color=choice[1])
                sink = build_sink(index, sink_config, formatter)
                built.append(sink)
            slots.append(_slot(sink, sink_config, choice))
    except BaseException:
        # Nothing half-built may linger: a network sink may hold a thread or a spool lock.
        for sink in built:
            with contextlib.suppress(Exception):
                sink.close()
        raise
    by_name = {slot.name: slot for slot in slots}
    for slot in slots:
        if slot.config.fallback is not None:
            slot.fallback = by_name[slot.config.fallback]
            slot.lifecycle.set_fallback(slot.fallback.sink.write_batch)
    own_entries = _own_entries(builder)
    for slot in slots:
        slot.lifecycle.set_entry_builder(own_entries)
    return Pipeline(builder, slots, config)
