"""What every sink shares: the lifecycle contract, and rendering a batch safely.

:class:`BaseSink` states, once, every call tapelog makes to a sink, each under one name,
with a default that does nothing. The pipeline calls these and nothing else: a sink that
subclasses ``BaseSink`` overrides the hooks it needs; a sink that only satisfies
:class:`tapelog.typing.Sink` (``name``, ``write_batch``, ``flush``, ``close``) gets the
defaults through :func:`lifecycle`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, TypeAlias, cast, final


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tapelog._stats import SinkCounters
    from tapelog.typing import EventDict, Formatter, Sink


__all__ = ["BaseSink", "BuildEntries", "SinkEvent", "lifecycle", "render_batch"]

SinkEvent: TypeAlias = tuple[int, str, "dict[str, object]"]
"""An entry a sink asks tapelog to log: ``(level number, message, fields)``."""

BuildEntries: TypeAlias = "Callable[[Iterable[SinkEvent]], list[EventDict]]"
"""Builds entries from a sink's own events the way every entry is built (seq, redaction)."""


class BaseSink:
    """The sink contract: every call tapelog makes to a sink, with do-nothing defaults.

    Documented as a base: subclass it and override ``write_batch`` and the hooks you need.
    Every method runs on tapelog's worker thread unless it says otherwise; none runs on a
    thread that logs. The calls, in the order of a sink's life:

    - built by its factory (see :func:`tapelog.sinks.register_sink`), then
      ``set_fallback`` once if the configuration names a fallback, and ``bind_counters``
      before the first batch if the sink ``delivers_itself``;
    - ``write_batch`` for each batch, ``periodic`` and ``take_failures`` about every
      0.25 s, ``request_flush`` at each ``tapelog.flush()`` (then ``wait_delivered`` on
      the thread that called ``flush``);
    - ``set_entry_builder`` with each new configuration, for a sink that must write its
      own events itself (at close, after the last ``periodic``);
    - ``after_fork`` in a forked child, before the child's first batch;
    - ``close`` once, when a new configuration drops the sink or at shutdown.

    Attributes:
        name: the sink's name, as in ``stats().sinks`` and in failure reports.
        delivers_itself: True for a sink that delivers on a thread of its own and counts
            what it wrote, retried, spooled and failed into the counters it is bound to;
            tapelog then counts only what it filtered and sampled out.
    """

    name: str
    delivers_itself: ClassVar[bool] = False

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Write a batch of entries, in order, ideally with one system call.

        The entries are shared with the other sinks: read them, never change them (keeping
        the sequence is fine). Raising counts the batch as failed for this sink and hands
        it to the fallback sink, if one is configured; the other sinks are not affected.
        """
        raise NotImplementedError

    def flush(self) -> None:
        """Push anything buffered to its destination."""

    def close(self, timeout: float | None = None) -> None:
        """Flush and release resources; a second call does nothing.

        Args:
            timeout: at shutdown with a bound, the seconds left for a sink that waits on a
                destination (None: its own bound). A sink that cannot deliver in time
                accounts for what it holds (spooled or counted failed), never loses it.
        """

    def periodic(self) -> Iterable[SinkEvent]:
        """Run timers (time-based rotation, housekeeping); return entries to log about it."""
        return ()

    def take_failures(self) -> tuple[int, str] | None:
        """Failures on the sink's own thread since the last call, as ``(entries, reason)``."""
        return None

    def request_flush(self) -> None:
        """Start pushing out what is buffered, without waiting for a slow destination.

        The default flushes. A sink that delivers on its own thread only asks it here, and
        waits in ``wait_delivered``.
        """
        self.flush()

    def wait_delivered(self, timeout: float | None) -> bool:
        """Wait until what was requested is delivered; runs on the thread calling flush().

        Returns:
            True if everything was dealt with within ``timeout`` seconds (None: no limit).
        """
        del timeout
        return True

    def bind_counters(self, counters: SinkCounters) -> None:
        """Count into ``counters`` from now on (only if ``delivers_itself``)."""

    def set_fallback(self, fallback: Callable[[Sequence[EventDict]], None]) -> None:
        """Where entries go that the sink gives up on later, on its own thread."""

    def set_entry_builder(self, build: BuildEntries) -> None:
        """How to build entries from the sink's own events, should it write them itself.

        Events are normally returned by ``periodic`` and logged like any entry. A sink
        whose ``close`` produces more (a compression finishing) writes them with ``build``,
        so they get a ``seq`` and redaction like every other entry.
        """

    def after_fork(self) -> None:
        """In a forked child: drop what the child must not share (threads, sockets)."""

    def json_lines_writer(self) -> Callable[[bytes | bytearray], None] | None:
        """Where to append a batch the pipeline rendered as JSON lines itself, or None.

        Asked with each configuration. A sink that would only render its entries as
        tapelog's JSON lines and append them may return the function that appends the
        bytes; when it is the only sink, with no filter, sampling or fallback, the pipeline
        then renders the lines without building entries and calls that function instead
        of ``write_batch`` (same bytes, same failures: raise as ``write_batch`` would).
        """
        return None


@final
class _Plain(BaseSink):
    """The lifecycle of a sink that satisfies only ``tapelog.typing.Sink``."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.name = sink.name

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        self.sink.write_batch(entries)

    def flush(self) -> None:
        self.sink.flush()

    def close(self, timeout: float | None = None) -> None:
        del timeout  # a plain Sink's close takes no bound
        self.sink.close()


def lifecycle(sink: Sink) -> BaseSink:
    """The sink itself if it is a :class:`BaseSink`, else its calls with the defaults."""
    return sink if isinstance(sink, BaseSink) else _Plain(sink)


def _fallback_line(entry: EventDict, exc: BaseException) -> bytes:
    """A valid JSON line that keeps the required keys when a formatter failed."""
    safe = {
        "timestamp": str(entry.get("timestamp", "")),
        "level": str(entry.get("level", "error")),
        "logger": str(entry.get("logger", "tapelog")),
        "message": str(entry.get("message", "")),
        "tapelog_format_error": f"{type(exc).__name__}: {exc}",
    }
    import orjson  # on first use: orjson imports json, uuid and datetime

    return orjson.dumps(safe) + b"\n"


def render_batch(formatter: Formatter, entries: Sequence[EventDict]) -> bytes | bytearray:
    """Format every entry and join the lines.

    A formatter with a ``batch(entries)`` method (``JsonFormat``) renders the whole batch
    in one call. An entry that cannot be formatted still gives one valid line naming the
    error. The result may be a ``bytearray``: copying a large batch into ``bytes`` measured
    as costly as encoding it (the copy is a fresh allocation, page faults included).
    """
    batch = getattr(formatter, "batch", None)
    if callable(batch):
        try:
            return cast("bytes | bytearray", batch(entries))
        except Exception:  # noqa: S110 - fall back to one entry at a time, isolating the bad one
            pass
    # One growing buffer: each line's bytes object is freed at once (measured faster than
    # keeping a list of them to join).
    buffer = bytearray()
    for entry in entries:
        try:
            buffer += formatter(entry)
        except Exception as exc:
            buffer += _fallback_line(entry, exc)
    return buffer
