"""The domain features' budgets (#18 item 8), measured by their own benchmarks' functions.

``python -m benchmarks.budgets [--quick] [--out FILE]`` runs, in this one process, the
measuring functions of ``benchmarks.trading_audit``, ``benchmarks.metrics`` and
``benchmarks.errors`` (nothing is measured twice or differently here) and writes the
numbers each budget is checked on as JSON. ``python -m benchmarks`` starts it once per
repeat, in a fresh process each time, and reports the median and the spread.
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._common import emit


@dataclass(frozen=True)
class Budget:
    """One budget: the value it is checked on, its limit and which side is good."""

    key: str
    label: str
    limit: float
    unit: str
    at_most: bool = True
    item8: bool = True  # one of the budgets #18 item 8 names (the rest are #14's and #16's own)


BUDGETS = [
    Budget(
        "trade_placed_alone_us",
        "trade event, caller alone: `order_placed` minus `log.info`",
        2.0,
        "µs",
    ),
    Budget(
        "trade_filled_alone_us",
        "trade event, caller alone: `order_filled` minus `log.info`",
        2.0,
        "µs",
    ),
    Budget("trade_placed_us", "trade event, in place: `order_placed` minus `log.info`", 2.0, "µs"),
    Budget("trade_filled_us", "trade event, in place: `order_filled` minus `log.info`", 2.0, "µs"),
    Budget("seal_sha_us", "audit sealing per entry, unkeyed (SHA-256)", 0.6, "µs"),
    Budget("seal_hmac_us", "audit sealing per entry, keyed (HMAC-SHA256)", 1.8, "µs"),
    Budget(
        "verify_eps",
        "`tapelog verify`, entries/s of CPU time",
        500_000,
        "/s",
        at_most=False,
        item8=False,
    ),
    Budget("observe_ns", "metric observation, `metrics.observe(name, v)`", 250, "ns"),
    Budget(
        "snapshot_us", "metrics `snapshot()` of 30 series, repeated (warm)", 500, "µs", item8=False
    ),
    Budget(
        "round_us",
        "metrics reporter round of 30 series (cold: once per interval, after the app's work)",
        500,
        "µs",
        item8=False,
    ),
    Budget(
        "round_fresh_us",
        "the same round when each interval's values reach buckets not seen before",
        500,
        "µs",
        item8=False,
    ),
    Budget("error_us", "error capture without locals (the whole error object)", 100, "µs"),
]


def _pick(rows: list[tuple[str, float]], prefix: str) -> float | None:
    return next((value for label, value in rows if label.startswith(prefix)), None)


def _row(rows: list[dict[str, Any]], prefix: str, key: str) -> float | None:
    return next((r.get(key) for r in rows if str(r.get("row", "")).startswith(prefix)), None)


def measure(*, quick: bool) -> dict[str, Any]:
    """Every budget's number from one run of the three benchmarks' functions."""
    from benchmarks import errors, metrics, trading_audit

    entries, repeats = (20_000, 3) if quick else (100_000, 3)
    out: dict[str, Any] = {}
    # The caller alone (records discarded at the queue) first, as trading_audit's own
    # report does (caller_costs lets each run's large order table go once measured).
    alone = trading_audit.caller_costs_alone(entries, repeats)
    out["trade_alone_us"] = dict(alone)
    plain_alone = _pick(alone, "alone: log.info")
    for key, prefix in (
        ("trade_placed_alone_us", "alone: TradeLogger.order_placed"),
        ("trade_filled_alone_us", "alone: TradeLogger.order_filled"),
    ):
        value = _pick(alone, prefix)
        if plain_alone is not None and value is not None:
            out[key] = value - plain_alone
    gc.collect()
    with tempfile.TemporaryDirectory(prefix="tapelog-bench-budgets-") as name:
        directory = Path(name)
        callers = trading_audit.caller_costs(directory, entries, repeats)
        plain = _pick(callers, "log.info")
        placed = _pick(callers, "TradeLogger.order_placed")
        filled = _pick(callers, "TradeLogger.order_filled")
        out["trade_caller_us"] = dict(callers)
        if plain is not None and placed is not None:
            out["trade_placed_us"] = placed - plain
        if plain is not None and filled is not None:
            out["trade_filled_us"] = filled - plain
        sealing = trading_audit.sealing_costs(directory, entries, repeats)
        out["sealing_us"] = dict(sealing)
        out["seal_sha_us"] = _pick(sealing, "audit chaining alone, SHA-256")
        out["seal_hmac_us"] = _pick(sealing, "audit chaining alone, HMAC")
        out["verify_eps"] = trading_audit.verify_rate(directory, entries, repeats)

    metric_rows, _ = metrics.rows(20_000 if quick else 100_000, 3 if quick else 5)
    out["observe_ns"] = _row(metric_rows, "tapelog observe(name, v)", "median_ns")
    snapshots = metrics.snapshot_costs(5 if quick else 15)
    out["snapshot_us"] = _row(snapshots, "snapshot(): 10 histograms", "median_us")
    out["round_us"] = _row(snapshots, "reporter round", "median_us")
    out["round_fresh_us"] = _row(snapshots, "the same round, fresh values", "median_us")

    captured = errors.measure(100 if quick else 500)["microseconds_per_exception"]
    out["errors_us"] = captured
    out["error_us"] = next(
        (v for k, v in captured.items() if k.startswith("tapelog error object, no locals (")),
        None,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budgets")
    parser.add_argument("--quick", action="store_true", help="fewer entries and rounds")
    parser.add_argument("--out", type=Path, help="where to write the JSON result")
    args = parser.parse_args(argv)
    emit(measure(quick=args.quick), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
