"""The reporter: a thread of its own that snapshots every series each ``interval``.

Why a thread of its own rather than the dispatcher's worker: gathering system readings
costs a few hundred microseconds (psutil, or ``/proc``), and threshold rules run on the
result; on the worker that time would sit in front of every queued entry. The reporter
sleeps on an event between snapshots, wakes at once when the configuration changes, and
hands its entries to the dispatcher like any caller. It starts only when there is
something to report (system readings, a threshold rule, or a series recorded), and only
while ``[metrics] enabled`` is true.

Temporality. ``delta`` (the default): a counter or histogram point covers the interval
from ``start_time`` (the previous snapshot) to the entry's timestamp, and series with no
observations in it are not written. ``cumulative``: every point covers everything since
the series began (its ``start_time``). Gauges are the value now (no temporality);
``updowncounter`` points (memory in use, threads) are levels, cumulative by nature.

At interpreter exit the last, partial interval is written before the dispatcher drains.
A forked child forgets its parent's series and readings and starts its own.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import threading
import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from tapelog._levels import INFO
from tapelog.config._model import MetricsConfig
from tapelog.metrics._alerts import Alerts
from tapelog.metrics._instruments import registry
from tapelog.metrics._system import Reading, SystemSampler


if TYPE_CHECKING:
    from tapelog._logger import Logger


__all__ = ["REPORTER", "Reporter", "iso_time"]

_PERCENTILES: Final = (("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99), ("p999", 0.999))
_QUANTILES: Final = tuple(q for _, q in _PERCENTILES)
_LOGGER: Final = "tapelog.metrics"
_STOP_WAIT: Final = 2.0
_EPOCH: Final = date(1970, 1, 1)


@functools.lru_cache(maxsize=4)
def _date(days: int) -> str:
    """``YYYY-MM-DD`` of a day counted from the epoch."""
    return (_EPOCH + timedelta(days=days)).isoformat()


@functools.lru_cache(maxsize=256)  # a round's points share their start times
def iso_time(time_ns: int) -> str:
    """RFC 3339 UTC with six fractional digits, as entries' timestamps.

    By arithmetic on the day's seconds: ``datetime`` and ``strftime`` cost tens of
    microseconds when their code is not in the processor's caches, as at every round.
    """
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    days, seconds = divmod(seconds, 86_400)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    return f"{_date(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}.{nanos // 1000:06d}Z"


def _number(value: float) -> float | int:
    return value if isinstance(value, int) else float(value)


class Reporter:
    """Periodic snapshots, threshold alerts and ``snapshot()`` for one process."""

    def __init__(self) -> None:
        self.config = MetricsConfig()
        self.alerts = Alerts()
        self._lock = threading.RLock()  # one collection at a time; config changes
        self._wake = threading.Event()
        self._stopping = False
        self._runner: threading.Thread | None = None
        self._sampler: SystemSampler | None = None
        self._reading: Reading | None = None
        self._started_ns = time.time_ns()
        self._interval_start_ns = self._started_ns
        self._last_report = time.monotonic()
        self._seq = 0
        self._logger: Logger | None = None
        registry.on_new_series = self._on_new_series

    # -- configuration -----------------------------------------------------------------

    def apply(self, config: MetricsConfig) -> None:
        """Take a new ``[metrics]``; accumulated series and alert states are kept.

        A ``configure()`` after ``shutdown()`` starts the reporter again.
        """
        with self._lock:
            self._stopping = False
            self.config = config
            registry.relative_error = config.relative_error
            self.alerts.configure(config.thresholds)
            if config.system and self._sampler is None:
                self._sampler = SystemSampler()
                self._reading = self._sampler.read()
        self._wake.set()
        self._maybe_start()

    def _wanted(self) -> bool:
        config = self.config
        return config.enabled and bool(
            config.system
            or config.thresholds
            or registry.histograms
            or registry.counters
            or registry.gauges
        )

    def _on_new_series(self) -> None:
        if self._runner is None:
            self._maybe_start()

    def _maybe_start(self) -> None:
        with self._lock:
            if self._runner is not None or self._stopping or not self._wanted():
                return
            self._last_report = time.monotonic()
            thread = threading.Thread(target=self._run, name="tapelog-metrics", daemon=True)
            self._runner = thread
            thread.start()

    @property
    def running(self) -> bool:
        """Whether the reporter thread is running."""
        return self._runner is not None and self._runner.is_alive()

    # -- the thread --------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping and self._runner is threading.current_thread():
            due = self._last_report + self.config.interval
            wait = due - time.monotonic()
            if wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            if self._stopping:
                return
            if self.config.enabled:
                with contextlib.suppress(Exception):
                    self.report()
            else:
                self._last_report = time.monotonic()

    def stop(self, *, final: bool = True) -> None:
        """Stop the thread; ``final`` writes the last, partial interval first.

        ``tapelog.shutdown()`` calls this before the dispatcher drains, and so does the
        interpreter's exit; the second call finds nothing to do.
        """
        with self._lock:
            thread = self._runner
            if thread is None:
                return
            self._runner = None
            self._stopping = True
            self._wake.set()
        thread.join(_STOP_WAIT)
        if final and self.config.enabled:
            with contextlib.suppress(Exception):
                self.report()

    def reset(self) -> None:
        """Stop without a final snapshot and forget every series (for tests)."""
        self.stop(final=False)
        with self._lock:
            self._start_afresh()
        self._maybe_start()

    def after_fork_in_child(self) -> None:
        """A child records its own series from scratch."""
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._start_afresh()
        if self._sampler is not None:
            self._sampler = SystemSampler()
            self._reading = self._sampler.read()
        self._maybe_start()

    def _start_afresh(self) -> None:
        """No series, no alert state, no thread: as just configured."""
        registry.clear()
        self._runner = None
        self._stopping = False
        self.alerts = Alerts()
        self.alerts.configure(self.config.thresholds)
        self._started_ns = self._interval_start_ns = time.time_ns()
        self._last_report = time.monotonic()
        self._seq = 0

    # -- collecting --------------------------------------------------------------------

    def snapshot(self) -> list[dict[str, Any]]:
        """The ``metric`` objects of every series now, without ending the interval."""
        with self._lock:
            points, _ = self._collect(commit=False)
            return points

    def report(self) -> list[dict[str, Any]]:
        """End the interval: log one ``metrics.snapshot`` entry per point, then alerts."""
        with self._lock:
            began = time.perf_counter_ns()
            points, now_ns = self._collect(commit=True)
            now = time.monotonic()
            interval = now - self._last_report
            self._last_report = now
            alerts = self.alerts.evaluate(points, now)
            cost_ns = time.perf_counter_ns() - began
            cost_point: dict[str, Any] = {
                "name": "tapelog.metrics.collect.duration",
                "type": "gauge",
                "unit": "s",
                "value": cost_ns / 1e9,
            }
            points.append(cost_point)
            self._seq += 1
            self._write(points, alerts, cost_ns, interval, now_ns)
            return points

    def _write(
        self,
        points: list[dict[str, Any]],
        alerts: list[tuple[int, str, dict[str, object], dict[str, object]]],
        cost_ns: int,
        interval: float,
        now_ns: int,
    ) -> None:
        logger = self._get_logger()
        if logger.is_enabled(INFO):
            common = {
                "event": "metrics.snapshot",
                "snapshot_seq": self._seq,
                "interval_s": round(interval, 3),
                "collect_us": round(cost_ns / 1000),
            }
            for point in points:
                logger._emit(INFO, _describe(point), dict(common), {"metric": point})  # pyright: ignore[reportPrivateUsage]
        for level, message, fields, metric in alerts:
            if logger.is_enabled(level):
                metric.setdefault("start_time", iso_time(now_ns))
                logger._emit(level, message, fields, {"metric": metric})  # pyright: ignore[reportPrivateUsage]

    def _get_logger(self) -> Logger:
        if self._logger is None:
            from tapelog._runtime import RUNTIME

            self._logger = RUNTIME.get_logger(_LOGGER, {})
        return self._logger

    def _collect(self, *, commit: bool) -> tuple[list[dict[str, Any]], int]:
        now_ns = time.time_ns()
        cumulative = self.config.temporality == "cumulative"
        interval_start = self._interval_start_ns
        points: list[dict[str, Any]] = []
        if self.config.system and self._sampler is not None:
            points.extend(self._system_points(commit=commit, cumulative=cumulative))
        histograms, counters, gauges = registry.series()
        # A delta round formats its start time once: a series is new within the interval
        # only in its first round.
        round_start = iso_time(interval_start)
        for series in histograms:
            if not cumulative:
                fast = series.interval_summary(_QUANTILES, commit=commit)
                if fast is not None:
                    count, total, low, high, values, form = fast
                    if not count:
                        continue
                    start = series.start_ns
                    start_time = round_start if start <= interval_start else iso_time(start)
                    p50, p90, p95, p99, p999 = values
                    # Built whole, in the entry's key order; "attributes" dropped when
                    # there are none (a delete keeps the order of the rest, no copy).
                    point = {
                        "name": series.name,
                        "type": "histogram",
                        "unit": series.unit,
                        "attributes": None,
                        "temporality": "delta",
                        "start_time": start_time,
                        "count": count,
                        "sum": total,
                        "min": low,
                        "max": high,
                        "p50": p50,
                        "p90": p90,
                        "p95": p95,
                        "p99": p99,
                        "p999": p999,
                        "relative_error": series.relative_error,
                        "sketch": form,
                    }
                    if series.attributes:
                        point["attributes"] = dict(series.attributes)
                    else:
                        del point["attributes"]  # no copy: the rest keep their order
                    points.append(point)
                    continue
            sketch = series.read(commit=commit, cumulative=cumulative)
            if not sketch.count:
                continue
            start = series.start_ns if cumulative else max(series.start_ns, interval_start)
            point: dict[str, Any] = {"name": series.name, "type": "histogram", "unit": series.unit}
            if series.attributes:
                point["attributes"] = dict(series.attributes)
            point["temporality"] = "cumulative" if cumulative else "delta"
            point["start_time"] = iso_time(start)
            point["count"] = sketch.count
            point["sum"] = sketch.sum
            point["min"] = sketch.min
            point["max"] = sketch.max
            values, form = sketch.summary(_QUANTILES)
            for (key, _), value in zip(_PERCENTILES, values, strict=True):
                if value is not None:
                    point[key] = value
            point["relative_error"] = sketch.relative_error
            point["sketch"] = form
            points.append(point)
        # Counters and gauges: whether there is anything to write is decided before a point
        # is built.
        temporality = "cumulative" if cumulative else "delta"
        for series in counters:
            interval_value, total_value = series.read(commit=commit)
            if cumulative:
                start_time, value = iso_time(series.start_ns), total_value
            elif interval_value:
                start = series.start_ns
                start_time = round_start if start <= interval_start else iso_time(start)
                value = interval_value
            else:
                continue
            point = {
                "name": series.name,
                "type": "counter",
                "unit": series.unit,
                "attributes": None,
                "temporality": temporality,
                "start_time": start_time,
                "value": _number(value),
            }
            if series.attributes:
                point["attributes"] = dict(series.attributes)
            else:
                del point["attributes"]  # no copy: the rest keep their order
            points.append(point)
        for series in gauges:
            if not series.fresh and not cumulative:
                continue
            point = {
                "name": series.name,
                "type": "gauge",
                "unit": series.unit,
                "attributes": None,
                "value": _number(series.value),
            }
            if series.attributes:
                point["attributes"] = dict(series.attributes)
            else:
                del point["attributes"]  # no copy: the rest keep their order
            if commit:
                series.fresh = False
            points.append(point)
        if commit:
            self._interval_start_ns = now_ns
        return points, now_ns

    def _system_points(self, *, commit: bool, cumulative: bool) -> list[dict[str, Any]]:
        sampler = self._sampler
        assert sampler is not None
        now = sampler.read()
        before = self._reading or now
        if commit:
            self._reading = now
        elapsed = now.wall - before.wall
        process_start = iso_time(self._started_ns)
        interval_start = iso_time(self._interval_start_ns)
        points: list[dict[str, Any]] = []

        def add(name: str, kind: str, unit: str, value: float, **attributes: str) -> None:
            point: dict[str, Any] = {"name": name, "type": kind, "unit": unit, "value": value}
            if attributes:
                point["attributes"] = attributes
            if kind == "updowncounter":
                point["temporality"] = "cumulative"
                point["start_time"] = process_start
            elif kind == "counter":
                point["temporality"] = "cumulative" if cumulative else "delta"
                point["start_time"] = process_start if cumulative else interval_start
            points.append(point)

        def counter(
            name: str, unit: str, now_value: float, then_value: float, **attrs: str
        ) -> None:
            value = now_value if cumulative else max(0, now_value - then_value)
            add(name, "counter", unit, value, **attrs)

        if now.process_cpu is not None and before.process_cpu is not None:
            if elapsed > 0:
                used = (now.process_cpu - before.process_cpu) / (elapsed * sampler.cpus)
                add("process.cpu.utilization", "gauge", "1", round(max(0.0, used), 6))
            counter("process.cpu.time", "s", now.process_cpu, before.process_cpu)
        if now.process_memory is not None:
            resident, virtual = now.process_memory
            add("process.memory.usage", "updowncounter", "By", resident)
            add("process.memory.virtual", "updowncounter", "By", virtual)
        if now.threads is not None:
            add("process.thread.count", "updowncounter", "{thread}", now.threads)
        if now.system_cpu is not None and before.system_cpu is not None:
            total = now.system_cpu[1] - before.system_cpu[1]
            if total > 0:
                busy = (now.system_cpu[0] - before.system_cpu[0]) / total
                add("system.cpu.utilization", "gauge", "1", round(min(1.0, max(0.0, busy)), 6))
        if now.system_memory is not None and now.system_memory[1]:
            in_use, total_memory = now.system_memory
            state = {"system.memory.state": "used"}
            add("system.memory.usage", "updowncounter", "By", in_use, **state)
            add("system.memory.utilization", "gauge", "1", round(in_use / total_memory, 6))
        for name, attribute, values, before_values in (
            ("system.network.io", "network.io.direction", now.net, before.net),
            ("system.disk.io", "disk.io.direction", now.disk, before.disk),
        ):
            for direction, value in values.items():
                then = before_values.get(direction, value)
                counter(name, "By", value, then, **{attribute: direction})
        return points


def _describe(point: dict[str, Any]) -> str:
    """The entry's message: the name and the numbers a person looks for."""
    name, unit = point["name"], point.get("unit", "")
    attributes = point.get("attributes")
    label = name
    if attributes:
        label += "{" + ",".join(f"{k}={v}" for k, v in attributes.items()) + "}"
    if point.get("type") == "histogram":
        parts = [f"count={point['count']}"]
        parts += [f"{key}={point[key]:.6g}" for key, _ in _PERCENTILES[::3] if key in point]
        parts.append(f"max={point['max']:.6g}")
        return f"{label} " + " ".join(parts) + f" {unit}"
    return f"{label} = {point['value']:.6g} {unit}"


REPORTER: Final = Reporter()

atexit.register(REPORTER.stop)
os.register_at_fork(after_in_child=REPORTER.after_fork_in_child)
