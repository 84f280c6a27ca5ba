"""Helpers for testing code that logs with tapelog.

Example:
    >>> import tapelog
    >>> from tapelog.testing import capture
    >>> with capture() as entries:
    ...     tapelog.get_logger("shop").info("order placed", password="hunter2")
    >>> entries[0]["message"], entries[0]["password"]
    ('order placed', '[REDACTED]')
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from typing import TYPE_CHECKING, cast

from tapelog._capture import CapturingSink
from tapelog._runtime import RUNTIME as _RUNTIME
from tapelog._stats import SinkCounters as _SinkCounters
from tapelog.sinks._base import lifecycle as _lifecycle


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    from tapelog.typing import EventDict, Sink


__all__ = ["CapturingSink", "capture", "check_sink"]

_SAMPLE_ENTRIES: list[EventDict] = [
    {
        "timestamp": "2026-11-23T07:01:02.123456Z",
        "level": "info",
        "logger": "check.sink",
        "message": "order placed",
        "seq": 1,
        "symbol": "BTC-USD",
        "qty": "1.5",
    },
    {
        "timestamp": "2026-11-23T07:01:02.123457Z",
        "level": "error",
        "logger": "check.sink",
        "message": "Zürich 東京 🚀 line\nbreak",
        "seq": 2,
        "nested": {"list": [1, 2.5, None, True], "empty": {}},
        "error": {
            "type": "ValueError",
            "message": "bad",
            "stack_trace": "Traceback\nValueError: bad\n",
        },
    },
]


_CHILD_ENTRY: EventDict = {
    "timestamp": "2026-11-23T07:01:03.000001Z",
    "level": "info",
    "logger": "check.sink",
    "message": "written by a forked child, after after_fork()",
    "seq": 3,
}
_AFTER_FORK_ENTRY: EventDict = {
    "timestamp": "2026-11-23T07:01:04.000001Z",
    "level": "info",
    "logger": "check.sink",
    "message": "parent, after the fork",
    "seq": 4,
}


def capture(level: int | str | None = None) -> AbstractContextManager[list[EventDict]]:
    """Collect the entries logged inside the ``with`` block as dicts, instead of writing them.

    Entries are built exactly as for a real sink (redaction applied, values converted)
    and appended synchronously, so they can be inspected inside the block.

    Args:
        level: a temporary global level for the block (default: the configured levels).
    """
    return _RUNTIME.captures.capturing(level)


def check_sink(
    sink: Sink,
    read_back: Callable[[], Sequence[EventDict]] | None = None,
    *,
    timeout: float = 10.0,
) -> None:
    """Check that a sink keeps tapelog's sink contract; for authors of third-party sinks.

    The sink is driven through its whole life as the pipeline drives it (see
    :class:`tapelog.sinks.BaseSink`): it has a ``name``; ``set_fallback`` and, for a sink
    that ``delivers_itself``, ``bind_counters`` are accepted; ``write_batch`` takes an
    empty batch and a batch of varied entries (non-ASCII text, nested values, an error);
    ``periodic`` returns ``(level, message, fields)`` tuples and ``take_failures`` nothing
    or ``(count, reason)``; ``request_flush`` and ``flush`` work and ``wait_delivered``
    returns True within ``timeout``; where processes fork (POSIX), a real forked child
    runs ``after_fork`` as tapelog's fork handler does, then writes and closes, and the
    parent's sink still writes afterwards; ``close`` works, and twice is harmless. With
    ``read_back`` (returning what reached the destination, parsed), the entries must come
    back complete and in order, and none may have gone to the fallback; after the fork,
    the child's entry may be there (one destination) or not (one per process, as in
    memory), and the parent's follows. ``read_back`` runs in the parent only.

    Raises:
        AssertionError: naming the rule the sink broke.
    """
    name = cast("object", getattr(sink, "name", None))
    if not isinstance(name, str) or not name:
        _broken(f"a sink has a non-empty str name, got {name!r}")
    hooks = _lifecycle(sink)
    given_up: list[EventDict] = []
    hooks.set_fallback(given_up.extend)
    counters = _SinkCounters()
    if hooks.delivers_itself:
        hooks.bind_counters(counters)
    sink.write_batch([])
    sink.write_batch(_SAMPLE_ENTRIES)
    for event in hooks.periodic():
        level, message, fields = cast("tuple[object, object, object]", event)
        if not (isinstance(level, int) and isinstance(message, str) and isinstance(fields, dict)):
            _broken(f"periodic() returns (level, message, fields) tuples, got {event!r}")
    taken = cast("object", hooks.take_failures())
    if taken is not None and not (
        isinstance(taken, tuple) and len(cast("tuple[object, ...]", taken)) == 2  # noqa: PLR2004
    ):
        _broken(f"take_failures() returns None or (count, reason), got {taken!r}")
    _settle(sink, timeout)
    if read_back is not None:
        received = list(read_back())
        if received != _SAMPLE_ENTRIES:
            _broken(f"what was written comes back complete and in order: got {received!r}")
        if given_up:
            _broken(f"a sink that delivered gives nothing to its fallback: got {given_up!r}")
        if hooks.delivers_itself and counters.written != len(_SAMPLE_ENTRIES):
            _broken(f"a sink that delivers itself counts what it wrote: {counters.written}")
    if hasattr(os, "fork"):  # tapelog runs after_fork only where processes fork (POSIX)
        _check_fork(sink, read_back, given_up, timeout)
    sink.close()
    sink.close()


def _check_fork(
    sink: Sink,
    read_back: Callable[[], Sequence[EventDict]] | None,
    given_up: list[EventDict],
    timeout: float,
) -> None:
    """Fork as an application would, and check both sides.

    The child runs ``after_fork`` as tapelog's fork handler does, then writes; the parent's
    sink must still write afterwards.
    """
    hooks = _lifecycle(sink)
    before = list(_SAMPLE_ENTRIES)
    report_r, report_w = os.pipe()
    with warnings.catch_warnings():
        # Forking a process with threads is what this checks; the warning is no news.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's lines are not measured (it _exits)
        os.close(report_r)
        problem = ""
        try:
            hooks.after_fork()
            kept = len(given_up)
            _deliver(sink, [_CHILD_ENTRY], timeout)
            # Not read back here: a destination may live in the parent's memory (a test
            # server's list), which the child sees only as it was at the fork.
            failed = hooks.take_failures()
            if (failed is not None and failed[0]) or len(given_up) > kept:
                problem = (
                    "after after_fork() in a forked child, the sink delivers the child's"
                    f" batch: failures {failed!r}, given to the fallback {given_up[kept:]!r}"
                )
            sink.close()
        except BaseException as exc:  # every failure goes to the parent
            problem = f"after_fork() and a batch in a forked child work: {exc!r}"
        os.write(report_w, problem.encode("utf-8", "backslashreplace"))
        os._exit(1 if problem else 0)
    os.close(report_w)
    try:
        _wait_child(pid, timeout)
        report = b""
        while chunk := os.read(report_r, 65536):
            report += chunk
    finally:
        os.close(report_r)
    if report:
        _broken(report.decode("utf-8"))
    _deliver(sink, [_AFTER_FORK_ENTRY], timeout)
    if read_back is not None:
        received = list(read_back())
        shared = [*before, _CHILD_ENTRY, _AFTER_FORK_ENTRY]  # one destination for both
        separate = [*before, _AFTER_FORK_ENTRY]  # a destination each (memory, say)
        if received not in (shared, separate):
            _broken(
                "after a fork, the parent's sink still writes, after what was there:"
                f" got {received!r}"
            )


def _deliver(sink: Sink, entries: Sequence[EventDict], timeout: float) -> None:
    sink.write_batch(entries)
    _settle(sink, timeout)


def _settle(sink: Sink, timeout: float) -> None:
    """Flush as ``tapelog.flush()`` does: request it, wait for delivery, then flush."""
    hooks = _lifecycle(sink)
    hooks.request_flush()
    if not hooks.wait_delivered(timeout):
        _broken(f"wait_delivered() returns True once the batch is delivered ({timeout} s)")
    sink.flush()


def _wait_child(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            _broken(f"a forked child that ran after_fork() finishes its batch ({timeout} s)")
        time.sleep(0.01)


def _broken(rule: str) -> None:
    # Raised explicitly rather than with assert, which python -O would strip.
    raise AssertionError(rule)
