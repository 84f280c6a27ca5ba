"""tapelog.metrics on the caller's side and in the snapshot: what a user sees."""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import threading
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tapelog
from tapelog import metrics
from tapelog.exceptions import ConfigError
from tapelog.metrics._instruments import registry
from tapelog.metrics._reporter import REPORTER
from tapelog.testing import capture


if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(autouse=True)
def _fresh_metrics() -> Iterator[None]:
    tapelog.configure({"sinks": [], "metrics": {"interval": "1h"}})
    REPORTER.reset()
    yield
    tapelog.configure({"sinks": [], "metrics": {"enabled": False}})
    REPORTER.reset()


def points(name: str) -> list[dict[str, Any]]:
    return [p for p in metrics.snapshot() if p["name"] == name]


def only(name: str) -> dict[str, Any]:
    found = points(name)
    assert len(found) == 1, found
    return found[0]


def test_observe_gives_percentiles_with_their_relative_error() -> None:
    for i in range(1, 1001):
        metrics.observe("http.client.request.duration", i / 1000, **{"server.port": 443})
    point = only("http.client.request.duration")
    assert point["type"] == "histogram"
    assert point["unit"] == "s"
    assert point["attributes"] == {"server.port": 443}
    assert point["count"] == 1000
    assert point["sum"] == pytest.approx(500.5)
    assert (point["min"], point["max"]) == (0.001, 1.0)
    assert point["relative_error"] == 0.01
    for key, exact in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        assert abs(point[key] - exact) <= 0.01 * exact
    assert point["temporality"] == "delta"
    assert "start_time" in point
    back = metrics.Sketch.from_dict(point["sketch"])
    assert back.count == 1000


def test_attribute_sets_are_separate_series_whatever_the_keyword_order() -> None:
    metrics.observe("app.latency", 0.1, venue="a", side="buy")
    metrics.observe("app.latency", 0.2, side="buy", venue="a")
    metrics.observe("app.latency", 0.3, venue="b", side="buy")
    counts = {p["attributes"]["venue"]: p["count"] for p in points("app.latency")}
    assert counts == {"a": 2, "b": 1}


def test_timer_times_blocks_functions_and_coroutines_and_marks_errors() -> None:
    with metrics.timer("app.block.duration") as timed:
        pass
    assert timed.elapsed is not None
    assert timed.elapsed >= 0

    @metrics.timer("app.call.duration", venue="x")
    def work(n: int) -> int:
        if n < 0:
            raise KeyError(n)
        return n * 2

    @metrics.timer("app.async.duration")
    async def fetch() -> str:
        await asyncio.sleep(0)
        return "ok"

    async def in_async_with() -> None:
        async with metrics.timer("app.async_block.duration"):
            await asyncio.sleep(0)

    assert work(2) == 4
    with pytest.raises(KeyError):
        work(-1)
    assert asyncio.run(fetch()) == "ok"
    asyncio.run(in_async_with())
    assert only("app.block.duration")["count"] == 1
    by_error = {p["attributes"].get("error.type"): p["count"] for p in points("app.call.duration")}
    assert by_error == {None: 1, "KeyError": 1}
    assert only("app.async.duration")["count"] == 1
    assert only("app.async_block.duration")["count"] == 1
    assert work.__name__ == "work"


def test_no_update_is_lost_across_threads() -> None:
    def hammer() -> None:
        for i in range(5000):
            metrics.observe("app.threads.duration", (i % 100 + 1) / 1000)
            metrics.increment("app.threads.calls")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert only("app.threads.duration")["count"] == 40_000
    assert only("app.threads.calls")["value"] == 40_000


@pytest.mark.parametrize(
    "values",
    [
        # Rising values, a new bucket every ~40 observations all along: 13 decades, past
        # the recording thread's list of counts (the rest counted aside, the general path).
        [1e-9 * 1.0005**i for i in range(60_000)],
        # Within its list: the one-thread path's window reaching further round after round.
        [1e-4 * 1.0002**i for i in range(40_000)],
    ],
    ids=["past-the-list", "within-the-list"],
)
def test_rounds_taken_while_a_thread_keeps_meeting_new_buckets_lose_and_misplace_nothing(
    values: list[float],
) -> None:
    """The reporter reads a series' new buckets while the recording thread may be adding
    more (the thread switches as often as it can here): every observation lands in
    exactly one round, in its own bucket."""
    done = threading.Event()

    def record() -> None:
        for value in values:
            metrics.observe("app.race.value", value, "1")
        done.set()

    total = metrics.Sketch()

    def take_round() -> None:
        with capture():
            found = [p for p in metrics.report() if p["name"] == "app.race.value"]
        for point in found:
            part = metrics.Sketch.from_dict(point["sketch"])
            assert point["count"] == sum(part.positive.values())
            total.merge(part)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        thread = threading.Thread(target=record)
        thread.start()
        rounds = 0
        while not done.is_set():
            take_round()
            rounds += 1
        thread.join()
    finally:
        sys.setswitchinterval(switch)
    take_round()  # what was recorded after the last round above
    expected = metrics.Sketch()
    expected.update(values)
    assert total.positive == expected.positive
    assert rounds > 2  # several rounds met new buckets while the thread recorded


def test_threads_that_come_and_go_lose_nothing() -> None:
    """Short-lived threads (whose ids the system reuses) each record; every one counts."""

    def once(i: int) -> None:
        metrics.observe("app.short.duration", i / 1000 + 0.001, venue="v")
        metrics.increment("app.short.calls", venue="v")

    for batch in range(20):
        threads = [threading.Thread(target=once, args=(batch * 10 + i,)) for i in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    metrics.observe("app.short.duration", 1.0, venue="v")
    assert only("app.short.duration")["count"] == 201
    assert only("app.short.calls")["value"] == 200


def test_attribute_values_of_any_kind_are_written_as_text() -> None:
    """A value that is not a string, number or boolean is its str(), even unhashable."""
    for _ in range(2):
        metrics.observe("app.odd.duration", 0.5, tags=["a", "b"])
        metrics.increment("app.odd.calls", tags=["a", "b"])
        metrics.gauge("app.odd.level", 2, tags=["a", "b"])
    assert only("app.odd.duration")["attributes"] == {"tags": "['a', 'b']"}
    assert only("app.odd.duration")["count"] == 2
    assert only("app.odd.calls")["value"] == 2
    assert only("app.odd.level")["value"] == 2


observations = st.one_of(
    st.floats(min_value=1e-7, max_value=1e4, allow_nan=False),
    st.floats(min_value=-1e3, max_value=-1e-3, allow_nan=False),
    st.just(0.0),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.lists(observations, max_size=60), min_size=1, max_size=5), st.booleans())
def test_each_delta_round_holds_exactly_the_buckets_of_its_observations(
    rounds: list[list[float]], two_threads: bool
) -> None:
    """Round after round (new buckets appearing late, one thread or two), a snapshot's
    sketch is the sketch of that round's observations, bucket for bucket."""
    REPORTER.reset()
    for values in rounds:
        halves = (values[::2], values[1::2]) if two_threads else (values,)
        for half in halves:
            thread = threading.Thread(
                target=lambda vs=half: [metrics.observe("app.round.value", v, "1") for v in vs]
            )
            thread.start()
            thread.join()
        with capture():
            found = [p for p in metrics.report() if p["name"] == "app.round.value"]
        if not values:
            assert found == []
            continue
        expected = metrics.Sketch()
        expected.update(values)
        (point,) = found
        back = metrics.Sketch.from_dict(point["sketch"])
        assert (back.positive, back.negative) == (expected.positive, expected.negative)
        assert back.zero_count == expected.zero_count
        assert (point["count"], point["min"], point["max"]) == (
            len(values),
            min(values),
            max(values),
        )


def test_a_series_recorded_by_one_thread_then_by_two_keeps_every_round_exact() -> None:
    """A series' rounds are worked out one way while one thread records it and another once
    a second thread does (two shards alive at once): across the change, each delta round is
    that round's observations, bucket for bucket, and cumulative is all of them."""
    rounds = [
        ([0.001, 0.002, 0.5, 0.5], []),
        ([0.003, 0.5, 7.0, -1.0, 0.0], [0.0001, 0.002, 90.0, -1.0]),  # new buckets both sides
        ([0.002, 3e-6], [0.5, 1e4]),
    ]
    go, done = threading.Event(), threading.Event()
    second: list[float] = []

    def other() -> None:
        while go.wait() and second:
            for value in second:
                metrics.observe("app.shared.duration", value)
            second.clear()
            go.clear()
            done.set()

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    seen: list[float] = []
    for mine, theirs in rounds:
        for value in mine:
            metrics.observe("app.shared.duration", value)
        if theirs:
            second[:] = theirs
            done.clear()
            go.set()
            assert done.wait(10)
        with capture():
            (point,) = [p for p in metrics.report() if p["name"] == "app.shared.duration"]
        expected = metrics.Sketch()
        expected.update(mine + theirs)
        back = metrics.Sketch.from_dict(point["sketch"])
        assert (back.positive, back.negative, back.zero_count) == (
            expected.positive,
            expected.negative,
            expected.zero_count,
        )
        assert point["count"] == len(mine) + len(theirs)
        seen += mine + theirs
    go.set()  # second is empty: the thread ends
    thread.join(10)
    tapelog.configure({"sinks": [], "metrics": {"interval": "1h", "temporality": "cumulative"}})
    total = only("app.shared.duration")
    everything = metrics.Sketch()
    everything.update(seen)
    assert metrics.Sketch.from_dict(total["sketch"]).positive == everything.positive
    assert (total["count"], total["min"], total["max"]) == (len(seen), min(seen), max(seen))


def test_a_series_first_recorded_after_a_round_is_in_the_next_one() -> None:
    metrics.observe("app.first.duration", 0.1)
    assert [p["name"] for p in metrics.snapshot()] == ["app.first.duration"]
    metrics.increment("app.later.calls")
    metrics.gauge("app.later.level", 2)
    metrics.observe("app.first.duration", 0.2, venue="b")
    names = sorted(
        (p["name"], p.get("attributes", {}).get("venue", "")) for p in metrics.snapshot()
    )
    assert names == [
        ("app.first.duration", ""),
        ("app.first.duration", "b"),
        ("app.later.calls", ""),
        ("app.later.level", ""),
    ]


def test_counters_and_gauges() -> None:
    metrics.increment("app.orders", venue="x")
    metrics.increment("app.orders", 4, venue="x")
    metrics.gauge("app.queue.depth", 7, unit="{item}")
    metrics.gauge("app.queue.depth", 3, unit="{item}")
    counter = only("app.orders")
    assert (counter["type"], counter["value"], counter["temporality"]) == ("counter", 5, "delta")
    level = only("app.queue.depth")
    assert (level["type"], level["value"], level["unit"]) == ("gauge", 3, "{item}")


def test_bad_calls_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="metric name"):
        metrics.observe("Bad Name", 1.0)
    with pytest.raises(ValueError, match="finite"):
        metrics.observe("app.nan", float("nan"))
    with pytest.raises(ValueError, match="finite"):
        metrics.observe("app.inf", float("inf"))
    with pytest.raises(ValueError, match="only goes up"):
        metrics.increment("app.count", -1)
    metrics.gauge("app.kind", 1.0)
    with pytest.raises(ValueError, match="is a gauge"):
        metrics.observe("app.kind", 1.0)


def test_delta_snapshots_cover_their_interval_and_cumulative_everything() -> None:
    metrics.observe("app.step", 1.0)
    with capture():
        first = metrics.report()
    metrics.observe("app.step", 2.0)
    metrics.observe("app.step", 3.0)
    second = [p for p in metrics.snapshot() if p["name"] == "app.step"]
    assert [p["count"] for p in first if p["name"] == "app.step"] == [1]
    assert second[0]["count"] == 2
    assert second[0]["min"] == 2.0
    tapelog.configure({"sinks": [], "metrics": {"interval": "1h", "temporality": "cumulative"}})
    total = only("app.step")
    assert (total["count"], total["min"], total["max"]) == (3, 1.0, 3.0)
    assert total["temporality"] == "cumulative"


def test_each_point_is_one_valid_metrics_snapshot_entry(validator: Any) -> None:
    metrics.observe("http.client.request.duration", 0.25, **{"http.request.method": "GET"})
    metrics.increment("app.orders")
    metrics.gauge("app.queue.depth", 4)
    with capture() as entries:
        metrics.report()
        tapelog.flush()
    assert {e["metric"]["name"] for e in entries} == {
        "http.client.request.duration",
        "app.orders",
        "app.queue.depth",
        "tapelog.metrics.collect.duration",
    }
    for entry in entries:
        assert entry["event"] == "metrics.snapshot"
        assert entry["logger"] == "tapelog.metrics"
        assert isinstance(entry["collect_us"], int)
        validator.validate(entry)


def test_reload_changes_the_interval_and_rules_but_keeps_the_data() -> None:
    metrics.observe("app.kept", 0.5)
    tapelog.configure(
        {
            "sinks": [],
            "metrics": {
                "interval": "2h",
                "thresholds": [{"metric": "app.kept", "above": 0.1, "stat": "max"}],
            },
        }
    )
    assert REPORTER.config.interval == 7200
    assert only("app.kept")["count"] == 1
    with capture() as entries:
        metrics.report()
        tapelog.flush()
    assert [e["event"] for e in entries if e["level"] == "warning"] == [
        "metrics.threshold_exceeded"
    ]


@pytest.mark.parametrize(
    ("metrics_config", "path", "expected"),
    [
        ({"temporality": "sum"}, "metrics.temporality", "one of delta, cumulative"),
        ({"relative_error": 0.5}, "metrics.relative_error", "from"),
        ({"enabled": "yes"}, "metrics.enabled", "true or false"),
        ({"thresholds": [{"metric": "m", "above": 1, "clear": 2}]}, "clear", "at or below"),
        ({"thresholds": [{"metric": "m", "below": 1, "clear": 0}]}, "clear", "at or above"),
        (
            {"thresholds": [{"metric": "m", "above": 2, "below": 1, "clear": 1.5}]},
            "clear",
            "band",
        ),
        ({"thresholds": [{"metric": "m", "above": 1, "below": 2}]}, "above", "not below"),
        ({"thresholds": [{"metric": "m", "above": 1, "for": "soon"}]}, "for", "duration"),
        ({"thresholds": [{"metric": "m", "above": 1, "stat": "p42"}]}, "stat", "p99"),
        ({"thresholds": [{"metric": "m", "above": 1, "nodata": "alert"}]}, "nodata", "keep"),
        ({"thresholds": [{"metric": "M M", "above": 1}]}, "metric", "metric name"),
        ({"thresholds": [{"metric": "m", "above": 1, "repeat": "1m"}]}, "repeat", "known key"),
    ],
)
def test_metrics_config_errors_name_the_key(
    metrics_config: dict[str, object], path: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        tapelog.configure({"sinks": [], "metrics": metrics_config})
    assert path in caught.value.path
    assert expected in str(caught.value)


def test_otlp_records_keep_the_metric_name_unit_and_attributes() -> None:
    import importlib.util

    from tests.conftest import need
    from tests.integration.test_otlp_sink import decode

    from tapelog.cli._collector import Collector

    need(importlib.util.find_spec("opentelemetry.proto") is not None, "opentelemetry-proto")
    receiver = Collector(path="/v1/logs", parse=decode).up()
    try:
        otlp = {
            "type": "otlp",
            "endpoint": receiver.url.removesuffix("/v1/logs"),
            "batch": {"max_delay": "50ms"},
        }
        tapelog.configure({"sinks": [otlp], "metrics": {"interval": "1h"}})
        metrics.observe("http.client.request.duration", 0.2, **{"server.port": 8443})
        metrics.report()
        assert tapelog.flush(10)
        assert receiver.wait_for(2)
        records = {r["attributes"]["metric"]["name"]: r for r in receiver.records}
        found = records["http.client.request.duration"]
        assert found["record"].event_name == "metrics.snapshot"
        metric = found["attributes"]["metric"]
        assert (metric["unit"], metric["type"], metric["count"]) == ("s", "histogram", 1)
        assert metric["attributes"] == {"server.port": 8443}
        assert abs(metric["p99"] - 0.2) <= 0.002
    finally:
        receiver.close()


def test_a_file_reload_changes_interval_and_rules_and_keeps_series_and_alert_state(
    tmp_path: Any,
) -> None:
    path = tmp_path / "tapelog.toml"
    rule = '[[metrics.thresholds]]\nmetric = "app.depth"\nabove = {above}\n'
    path.write_text('sinks = []\n[metrics]\ninterval = "1h"\n' + rule.format(above=10))
    tapelog.configure(str(path))
    metrics.observe("app.kept", 0.5)
    metrics.gauge("app.depth", 50)
    with capture() as entries:
        metrics.report()
        tapelog.flush()
    assert [e["event"] for e in entries if e["level"] == "warning"] == [
        "metrics.threshold_exceeded"
    ]
    metrics.observe("app.kept", 0.7)
    path.write_text('sinks = []\n[metrics]\ninterval = "30m"\n' + rule.format(above=20))
    assert tapelog.reload()
    assert REPORTER.config.interval == 1800
    assert REPORTER.config.thresholds[0].above == 20
    assert only("app.kept")["count"] == 1  # the interval that was running goes on
    metrics.gauge("app.depth", 60)
    with capture() as entries:
        metrics.report()
        tapelog.flush()
    # still firing under the new limit: no second warning
    assert [e for e in entries if e.get("event", "").startswith("metrics.threshold")] == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        # within seven decades: what a shard's list spans on either side of its first value
        st.lists(st.floats(min_value=1e-4, max_value=1e3, allow_nan=False), max_size=80),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=1, max_value=400),
)
# Counts of exactly 255 (a byte a key without counts would take), keys met inside the window.
@example(rounds=[[0.001, 0.5], [0.001, 0.002], [0.003]], weight=255)
def test_the_reporters_one_pass_over_an_interval_equals_reading_it_into_a_sketch(
    rounds: list[list[float]], weight: int
) -> None:
    """The reporter takes a one-thread, positive-only histogram's interval in one pass
    (``interval_summary``); round after round it gives what ``read()`` and the sketch's
    ``summary`` give for the same observations: count, sum, min, max, percentiles, form,
    plain or compressed (``weight`` repeats of short rounds make counts wide)."""
    one_pass_equals_read([values * (weight if len(values) < 4 else 1) for values in rounds])


def test_the_one_pass_compresses_a_wide_interval_as_reading_it_does() -> None:
    """An interval too wide for the plain form (400 buckets of counts past 255)."""
    wide = [1e-4 * 1.02**i for i in range(400)] * 300
    one_pass_equals_read([wide, wide[:5000], []])
    for value in wide:
        metrics.observe("app.pass.one", value)
    text = str(only("app.pass.one")["sketch"]["bins"])
    assert base64.b64decode(text.removeprefix("3:"))[0] == 1  # the compressed form


def one_pass_equals_read(rounds: list[list[float]]) -> None:
    REPORTER.reset()
    quantiles = (0.5, 0.9, 0.95, 0.99, 0.999)
    for values in rounds:
        for value in values:
            metrics.observe("app.pass.one", value)
            metrics.observe("app.pass.reference", value)
        if "app.pass.one" not in registry.histograms:  # nothing recorded yet
            continue
        one = registry.histograms["app.pass.one"]
        reference = registry.histograms["app.pass.reference"]
        fast = one.interval_summary(quantiles, commit=True)
        assert fast is not None
        sketch = reference.read(commit=True)
        count, total, low, high, found, form = fast
        assert (count, total) == (sketch.count, sketch.sum)
        if count:
            assert (low, high) == (sketch.min, sketch.max)
            assert (found, form) == sketch.summary(quantiles)


def test_counters_and_gauges_with_nothing_new_are_left_out_of_delta_rounds_only() -> None:
    metrics.increment("app.idle.calls", 2, venue="x")
    metrics.gauge("app.idle.level", 5)
    metrics.observe("app.idle.step", 1.0)
    with capture():
        first = {p["name"]: p for p in metrics.report()}
        metrics.observe("app.idle.step", 1.0)  # the next interval's start, seen by a histogram
        second = {p["name"]: p for p in metrics.report()}
    assert (first["app.idle.calls"]["value"], first["app.idle.calls"]["attributes"]) == (
        2,
        {"venue": "x"},
    )
    assert first["app.idle.level"]["value"] == 5
    assert "app.idle.calls" not in second
    assert "app.idle.level" not in second
    metrics.increment("app.idle.calls", 3, venue="x")
    metrics.observe("app.idle.step", 1.0)
    counter, step = only("app.idle.calls"), only("app.idle.step")
    assert (counter["value"], counter["temporality"]) == (3, "delta")
    assert counter["start_time"] == step["start_time"] > second["app.idle.step"]["start_time"]
    assert points("app.idle.level") == []
    tapelog.configure({"sinks": [], "metrics": {"interval": "1h", "temporality": "cumulative"}})
    total, level = only("app.idle.calls"), only("app.idle.level")
    assert (total["value"], total["temporality"]) == (5, "cumulative")
    assert total["start_time"] == first["app.idle.calls"]["start_time"]
    assert (level["value"], level["type"]) == (5, "gauge")


def test_a_counter_incremented_by_several_threads_counts_every_increment_once() -> None:
    metrics.increment("app.shared.calls", 1)

    def work() -> None:
        for _ in range(100):
            metrics.increment("app.shared.calls", 2)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with capture():
        first = [p for p in metrics.report() if p["name"] == "app.shared.calls"]
    metrics.increment("app.shared.calls", 4)
    assert [p["value"] for p in first] == [601]
    assert only("app.shared.calls")["value"] == 4


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.floats(min_value=1e-4, max_value=1.0, allow_nan=False), min_size=20, max_size=200),
    st.lists(
        st.lists(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False), max_size=12),
        min_size=1,
        max_size=6,
    ),
)
def test_buckets_that_appear_after_the_first_rounds_keep_every_round_exact(
    first: list[float], later: list[list[float]]
) -> None:
    """A series that has run a while meets a few new buckets in a round (a tail reaching
    further: they are placed among the known ones rather than laid out afresh): each round
    is still exactly its own observations, bucket for bucket, with their percentiles."""
    REPORTER.reset()
    names, quantiles = ("p50", "p90", "p95", "p99", "p999"), (0.5, 0.9, 0.95, 0.99, 0.999)
    for values in [first, *(first[:7] + extra for extra in later)]:
        for value in values:
            metrics.observe("app.late.value", value, "1")
        with capture():
            (point,) = [p for p in metrics.report() if p["name"] == "app.late.value"]
        expected = metrics.Sketch()
        expected.update(values)
        back = metrics.Sketch.from_dict(point["sketch"])
        assert back.positive == expected.positive
        assert point["count"] == len(values)
        assert [point[name] for name in names] == expected.quantiles(quantiles)


def _reported(name: str) -> list[dict[str, Any]]:
    """The points ``metrics.report()`` gives for ``name`` now (written nowhere)."""
    with capture():
        return [point for point in metrics.report() if point["name"] == name]


def _holds_exactly(point: dict[str, Any], values: list[float]) -> metrics.Sketch:
    """Assert ``point`` holds exactly ``values``; the sketch of them, for more checks."""
    expected = metrics.Sketch()
    expected.update(values)
    back = metrics.Sketch.from_dict(point["sketch"])
    assert (back.positive, back.negative, back.zero_count) == (
        expected.positive,
        expected.negative,
        expected.zero_count,
    )
    assert point["count"] == len(values)
    return expected


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(
            st.one_of(
                st.floats(min_value=1e-3, max_value=10.0),  # within the first value's list
                st.floats(min_value=-1e12, max_value=1e12, allow_nan=False),  # any, 0 too
            ),
            max_size=40,
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=1, max_value=300),
)
def test_every_round_is_its_own_observations_wherever_they_are_counted(
    rounds: list[list[float]], weight: int
) -> None:
    """A shard counts positive values in a list around its first one and any other value
    aside; whichever way a round's observations went (and the series then switching to the
    general path), the round's sketch holds exactly its observations' buckets (positive,
    negative, zero), with their count and percentiles (``weight`` repeats make counts past
    255)."""
    REPORTER.reset()
    names, quantiles = ("p50", "p90", "p95", "p99", "p999"), (0.5, 0.9, 0.95, 0.99, 0.999)
    for drawn in rounds:
        values = drawn * weight if len(drawn) < 3 else drawn
        for value in values:
            metrics.observe("app.any.value", value, "1")
        found = _reported("app.any.value")
        if not values:
            assert found == []
            continue
        (point,) = found
        expected = _holds_exactly(point, values)
        assert [point.get(name) for name in names] == expected.quantiles(quantiles)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.lists(st.one_of(st.floats(min_value=1e-3, max_value=10.0), st.just(0.0)), max_size=30),
        min_size=1,
        max_size=5,
    ),
    st.integers(min_value=1, max_value=300),
)
def test_cumulative_rounds_hold_every_observation_so_far(
    rounds: list[list[float]], weight: int
) -> None:
    """With ``temporality = "cumulative"`` each round's sketch is exactly everything recorded
    so far (the one-thread series reads its list's window; zeros are counted aside)."""
    tapelog.configure({"sinks": [], "metrics": {"interval": "1h", "temporality": "cumulative"}})
    REPORTER.reset()
    everything: list[float] = []
    for drawn in rounds:
        values = drawn * weight if len(drawn) < 3 else drawn
        everything += values
        for value in values:
            metrics.observe("app.total.value", value, "1")
        found = _reported("app.total.value")
        if not everything:
            assert found == []
            continue
        (point,) = found
        _holds_exactly(point, everything)


def test_threads_recording_within_and_past_their_lists_lose_nothing() -> None:
    """Four threads, each with its own list of counts (around its own first value) and
    values far from it: the merged round counts every observation in its bucket."""
    per_thread = [[10.0 ** (k % 15 - 9) * (1 + j / 997) for k in range(3_000)] for j in range(4)]

    def record(values: list[float]) -> None:
        for value in values:
            metrics.observe("app.spread.value", value, "1")

    threads = [threading.Thread(target=record, args=(values,)) for values in per_thread]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    point = only("app.spread.value")
    expected = metrics.Sketch()
    for values in per_thread:
        expected.update(values)
    assert point["count"] == 12_000
    assert metrics.Sketch.from_dict(point["sketch"]).positive == expected.positive


def test_a_long_running_histograms_interval_is_written_plain_and_reads_back_exactly() -> None:
    """A latency histogram that has met about 450 buckets (its tails reached further over
    time) writes an interval of counts below 256 uncompressed, within the size cap, and the
    sketch reads back as exactly that interval's buckets."""
    REPORTER.reset()
    span = [1e-4 * 1.0202**i for i in range(450)]  # one value per bucket, 450 buckets
    for value in span:
        metrics.observe("app.long.value", value)
    with capture():
        metrics.report()
    interval = [value for value in span[::2] for _ in range(3)] + span[1::4]
    for value in interval:
        metrics.observe("app.long.value", value)
    point = only("app.long.value")
    text = str(point["sketch"]["bins"])
    assert base64.b64decode(text.removeprefix("3:"))[0] == 0  # plain
    assert len(json.dumps(point["sketch"])) <= 1536
    expected = metrics.Sketch()
    expected.update(interval)
    assert metrics.Sketch.from_dict(point["sketch"]).positive == expected.positive
