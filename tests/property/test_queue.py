"""Queue accounting under concurrent producers, for every overflow policy (hypothesis)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

import tapelog
from tapelog._entry import EntryBuilder
from tapelog._pipeline import Pipeline, SinkSlot
from tapelog._runtime import RUNTIME
from tapelog.config._model import QueueConfig, SinkConfig


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tapelog.typing import EventDict


class SlowListSink:
    """Collects entries, pausing a little per batch so that the queue fills up."""

    name = "list"

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.entries: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        if self.pause:
            time.sleep(self.pause)
        self.entries.extend(entries)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def run_producers(
    policy: str, size: int, producers: int, per_producer: int, pause: float
) -> SlowListSink:
    tapelog.flush(5)
    sink = SlowListSink(pause)
    RUNTIME.dispatcher.configure_queue(
        QueueConfig(size=size, overflow=policy, block_timeout=30.0, batch_size=max(1, size // 2))  # type: ignore[arg-type]
    )
    RUNTIME.dispatcher.swap(
        Pipeline(EntryBuilder(), [SinkSlot(sink, SinkConfig(type="list", name="list"), 0)])
    )
    RUNTIME.dispatcher.reset_counters()
    start = threading.Barrier(producers)

    def produce(n: int) -> None:
        log = tapelog.get_logger("producer").bind(producer=n)
        start.wait()
        for i in range(per_producer):
            log.info("m", i=i)

    threads = [threading.Thread(target=produce, args=(n,)) for n in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert tapelog.flush(30)
    RUNTIME.dispatcher.configure_queue(QueueConfig())
    return sink


policies = st.sampled_from(["block", "drop_newest", "drop_oldest", "shed_by_level"])


class TestQueueAccounting:
    @settings(max_examples=25)
    @given(
        policy=policies,
        size=st.integers(1, 64),
        producers=st.integers(1, 4),
        per_producer=st.integers(1, 300),
        pause=st.sampled_from([0.0, 0.0005, 0.002]),
    )
    def test_every_call_is_written_or_counted(
        self, policy: str, size: int, producers: int, per_producer: int, pause: float
    ) -> None:
        """written + dropped == emitted, order per producer is kept, and block loses nothing."""
        sink = run_producers(policy, size, producers, per_producer, pause)
        stats = tapelog.stats()
        written = [e for e in sink.entries if e["logger"] == "producer"]
        reports = [e for e in sink.entries if e.get("event") == "tapelog.dropped"]

        assert producers * per_producer == len(written) + stats.dropped_overflow
        assert stats.emitted == stats.processed + stats.dropped_overflow
        assert stats.processed == len(written) + len(reports)
        assert stats.sinks["list"].written == len(sink.entries)
        assert stats.queue_high_water <= size
        for n in range(producers):
            seen = [e["i"] for e in written if e["producer"] == n]
            assert sorted(seen) == seen
            assert len(set(seen)) == len(seen)
        if policy == "block":
            assert 0 == stats.dropped_overflow
        if stats.dropped_overflow:
            assert stats.dropped_overflow == sum(r["dropped"].get(policy, 0) for r in reports)
