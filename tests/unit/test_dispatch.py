from __future__ import annotations

import asyncio
import json
import threading
from typing import TYPE_CHECKING

import pytest

import tapelog
from tapelog._entry import EntryBuilder
from tapelog._pipeline import Pipeline, SinkSlot
from tapelog._runtime import RUNTIME
from tapelog.config._model import QueueConfig, SinkConfig
from tapelog.sinks._file import FileSink


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from tapelog.typing import EventDict


class GateSink:
    """A real sink that holds each batch until the test opens the gate."""

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.entries: list[EventDict] = []
        self.batches = 0

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.entries.extend(entries)
        self.batches += 1

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class BrokenSink:
    """A sink that always raises."""

    name = "broken"

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        raise OSError("disk on fire")

    def flush(self) -> None:
        raise OSError("disk on fire")

    def close(self) -> None:
        pass


def until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``, polling every 50 ms, 30 s at most (the caller asserts after)."""
    for _ in range(600):
        if condition():
            return
        threading.Event().wait(0.05)


def install(*sinks: object, **queue: object) -> None:
    """Swap in a pipeline with these sinks and queue settings."""
    tapelog.flush(5)
    slots = [SinkSlot(sink, SinkConfig(type="test", name=sink.name), 0) for sink in sinks]  # type: ignore[attr-defined]
    RUNTIME.dispatcher.configure_queue(QueueConfig(**queue))  # type: ignore[arg-type]
    RUNTIME.dispatcher.swap(Pipeline(EntryBuilder(), slots))
    RUNTIME.dispatcher.reset_counters()


@pytest.fixture(name="gate")
def _gate() -> Iterator[GateSink]:
    sink = GateSink()
    yield sink
    sink.gate.set()
    tapelog.flush(5)
    RUNTIME.dispatcher.configure_queue(QueueConfig())


def fill(gate: GateSink, total: int) -> list[int]:
    """Log one entry, wait until the worker is stuck writing it, then log the rest."""
    log = tapelog.get_logger("fill")
    log.info("m", i=0)
    assert gate.entered.wait(5)
    for i in range(1, total):
        log.info("m", i=i)
    return list(range(total))


class TestOverflowPolicies:
    def test_drop_newest_keeps_the_first(self, gate: GateSink) -> None:
        """drop_newest keeps what was queued first and counts the rest."""
        install(gate, size=10, overflow="drop_newest")
        fill(gate, 31)
        gate.gate.set()
        assert tapelog.flush(5)

        stats = tapelog.stats()
        assert list(range(11)) == [e["i"] for e in gate.entries if e["logger"] == "fill"]
        assert (20, 20) == (stats.dropped_overflow, stats.dropped_by_reason["drop_newest"])

    def test_drop_oldest_keeps_the_latest(self, gate: GateSink) -> None:
        """drop_oldest makes room by discarding the oldest queued entry."""
        install(gate, size=10, overflow="drop_oldest")
        fill(gate, 31)
        gate.gate.set()
        assert tapelog.flush(5)

        assert [0, *range(21, 31)] == [e["i"] for e in gate.entries if e["logger"] == "fill"]
        assert 20 == tapelog.stats().dropped_by_reason["drop_oldest"]

    def test_block_times_out_then_drops(self, gate: GateSink) -> None:
        """block waits block_timeout for room, then drops and counts."""
        install(gate, size=5, overflow="block", block_timeout=0.05)
        fill(gate, 8)
        gate.gate.set()
        assert tapelog.flush(5)

        assert (6, 2) == (
            len([e for e in gate.entries if e["logger"] == "fill"]),
            tapelog.stats().dropped_by_reason["block_timeout"],
        )

    def test_block_loses_nothing_when_the_sink_catches_up(self, gate: GateSink) -> None:
        """block makes callers wait for room instead of losing entries."""
        install(gate, size=4, overflow="block", block_timeout=10)
        opener = threading.Timer(0.2, gate.gate.set)
        opener.start()
        fill(gate, 50)
        assert tapelog.flush(5)
        opener.join()

        assert (list(range(50)), 0) == (
            [e["i"] for e in gate.entries if e["logger"] == "fill"],
            tapelog.stats().dropped_overflow,
        )

    def test_drop_report_entry(self, gate: GateSink) -> None:
        """Drops are reported as a tapelog.dropped warning with counts by reason."""
        install(gate, size=3, overflow="drop_newest")
        fill(gate, 10)
        gate.gate.set()
        assert tapelog.flush(5)

        reports = [e for e in gate.entries if e.get("event") == "tapelog.dropped"]
        assert 1 == len(reports)
        assert ("warning", {"drop_newest": 6}) == (reports[0]["level"], reports[0]["dropped"])


class SlowSink:
    """A real sink that takes a while over every batch, as a slow disk would."""

    name = "slow"

    def __init__(self) -> None:
        self.entries: list[EventDict] = []
        self.entered = threading.Event()

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        self.entered.set()
        threading.Event().wait(0.02)
        self.entries.extend(entries)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class TestSustainedOverload:
    def test_drops_are_reported_while_the_queue_never_empties(self) -> None:
        """Under an overload that keeps the queue full, tapelog.dropped comes during it,
        not after: the worker's timers run when it is busy too."""
        sink = SlowSink()
        install(sink, size=10, overflow="drop_newest")
        log = tapelog.get_logger("overload")
        log.info("first")
        assert sink.entered.wait(5)  # the worker is busy from here on: it never idles again
        reported = False
        for _ in range(2_000_000):  # bounded: long before this, the report is there
            log.info("m")
            if any(e.get("event") == "tapelog.dropped" for e in sink.entries[-20:]):
                reported = True
                break
        tapelog.flush(5)
        RUNTIME.dispatcher.configure_queue(QueueConfig())

        assert reported  # before this fix it came only once the queue emptied


class TestAccounting:
    def test_invariants_after_flush(self, gate: GateSink) -> None:
        """emitted == processed + dropped, and each sink's outcomes add up to processed."""
        install(gate, size=8, overflow="drop_newest")
        fill(gate, 40)
        gate.gate.set()
        assert tapelog.flush(5)

        stats = tapelog.stats()
        sink = stats.sinks["gate"]
        assert stats.emitted == stats.processed + stats.dropped_overflow
        assert (
            stats.processed
            == sink.written + sink.filtered + sink.sampled_out + sink.failed + sink.spooled
        )
        assert stats.queue_high_water >= 8

    def test_stats_as_dict(self) -> None:
        """Stats.as_dict gives plain data for export."""
        data = tapelog.stats().as_dict()

        assert {
            "emitted",
            "dropped_overflow",
            "processed",
            "queue_depth",
            "queue_high_water",
            "sinks",
        } <= set(data)


class TestIsolation:
    def test_failing_sink_does_not_stop_the_others(self, gate: GateSink) -> None:
        """A sink that raises is counted as failed; the other sink gets every entry."""
        gate.gate.set()
        install(BrokenSink(), gate)
        log = tapelog.get_logger("iso")
        for i in range(100):
            log.info("m", i=i)
        assert tapelog.flush(5)

        stats = tapelog.stats()
        assert list(range(100)) == [e["i"] for e in gate.entries if e["logger"] == "iso"]
        assert stats.sinks["broken"].failed >= 100
        assert 0 == stats.sinks["gate"].failed

    def test_unserialisable_value_still_gives_a_line(self, gate: GateSink) -> None:
        """An object whose repr raises is written as a placeholder, not lost."""

        class Hostile:
            def __repr__(self) -> str:
                raise RuntimeError("no")

        gate.gate.set()
        install(gate)
        tapelog.get_logger("hostile").info("m", thing=Hostile())
        assert tapelog.flush(5)

        assert "Hostile" in gate.entries[-1]["thing"]


class TestFlush:
    def test_flush_returns_true_when_written(self, gate: GateSink) -> None:
        """flush waits until every earlier entry is written."""
        gate.gate.set()
        install(gate)
        for i in range(1000):
            tapelog.get_logger("f").info("m", i=i)

        assert (True, 1000) == (
            tapelog.flush(5),
            len([e for e in gate.entries if e["logger"] == "f"]),
        )

    def test_flush_times_out_while_a_sink_hangs(self, gate: GateSink) -> None:
        """flush gives up after its timeout and says so."""
        install(gate)
        tapelog.get_logger("f").info("m")
        assert gate.entered.wait(5)

        assert False is tapelog.flush(0.05)


class TestSyncMode:
    def test_sync_mode_writes_before_returning(self, gate: GateSink) -> None:
        """In sync mode the entry is written when the call returns."""
        gate.gate.set()
        install(gate, mode="sync")
        tapelog.get_logger("sync").info("now")

        assert "now" == gate.entries[-1]["message"]


class TestAsyncio:
    def test_drop_newest_never_blocks_the_event_loop(self, gate: GateSink) -> None:
        """With drop_newest, a coroutine logging into a full queue returns at once."""
        install(gate, size=2, overflow="drop_newest")
        fill(gate, 3)

        async def burst() -> int:
            log = tapelog.get_logger("aio")
            for i in range(1000):
                log.info("m", i=i)
            return 1000

        assert 1000 == asyncio.run(asyncio.wait_for(burst(), timeout=5))
        gate.gate.set()


class TestHighWater:
    def test_high_water_never_exceeds_the_queue_size(self, gate: GateSink) -> None:
        """A full queue plus a flush marker and a drop report still reads as at most size (#11)."""
        install(gate, size=4, overflow="drop_newest")
        fill(gate, 10)  # one in the sink, four queued, five dropped
        flusher = threading.Thread(target=tapelog.flush, args=(5,))
        flusher.start()  # its marker and the drop report go in beyond the bound
        for _ in range(100):
            if len(RUNTIME.dispatcher.queue) > 4:
                break
            threading.Event().wait(0.01)
        assert len(RUNTIME.dispatcher.queue) > 4  # the reproduction: over the bound
        assert tapelog.stats().queue_high_water <= 4
        gate.gate.set()
        flusher.join(10)
        assert tapelog.flush(5)

        stats = tapelog.stats()
        assert stats.queue_high_water == 4
        assert stats.emitted == stats.processed + stats.dropped_overflow


class TestReportsInSyncMode:
    def test_a_failing_sink_is_reported_as_it_happens(self, gate: GateSink) -> None:
        """#11 (defect 10): in sync mode no worker ran the timers, so sink_failed waited for exit.

        Now the calling thread runs them at most every quarter second: a later call reports.
        """
        gate.gate.set()
        install(BrokenSink(), gate, mode="sync")
        log = tapelog.get_logger("sync")

        def reports() -> list[EventDict]:
            return [e for e in gate.entries if e.get("event") == "tapelog.sink_failed"]

        calls = 0
        while not reports() and calls < 200:  # bounded: 10 s of calls 50 ms apart
            log.info("call", i=calls)
            calls += 1
            if not reports():
                threading.Event().wait(0.05)
        [report] = reports()

        assert "broken" == report["sink"]
        assert 1 <= report["failed"] <= calls
        assert calls == tapelog.stats().sinks["broken"].failed


class SizesSink(GateSink):
    """A gate sink that also remembers the size of every batch it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        self.sizes.append(len(entries))
        super().write_batch(entries)


class TestBatches:
    """While callers keep up, the worker writes whatever is queued each time it looks:
    nothing waits for a flush, a cadence or a batch's worth."""

    @pytest.mark.parametrize(
        ("total", "size", "batches"),
        [
            pytest.param(100, 65536, [1, 99], id="a short queue: one batch"),
            pytest.param(1001, 1200, [1, 1000], id="a queue past half: one batch"),
            pytest.param(1 + 1024 + 10, 65536, [1, 1024, 10], id="a backlog: batch by batch"),
        ],
    )
    def test_what_is_queued_is_written_as_it_comes_in_order(
        self, total: int, size: int, batches: list[int]
    ) -> None:
        """No flush: what queued behind the first entry goes to the sink at once, a batch
        (``batch_size``) at a time, every entry once and in order."""
        sink = SizesSink()
        install(sink, size=size, overflow="block", batch_size=1024)
        try:
            fill(sink, total)
            sink.gate.set()
            until(lambda: sum(sink.sizes) >= total)
        finally:
            sink.gate.set()
            tapelog.flush(30)
        written = [e["i"] for e in sink.entries if e["logger"] == "fill"]
        assert (list(range(total)), batches) == (written, sink.sizes)

    def test_a_busy_application_still_gets_its_entries_written(self) -> None:
        """A thread that never leaves the GIL free (pure Python, no waits): the worker
        still writes every entry, in order, without a flush."""
        sink = SizesSink()
        install(sink, size=65536, overflow="block", batch_size=1024)
        stop = threading.Event()

        def spin() -> None:
            spins = 0
            while not stop.is_set():  # holds the GIL until CPython forces a switch
                for _ in range(10_000):
                    spins += 1

        spinner = threading.Thread(target=spin, daemon=True)
        log = tapelog.get_logger("busy")
        try:
            sink.gate.set()
            spinner.start()
            for i in range(600):
                log.info("m", i=i)
            until(lambda: sum(sink.sizes) >= 600)
            written = [e["i"] for e in sink.entries if e["logger"] == "busy"]
        finally:
            stop.set()
            spinner.join(30)
            tapelog.flush(5)
        assert list(range(600)) == written

    def test_a_flush_takes_a_short_queue_whole(self) -> None:
        """A flush waiting: it returns once all of it is written."""
        sink = SizesSink()
        install(sink, size=65536, overflow="block", batch_size=1024)
        dispatcher = RUNTIME.dispatcher
        done: list[bool] = []
        try:
            fill(sink, 100)
            flusher = threading.Thread(target=lambda: done.append(tapelog.flush(30)))
            flusher.start()
            # until the flush's marker is queued
            until(lambda: dispatcher._markers_put != dispatcher._markers_taken)
            sink.gate.set()
            flusher.join(30)
        finally:
            sink.gate.set()
        written = [e["i"] for e in sink.entries if e["logger"] == "fill"]
        assert ([True], list(range(100)), 99) == (done, written, sink.sizes[1])

    def test_flush_does_not_wait_for_the_workers_nap(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With naps of an hour, flush still returns as soon as the entry is written."""
        sink = SizesSink()
        sink.gate.set()
        install(sink, size=65536, overflow="block")
        monkeypatch.setattr("tapelog._dispatch._NAP", 3600.0)
        monkeypatch.setattr("tapelog._dispatch._NAP_MAX", 3600.0)
        monkeypatch.setattr("tapelog._dispatch._FILL_TIME", 1.0)  # no cap on the nap
        log = tapelog.get_logger("nap")
        try:
            log.info("first")
            assert tapelog.flush(30)  # the worker then naps
            log.info("second")  # queued while the worker naps
            assert tapelog.flush(30)
        finally:
            monkeypatch.undo()
            tapelog.flush(30)
        assert ["first", "second"] == [e["message"] for e in sink.entries if e["logger"] == "nap"]

    def test_a_batch_for_one_json_file_is_written_once_in_order(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The file gets a batch's lines in one write, every entry once: a write per entry
        (lock, stat, write, unlock) would hand the GIL over four times an entry."""
        writes: list[int] = []  # the lines in each write the file sink was given
        real = FileSink.json_lines_writer

        def counting(sink: FileSink) -> Callable[[bytes | bytearray], None] | None:
            write = real(sink)
            if write is None:
                return None

            def counted(data: bytes | bytearray) -> None:
                writes.append(bytes(data).count(b"\n"))
                write(data)

            return counted

        monkeypatch.setattr(FileSink, "json_lines_writer", counting)
        path = tmp_path / "app.jsonl"
        tapelog.configure({"sinks": [{"type": "file", "path": str(path), "format": "json"}]})
        dispatcher = RUNTIME.dispatcher
        log = tapelog.get_logger("calm")
        try:
            with dispatcher._work_lock:  # the worker waits with its first batch of one
                log.info("m", i=0)
                until(lambda: not dispatcher.queue)
                for i in range(1, 100):
                    log.info("m", i=i)
            # no flush here: it would take the queue whole
            until(lambda: sum(writes) >= 100)
            numbers = [json.loads(line)["i"] for line in path.read_text().splitlines()]
        finally:
            tapelog.flush(5)
            tapelog.configure({"sinks": []})
        assert ([1, 99], list(range(100))) == (writes, numbers)
