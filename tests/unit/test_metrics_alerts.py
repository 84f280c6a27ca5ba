"""Threshold rules as a state machine: fed snapshots at chosen times, no clocks involved."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from tapelog.config._model import ThresholdConfig
from tapelog.metrics._alerts import Alerts


def gauge(value: float, **attributes: object) -> dict[str, Any]:
    point: dict[str, Any] = {
        "name": "app.queue.depth",
        "type": "gauge",
        "unit": "1",
        "value": value,
    }
    if attributes:
        point["attributes"] = attributes
    return point


def run(alerts: Alerts, values: list[float | None], step: float = 1.0) -> list[tuple[float, str]]:
    """Feed one value per step (None: no data); return (time, event) of each alert."""
    out: list[tuple[float, str]] = []
    for i, value in enumerate(values):
        now = i * step
        points = [] if value is None else [gauge(value)]
        for _, _, fields, _ in alerts.evaluate(points, now):
            out.append((now, str(fields["event"])))
    return out


def rules(**options: Any) -> Alerts:
    alerts = Alerts()
    alerts.configure([ThresholdConfig(metric="app.queue.depth", **options)])
    return alerts


def test_one_warning_then_one_recovery_with_value_limit_and_durations() -> None:
    alerts = rules(above=10.0)
    first = alerts.evaluate([gauge(5)], 0.0)
    exceeded = alerts.evaluate([gauge(25)], 1.0)
    while_firing = alerts.evaluate([gauge(30)], 2.0) + alerts.evaluate([gauge(40)], 3.0)
    recovered = alerts.evaluate([gauge(3)], 4.5)
    assert first == []
    assert while_firing == []
    ((level, message, fields, metric),) = exceeded
    assert level == 30
    assert (fields["value"], fields["limit"], fields["condition"]) == (25, 10.0, "above")
    assert metric["threshold"] == {"above": 10.0, "state": "firing"}
    assert "25" in message
    assert "10" in message
    ((level, _, fields, metric),) = recovered
    assert level == 20
    assert fields["event"] == "metrics.threshold_recovered"
    assert (fields["duration_s"], fields["peak"], fields["value"]) == (3.5, 40, 3)
    assert metric["threshold"] == {"above": 10.0, "state": "resolved"}


def test_for_keeps_it_pending_until_the_condition_has_held() -> None:
    alerts = rules(above=10.0, hold=3.0)
    assert run(alerts, [20, 20, 5, 20, 20, 20, 20, 20]) == [(6.0, "metrics.threshold_exceeded")]


def test_fired_after_for_reports_how_long_it_held() -> None:
    alerts = rules(above=10.0, hold=2.0)
    alerts.evaluate([gauge(11)], 0.0)
    alerts.evaluate([gauge(11)], 1.0)
    ((_, _, fields, _),) = alerts.evaluate([gauge(12)], 2.5)
    assert fields["held_s"] == 2.5
    assert fields["for_s"] == 2.0


def test_a_clear_level_stops_flapping_around_the_limit() -> None:
    hovering = [11, 9, 11, 9, 11, 9, 11, 4, 11]
    without = run(rules(above=10.0), hovering)
    with_clear = run(rules(above=10.0, clear=5.0), hovering)
    assert len(without) == 9  # what a bare limit does: every crossing is news
    assert with_clear == [
        (0.0, "metrics.threshold_exceeded"),
        (7.0, "metrics.threshold_recovered"),
        (8.0, "metrics.threshold_exceeded"),
    ]


def test_cooldown_spaces_out_exceeded_entries() -> None:
    alerts = rules(above=10.0, cooldown=5.0)
    events = run(alerts, [11, 9, 11, 11, 11, 11, 11, 11])
    assert events == [
        (0.0, "metrics.threshold_exceeded"),
        (1.0, "metrics.threshold_recovered"),
        (5.0, "metrics.threshold_exceeded"),
    ]


def test_below_and_bands() -> None:
    assert run(rules(below=1.0, clear=2.0), [5, 0.5, 1.5, 2.5]) == [
        (1.0, "metrics.threshold_exceeded"),
        (3.0, "metrics.threshold_recovered"),
    ]
    band = rules(above=10.0, below=1.0)
    assert run(band, [5, 0, 5, 11, 5]) == [
        (1.0, "metrics.threshold_exceeded"),
        (2.0, "metrics.threshold_recovered"),
        (3.0, "metrics.threshold_exceeded"),
        (4.0, "metrics.threshold_recovered"),
    ]


def test_no_data_keeps_the_state_unless_told_to_resolve() -> None:
    assert run(rules(above=10.0), [20, None, None, 20, 5]) == [
        (0.0, "metrics.threshold_exceeded"),
        (4.0, "metrics.threshold_recovered"),
    ]
    resolving = rules(above=10.0, nodata="resolve")
    events = []
    for now, value in enumerate([20, None, 20]):
        for _, _, fields, _ in resolving.evaluate([] if value is None else [gauge(value)], now):
            events.append((fields["event"], fields.get("reason")))
    assert events == [
        ("metrics.threshold_exceeded", None),
        ("metrics.threshold_recovered", "no data"),
        ("metrics.threshold_exceeded", None),
    ]


def test_each_attribute_set_has_its_own_state_and_rules_can_pick_one() -> None:
    alerts = Alerts()
    alerts.configure(
        [
            ThresholdConfig(metric="app.queue.depth", above=10.0),
            ThresholdConfig(
                metric="app.queue.depth", above=1.0, attributes=MappingProxyType({"venue": "b"})
            ),
        ]
    )
    out = alerts.evaluate([gauge(20, venue="a"), gauge(5, venue="b")], 0.0)
    fired = sorted((f["limit"], m["attributes"]["venue"]) for _, _, f, m in out)
    assert fired == [(1.0, "b"), (10.0, "a")]
    assert alerts.evaluate([gauge(20, venue="a"), gauge(5, venue="b")], 1.0) == []


def test_histograms_are_judged_on_p99_or_the_stat_asked_for() -> None:
    point = {
        "name": "app.latency",
        "type": "histogram",
        "unit": "s",
        "count": 10,
        "sum": 1.0,
        "p99": 0.5,
        "max": 0.6,
        "sketch": {"bins": "x"},
    }
    alerts = Alerts()
    alerts.configure(
        [
            ThresholdConfig(metric="app.latency", above=0.4),
            ThresholdConfig(metric="app.latency", above=0.05, stat="mean"),
            ThresholdConfig(metric="app.latency", above=0.7, stat="max"),
        ]
    )
    out = alerts.evaluate([point], 0.0)
    assert sorted(f["stat"] for _, _, f, _ in out) == ["mean", "p99"]
    assert all("sketch" not in m for _, _, _, m in out)


def test_a_reload_keeps_the_state_of_continuing_rules() -> None:
    alerts = rules(above=10.0)
    alerts.evaluate([gauge(20)], 0.0)
    alerts.configure([ThresholdConfig(metric="app.queue.depth", above=15.0, clear=12.0)])
    assert alerts.evaluate([gauge(20)], 1.0) == []  # still firing: no second warning
    ((_, _, fields, _),) = alerts.evaluate([gauge(11)], 2.0)
    assert fields["event"] == "metrics.threshold_recovered"
