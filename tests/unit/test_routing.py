"""Per-sink level, filter, sampling and fallback, with real file sinks."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog._runtime import RUNTIME
from tapelog.config import _sinks
from tapelog.sinks import _registry


if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tapelog.typing import EventDict


class AlwaysFailingSink:
    """A real sink whose destination is always broken."""

    def __init__(self, name: str) -> None:
        self.name = name

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        raise ConnectionRefusedError("collector unreachable")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _failing_sink_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # Registered for these tests only: monkeypatch restores both registries afterwards.
    monkeypatch.setitem(
        _registry._FACTORIES, "failing", lambda config, formatter: AlwaysFailingSink(config.name)
    )
    monkeypatch.setitem(_sinks._REGISTRY, "failing", lambda path, options: dict(options))
    RUNTIME.dispatcher.reset_counters()


def log_many(count: int, **fields: Any) -> None:
    log = tapelog.get_logger("app")
    for i in range(count):
        log.info("m", i=i, **fields)


class TestSampling:
    def test_rate_within_statistical_bounds(self, tmp_path: Path) -> None:
        """rate=0.1 keeps about a tenth of 10,000 entries (within six standard deviations)."""
        path = tmp_path / "sampled.jsonl"
        tapelog.configure(sinks=[{"type": "file", "path": str(path), "sample": {"rate": 0.1}}])
        log_many(10_000)
        tapelog.flush(10)

        kept = len(read_jsonl(path))
        stats = tapelog.stats().sinks["file"]
        assert 820 <= kept <= 1180
        assert (kept, 10_000 - kept) == (stats.written, stats.sampled_out)

    def test_keep_levels_are_never_sampled(self, tmp_path: Path) -> None:
        """Entries at keep_levels all reach the sink, whatever the rate."""
        path = tmp_path / "sampled.jsonl"
        tapelog.configure(
            sinks=[
                {
                    "type": "file",
                    "path": str(path),
                    "sample": {"rate": 0.0, "keep_levels": ["error"]},
                }
            ]
        )
        log = tapelog.get_logger("app")
        for i in range(200):
            log.info("routine", i=i)
            log.error("problem", i=i)
        tapelog.flush(10)

        assert ["problem"] * 200 == [e["message"] for e in read_jsonl(path)]

    def test_key_keeps_or_drops_whole_requests(self, tmp_path: Path) -> None:
        """With a key, every entry of one request is kept or dropped together."""
        path = tmp_path / "sampled.jsonl"
        tapelog.configure(
            sinks=[
                {"type": "file", "path": str(path), "sample": {"rate": 0.5, "key": "request_id"}}
            ]
        )
        log = tapelog.get_logger("proxy")
        for request in range(400):
            with tapelog.context(request_id=f"req-{request}"):
                for step in range(5):
                    log.info("step", step=step)
        tapelog.flush(10)

        per_request: dict[str, int] = {}
        for entry in read_jsonl(path):
            per_request[entry["request_id"]] = per_request.get(entry["request_id"], 0) + 1
        assert {5} == set(per_request.values())
        assert 120 <= len(per_request) <= 280


class TestFilter:
    def test_logger_prefixes_include_and_exclude(self, tmp_path: Path) -> None:
        """A sink's filter takes logger prefixes to include and to exclude."""
        path = tmp_path / "trading.jsonl"
        tapelog.configure(
            sinks=[
                {
                    "type": "file",
                    "path": str(path),
                    "filter": {"loggers": ["trading"], "exclude_loggers": ["trading.noisy"]},
                }
            ]
        )
        for name in ("trading", "trading.orders", "trading.noisy.ticks", "tradingview", "proxy"):
            tapelog.get_logger(name).info("m")
        tapelog.flush(10)

        assert ["trading", "trading.orders"] == [e["logger"] for e in read_jsonl(path)]
        assert 3 == tapelog.stats().sinks["file"].filtered

    def test_components(self, tmp_path: Path) -> None:
        """A sink's filter can select entries by their component field."""
        path = tmp_path / "health.jsonl"
        tapelog.configure(
            sinks=[{"type": "file", "path": str(path), "filter": {"components": ["health"]}}]
        )
        log = tapelog.get_logger("proxy")
        log.info("a", component="health")
        log.info("b", component="rotator")
        log.info("c")
        tapelog.flush(10)

        assert ["a"] == [e["message"] for e in read_jsonl(path)]


class TestIsolationAndFallback:
    def test_failing_sink_beside_a_file_sink(self, tmp_path: Path) -> None:
        """The file sink gets every entry; the failing sink's counters explain all of its own."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(
            sinks=[{"type": "failing", "name": "collector"}, {"type": "file", "path": str(path)}]
        )
        log_many(500)
        tapelog.flush(10)

        stats = tapelog.stats()
        collector = stats.sinks["collector"]
        assert list(range(500)) == [e["i"] for e in read_jsonl(path) if e["logger"] == "app"]
        assert stats.processed == collector.written + collector.filtered + collector.failed
        assert collector.failed >= 500

    def test_fallback_receives_what_the_primary_gives_up(self, tmp_path: Path) -> None:
        """A sink's fallback gets the entries the sink could not take."""
        fallback = tmp_path / "fallback.jsonl"
        tapelog.configure(
            sinks=[
                {"type": "failing", "name": "collector", "fallback": "spill"},
                {"type": "file", "name": "spill", "path": str(fallback), "level": "off"},
            ]
        )
        log_many(50)
        tapelog.flush(10)

        assert list(range(50)) == [e["i"] for e in read_jsonl(fallback) if e["logger"] == "app"]

    def test_sink_failure_is_reported_to_the_other_sinks(self, tmp_path: Path) -> None:
        """A failing sink is reported once as tapelog.sink_failed to the remaining sinks."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(
            sinks=[{"type": "failing", "name": "collector"}, {"type": "file", "path": str(path)}]
        )
        log_many(10)
        deadline = time.monotonic() + 10
        reports: list[dict[str, Any]] = []
        while not reports and time.monotonic() < deadline:  # the worker reports when idle
            tapelog.flush(10)
            reports = [e for e in read_jsonl(path) if e.get("event") == "tapelog.sink_failed"]
            time.sleep(0.05)

        assert 1 == len(reports)
        assert ("collector", "error") == (reports[0]["sink"], reports[0]["level"])
        assert "collector unreachable" in reports[0]["reason"]
