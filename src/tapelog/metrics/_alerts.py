"""Threshold alerts: one state machine per rule and attribute set.

States: ``inactive`` -> ``pending`` (the condition holds, for less than ``for``) ->
``firing`` (it held ``for`` long: one ``metrics.threshold_exceeded`` warning) ->
``inactive`` again once the value is back past the *clear* level (one
``metrics.threshold_recovered`` info, with the incident's duration). The clear level
defaults to the limit; set it lower (for ``above``) to keep a value hovering around the
limit from firing and clearing on every evaluation. While firing nothing repeats.
``cooldown`` is the least time between two ``exceeded`` entries of one rule and attribute
set: a condition that returns sooner waits, pending, until the cooldown is over.

Rules are evaluated on each snapshot, on that snapshot's values. When a series has no
data in a snapshot (a delta histogram with no observations, a gauge not set since the last
one), ``nodata = "keep"`` (the default) leaves its state as it is, so an outage of data
neither resolves nor refires an alert; ``nodata = "resolve"`` ends a firing alert with a
recovery whose ``reason`` is ``no data``, and drops a pending one.

State survives a reload for rules whose metric, direction, statistic and attributes are
unchanged; a new limit applies to the state it finds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias, cast

from tapelog._levels import INFO, WARNING


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tapelog.config._model import ThresholdConfig


__all__ = ["Alert", "Alerts", "statistic"]

State: TypeAlias = Literal["inactive", "pending", "firing"]
Alert: TypeAlias = "tuple[int, str, dict[str, object], dict[str, object]]"
"""``(level, message, fields, metric object)`` of one entry to log."""

_PERCENTILES: Final = ("p50", "p90", "p95", "p99", "p999")


def statistic(point: Mapping[str, Any], stat: str | None) -> float | None:
    """The number a rule compares: ``stat`` of the point, by default its value or p99."""
    if stat is None:
        stat = "p99" if point.get("type") == "histogram" else "value"
    if stat == "mean":
        count, total = point.get("count"), point.get("sum")
        return total / count if isinstance(count, int) and count and total is not None else None
    value = point.get(stat)
    return float(value) if isinstance(value, int | float) else None


def _rule_key(rule: ThresholdConfig) -> tuple[object, ...]:
    direction = (
        "above" if rule.above is not None else "",
        "below" if rule.below is not None else "",
    )
    return (rule.metric, direction, rule.stat, tuple(sorted(rule.attributes.items())))


@dataclass(slots=True)
class _Instance:
    state: State = "inactive"
    since: float = 0.0
    """When it became pending (monotonic seconds)."""
    fired_at: float = 0.0
    last_exceeded: float | None = None
    peak: float = 0.0
    last_point: dict[str, Any] = field(default_factory=dict[str, Any])


def _attributes(point: Mapping[str, Any]) -> dict[str, object]:
    found = point.get("attributes")
    return cast("dict[str, object]", found) if isinstance(found, dict) else {}


def _matches(rule: ThresholdConfig, point: Mapping[str, Any]) -> bool:
    if point.get("name") != rule.metric:
        return False
    attributes = _attributes(point)
    return all(attributes.get(k) == v for k, v in rule.attributes.items())


def _seconds(value: float) -> float:
    return round(value, 3)


class Alerts:
    """Every rule's state; ``evaluate`` turns one snapshot into the entries to log."""

    def __init__(self) -> None:
        self.rules: tuple[ThresholdConfig, ...] = ()
        self._states: dict[tuple[object, ...], dict[tuple[tuple[str, object], ...], _Instance]] = {}

    def configure(self, rules: Iterable[ThresholdConfig]) -> None:
        """Take new rules, keeping the state of those that continue."""
        self.rules = tuple(rules)
        keys = {_rule_key(rule) for rule in self.rules}
        self._states = {k: v for k, v in self._states.items() if k in keys}

    def state_of(self, rule: ThresholdConfig, attributes: Mapping[str, object]) -> State:
        """A rule's state for one attribute set (``inactive`` if never seen)."""
        found = self._states.get(_rule_key(rule), {}).get(tuple(sorted(attributes.items())))
        return found.state if found is not None else "inactive"

    def evaluate(self, points: list[dict[str, Any]], now: float) -> list[Alert]:
        """Advance every state machine with one snapshot's points, taken at ``now``."""
        out: list[Alert] = []
        if not self.rules:
            return out
        by_name: dict[object, list[dict[str, Any]]] = {}
        for point in points:
            by_name.setdefault(point.get("name"), []).append(point)
        for rule in self.rules:
            states = self._states.setdefault(_rule_key(rule), {})
            seen: set[tuple[tuple[str, object], ...]] = set()
            for point in by_name.get(rule.metric, ()):
                if not _matches(rule, point):
                    continue
                value = statistic(point, rule.stat)
                if value is None:
                    continue
                key = tuple(sorted(_attributes(point).items()))
                seen.add(key)
                instance = states.setdefault(key, _Instance())
                instance.last_point = point
                alert = self._step(rule, instance, value, now, point)
                if alert is not None:
                    out.append(alert)
            if rule.nodata == "resolve":
                for key, instance in states.items():
                    if key in seen or instance.state == "inactive":
                        continue
                    if instance.state == "firing":
                        point = instance.last_point
                        out.append(self._recovered(rule, instance, None, now, point, "no data"))
                    instance.state = "inactive"
        return out

    def _step(
        self,
        rule: ThresholdConfig,
        instance: _Instance,
        value: float,
        now: float,
        point: dict[str, Any],
    ) -> Alert | None:
        breach = (rule.above is not None and value > rule.above) or (
            rule.below is not None and value < rule.below
        )
        if instance.state == "firing":
            if rule.above is not None and value > rule.above:
                instance.peak = max(instance.peak, value)
            elif rule.below is not None and rule.above is None and value < rule.below:
                instance.peak = min(instance.peak, value)
            if self._cleared(rule, value):
                instance.state = "inactive"
                return self._recovered(rule, instance, value, now, point, "cleared")
            return None
        if not breach:
            instance.state = "inactive"
            return None
        if instance.state == "inactive":
            instance.state, instance.since = "pending", now
        held = now - instance.since
        cooled = instance.last_exceeded is None or now - instance.last_exceeded >= rule.cooldown
        if held >= rule.hold and cooled:
            instance.state = "firing"
            instance.fired_at = instance.last_exceeded = now
            instance.peak = value
            return self._exceeded(rule, value, held, point)
        return None

    @staticmethod
    def _cleared(rule: ThresholdConfig, value: float) -> bool:
        if rule.above is not None and rule.below is not None:
            return rule.below <= value <= rule.above
        if rule.above is not None:
            return value <= (rule.clear if rule.clear is not None else rule.above)
        assert rule.below is not None
        return value >= (rule.clear if rule.clear is not None else rule.below)

    @staticmethod
    def _limits(rule: ThresholdConfig, value: float | None) -> tuple[str, float]:
        if rule.above is not None and (rule.below is None or value is None or value > rule.above):
            return "above", rule.above
        assert rule.below is not None
        return "below", rule.below

    @staticmethod
    def _metric(point: Mapping[str, Any], side: str, limit: float, state: str) -> dict[str, object]:
        metric = {k: v for k, v in point.items() if k != "sketch"}
        metric.setdefault("type", "gauge")
        metric.setdefault("unit", "1")
        if metric["type"] != "histogram":
            metric.setdefault("value", 0.0)
        elif "count" not in metric:
            metric["count"], metric["sum"] = 0, 0.0
        metric["threshold"] = {side: limit, "state": state}
        return metric

    def _exceeded(
        self, rule: ThresholdConfig, value: float, held: float, point: dict[str, Any]
    ) -> Alert:
        side, limit = self._limits(rule, value)
        stat = rule.stat or ("p99" if point.get("type") == "histogram" else "value")
        fields: dict[str, object] = {
            "event": "metrics.threshold_exceeded",
            "value": value,
            "limit": limit,
            "condition": side,
            "stat": stat,
            "held_s": _seconds(held),
            "for_s": rule.hold,
        }
        if rule.clear is not None:
            fields["clear_level"] = rule.clear
        message = (
            f"{rule.metric} {stat} {value:.6g} is {side} the limit {limit:g} "
            f"(held {_seconds(held):g}s)"
        )
        return WARNING, message, fields, self._metric(point, side, limit, "firing")

    def _recovered(  # noqa: PLR0917 - internal
        self,
        rule: ThresholdConfig,
        instance: _Instance,
        value: float | None,
        now: float,
        point: dict[str, Any],
        reason: str,
    ) -> Alert:
        side, limit = self._limits(rule, instance.peak)
        duration = now - instance.fired_at
        fields: dict[str, object] = {
            "event": "metrics.threshold_recovered",
            "limit": limit,
            "condition": side,
            "duration_s": _seconds(duration),
            "peak": instance.peak,
            "reason": reason,
        }
        if value is not None:
            fields["value"] = value
        if rule.clear is not None:
            fields["clear_level"] = rule.clear
        shown = f"{value:.6g}" if value is not None else "no data"
        message = (
            f"{rule.metric} recovered ({shown}; limit {side} {limit:g}) "
            f"after {_seconds(duration):g}s"
        )
        return INFO, message, fields, self._metric(point, side, limit, "resolved")
