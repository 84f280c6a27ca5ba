"""``shed_by_level``: under overload the lowest levels go first (hypothesis, model-based).

The worker is held inside a batch (a sink waiting on a gate) while one producer logs a
sequence of levels into a small queue; the entries written afterwards, and the drops
counted by level, must equal what a plain model of the policy predicts, call for call.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

import tapelog
from tapelog._entry import EntryBuilder
from tapelog._levels import DEBUG, ERROR, INFO, LEVEL_NAMES, TRACE, WARNING
from tapelog._pipeline import Pipeline, SinkSlot
from tapelog._runtime import RUNTIME
from tapelog.config._model import QueueConfig, SinkConfig


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tapelog.typing import EventDict

TRADE = -1  # a trade event at level info, in the generated sequences


class GateSink:
    name = "gate"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.entries: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        # Held only by the batch that carries the test's first entry: then the queue is
        # empty when the sequence starts, whatever tapelog had queued of its own before.
        if any(e["logger"] == "gate" for e in entries):
            self.entered.set()
            assert self.gate.wait(30), "the test never opened the gate"
        self.entries.extend(entries)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def model(kinds: Sequence[int], size: int) -> tuple[list[int], Counter[str]]:
    """The policy on paper: which calls are written, in order, and the drops by level."""
    chunk = max(1, size // 8)
    queue: list[tuple[int, int]] = []  # (call number, kind)
    dropped: Counter[str] = Counter()

    def level(kind: int) -> int:
        return INFO if kind == TRADE else kind

    def sheddable(kind: int) -> bool:
        return kind != TRADE and kind < ERROR

    for n, kind in enumerate(kinds):
        if len(queue) < size:
            queue.append((n, kind))
            continue
        keep = not sheddable(kind)
        limit = ERROR - 1 if keep else kind
        placed = False
        for lowest in sorted({k for _, k in queue if sheddable(k) and k <= limit}):
            victims = [item for item in queue if item[1] == lowest][:chunk]
            for item in victims:
                queue.remove(item)
                dropped[LEVEL_NAMES[lowest]] += 1
            queue.append((n, kind))
            placed = True
            break
        if placed:
            continue
        if keep:
            queue.append((n, kind))  # waits block_timeout, then goes past the bound
        else:
            dropped[LEVEL_NAMES[kind]] += 1
    return [n for n, _ in queue], dropped


kinds_strategy = st.lists(st.sampled_from([TRACE, DEBUG, INFO, WARNING, ERROR, TRADE]), max_size=60)


@settings(max_examples=40, deadline=None)
@given(kinds=kinds_strategy, size=st.integers(1, 24))
def test_the_lowest_levels_are_shed_first(kinds: list[int], size: int) -> None:
    tapelog.flush(5)
    sink = GateSink()
    RUNTIME.dispatcher.configure_queue(
        QueueConfig(size=size, overflow="shed_by_level", block_timeout=0.001)
    )
    RUNTIME.dispatcher.swap(
        Pipeline(EntryBuilder(), [SinkSlot(sink, SinkConfig(type="test", name="gate"), 0)])
    )
    RUNTIME.dispatcher.reset_counters()
    tapelog.set_level("trace", "shed")
    log = tapelog.get_logger("shed")
    try:
        tapelog.get_logger("gate").error("hold the worker")  # never shed
        assert sink.entered.wait(10)
        for n, kind in enumerate(kinds):
            if kind == TRADE:
                log._emit(INFO, "trade", {"n": n}, {"trade": {"order": n}})  # pyright: ignore[reportPrivateUsage]
            else:
                log.log(kind, "m", n=n)
    finally:
        sink.gate.set()
    assert tapelog.flush(10)
    expected, dropped = model(kinds, size)
    written = [e["n"] for e in sink.entries if e["logger"] == "shed"]
    stats = tapelog.stats()
    assert written == expected
    assert dict(stats.dropped_by_level) == dict(dropped)
    assert (
        stats.dropped_by_reason["shed_by_level"] == sum(dropped.values()) == stats.dropped_overflow
    )
    assert stats.emitted == stats.processed + stats.dropped_overflow
    reports = [e for e in sink.entries if e.get("event") == "tapelog.dropped"]
    reported: Counter[str] = Counter()
    for report in reports:
        reported.update(report["dropped_by_level"])
    assert reported == dropped
    RUNTIME.dispatcher.configure_queue(QueueConfig())
