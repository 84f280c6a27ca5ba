"""Summarise metric entries of live and archived logs: a table, sparklines, alerts."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, cast

import orjson

from tapelog._logger import name_under
from tapelog.cli._query import EntryFilter, ReadStats, report, search
from tapelog.metrics._sketch import Sketch


if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable, Mapping
    from pathlib import Path
    from typing import TextIO


__all__ = ["Series", "add_arguments", "collect", "run", "sparkline"]

_EVENTS: Final = frozenset(
    {"metrics.snapshot", "metrics.threshold_exceeded", "metrics.threshold_recovered"}
)
_BARS: Final = "▁▂▃▄▅▆▇█"
_SPARK_WIDTH: Final = 24
_KIB: Final = 1024


@dataclass(slots=True)
class Series:
    """One metric and attribute set over the time range read."""

    name: str
    attributes: dict[str, object]
    kind: str = "gauge"
    unit: str = ""
    points: list[tuple[str, dict[str, Any]]] = field(
        default_factory=list[tuple[str, dict[str, Any]]]
    )
    alerts: list[tuple[str, str, dict[str, Any]]] = field(
        default_factory=list[tuple[str, str, dict[str, Any]]]
    )
    """``(timestamp, event, entry)`` of each threshold entry."""

    @property
    def label(self) -> str:
        """``name{key=value,...}``."""
        if not self.attributes:
            return self.name
        return self.name + "{" + ",".join(f"{k}={v}" for k, v in self.attributes.items()) + "}"

    @property
    def firing(self) -> tuple[str, dict[str, Any]] | None:
        """The open alert (its time and entry) if the last threshold entry is a warning."""
        if self.alerts and self.alerts[-1][1] == "metrics.threshold_exceeded":
            return self.alerts[-1][0], self.alerts[-1][2]
        return None

    def merged(self) -> Sketch | None:
        """All delta histogram points merged into one sketch (the latest if cumulative)."""
        histograms = [p for _, p in self.points if "sketch" in p]
        if not histograms:
            return None
        if histograms[-1].get("temporality") == "cumulative":
            histograms = histograms[-1:]
        total: Sketch | None = None
        for point in histograms:
            try:
                sketch = Sketch.from_dict(
                    point["sketch"],
                    count=point.get("count"),
                    total=point.get("sum"),
                    low=point.get("min"),
                    high=point.get("max"),
                )
                if total is None:
                    total = sketch
                else:
                    total.merge(sketch)
            except (ValueError, TypeError):
                continue
        return total

    def summary(self) -> dict[str, object]:
        """The row's numbers, as ``--json`` prints them."""
        out: dict[str, object] = {
            "name": self.name,
            "attributes": self.attributes,
            "type": self.kind,
            "unit": self.unit,
            "points": len(self.points),
        }
        if self.points:
            out["first"], out["last"] = self.points[0][0], self.points[-1][0]
        if self.kind == "histogram":
            sketch = self.merged()
            if sketch is not None:
                out["count"] = sketch.count
                for key, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
                    out[key] = sketch.quantile(q)
                out["max"] = sketch.max
                out["relative_error"] = sketch.relative_error
        else:
            values = [p["value"] for _, p in self.points if isinstance(p.get("value"), int | float)]
            if values:
                out["value"] = values[-1]
                out["min"], out["max"] = min(values), max(values)
                delta = self.points[-1][1].get("temporality") == "delta"
                if self.kind == "counter" and delta:
                    out["total"] = sum(values)
        out["alerts"] = sum(1 for _, event, _ in self.alerts if event.endswith("exceeded"))
        firing = self.firing
        if firing is not None:
            out["firing_since"] = firing[0]
        return out


def _key(metric: Mapping[str, Any]) -> tuple[str, str]:
    attributes: object = metric.get("attributes") or {}
    return str(metric.get("name")), orjson.dumps(attributes, option=orjson.OPT_SORT_KEYS).decode()


def collect(
    paths: Iterable[str | Path],
    keep: EntryFilter,
    names: Iterable[str] = (),
    stats: ReadStats | None = None,
) -> list[Series]:
    """Every series in the files, in order of first appearance; ``names``: prefixes to keep.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    wanted = tuple(names)
    found: dict[tuple[str, str], Series] = {}
    for hit in search(paths, keep, stats):
        entry = hit.entry
        event = entry.get("event")
        metric = entry.get("metric")
        if event not in _EVENTS or not isinstance(metric, dict):
            continue
        metric = cast("dict[str, Any]", metric)
        name = str(metric.get("name"))
        if wanted and not name_under(name, wanted):
            continue
        key = _key(metric)
        series = found.get(key)
        if series is None:
            attributes = cast("dict[str, object]", metric.get("attributes") or {})
            series = found[key] = Series(name, dict(attributes))
        stamp = str(entry.get("timestamp", ""))
        if event == "metrics.snapshot":
            series.kind = str(metric.get("type", series.kind))
            series.unit = str(metric.get("unit", series.unit))
            series.points.append((stamp, metric))
        else:
            series.alerts.append((stamp, str(event), entry))
    return list(found.values())


def sparkline(values: list[float], width: int = _SPARK_WIDTH) -> str:
    """Values as bars, averaged into at most ``width`` columns; flat when all are equal."""
    if not values:
        return ""
    if len(values) > width:
        size = len(values) / width
        values = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := values[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
        ]
    low, high = min(values), max(values)
    if not math.isfinite(high - low) or high == low:
        return _BARS[0] * len(values)
    scale = (len(_BARS) - 1) / (high - low)
    return "".join(_BARS[round((v - low) * scale)] for v in values)


def _number(value: object, unit: str = "", *, ratio: bool = False) -> str:
    if not isinstance(value, int | float):
        return "-"
    if ratio:
        return f"{value * 100:.1f}%"
    if unit == "s" and value < 1:
        return f"{value * 1000:.3g}ms"
    if unit == "By" and abs(value) >= _KIB:
        shown, suffix = float(value), "B"
        for suffix in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 - the last one is kept
            shown /= _KIB
            if abs(shown) < _KIB:
                break
        return f"{shown:.4g}{suffix}"
    return f"{value:.6g}"


def _row(series: Series, *, spark: bool) -> list[str]:
    s = series.summary()
    unit = series.unit
    ratio = series.name.endswith("utilization") and unit == "1"
    if series.kind == "histogram":
        numbers = (
            f"n={s.get('count', 0)} p50={_number(s.get('p50'), unit)} "
            f"p90={_number(s.get('p90'), unit)} p99={_number(s.get('p99'), unit)} "
            f"max={_number(s.get('max'), unit)}"
        )
    else:
        numbers = f"{_number(s.get('value'), unit, ratio=ratio)}"
        if "total" in s:
            numbers += f" total={_number(s['total'], unit)}"
        if len(series.points) > 1:
            low, high = (
                _number(s.get("min"), unit, ratio=ratio),
                _number(s.get("max"), unit, ratio=ratio),
            )
            numbers += f" min={low} max={high}"
    line = ""
    if spark:
        if series.kind == "histogram":
            p50 = [float(p.get("p50", 0)) for _, p in series.points if "p50" in p]
            p99 = [float(p.get("p99", 0)) for _, p in series.points if "p99" in p]
            line = f"p50 {sparkline(p50)}  p99 {sparkline(p99)}"
        else:
            values = [float(p["value"]) for _, p in series.points if "value" in p]
            line = sparkline(values)
    alert = ""
    firing = series.firing
    if firing is not None:
        entry = firing[1]
        alert = (
            f"! FIRING since {firing[0]}: {entry.get('condition', 'above')} "
            f"{_number(entry.get('limit'))} (value {_number(entry.get('value'))})"
        )
    elif s["alerts"]:
        alert = f"{s['alerts']} alert(s), resolved"
    return [
        ("! " if firing is not None else "  ") + series.label,
        f"{series.kind} {unit}".strip(),
        numbers,
        line,
        alert,
    ]


def render_table(rows: list[list[str]], stream: TextIO) -> None:
    """Columns padded to their widest cell; the last columns as they are."""
    if not rows:
        return
    header = ["METRIC", "TYPE", "LATEST / OVER RANGE", "TREND", "ALERTS"]
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for row in table:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        stream.write("  ".join(cells).rstrip() + "\n")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Paths, the time range, names, and how to show them."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log files or directories")
    parser.add_argument("--since", help="entries at or after: RFC 3339 or 1h, 2d ago")
    parser.add_argument("--until", help="entries before: RFC 3339 or 1h, 2d ago")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="only this metric or those under it (system.network); repeatable",
    )
    parser.add_argument(
        "--sparkline",
        action="store_true",
        default=None,
        help="draw trends even when stdout is not a terminal",
    )
    parser.add_argument(
        "--no-sparkline", dest="sparkline", action="store_false", help="never draw trends"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per series")


def run(args: argparse.Namespace) -> int:
    """Print the table; 2 on a bad argument or missing path, 1 if a file was unreadable."""
    try:
        keep = EntryFilter.build(since=args.since, until=args.until)
    except ValueError as exc:
        sys.stderr.write(f"tapelog metrics: {exc}\n")
        return 2
    stats = ReadStats()
    try:
        found = collect(args.paths, keep, args.name, stats)
    except FileNotFoundError as exc:
        sys.stderr.write(f"tapelog metrics: {exc.filename}: no such file or directory\n")
        return 2
    out = sys.stdout
    if args.json:
        for series in found:
            out.write(orjson.dumps(series.summary(), default=str).decode() + "\n")
    elif not found:
        sys.stderr.write("tapelog metrics: no metric entries found\n")
    else:
        spark = args.sparkline if args.sparkline is not None else out.isatty()
        rows = [_row(series, spark=spark) for series in found]
        if not spark:
            rows = [[*row[:3], "", row[4]] for row in rows]
        render_table(rows, out)
    out.flush()
    report(stats, "metrics")
    return 1 if stats.errors else 0
