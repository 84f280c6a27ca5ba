"""Metrics in the log: timers, histograms, counters and gauges, snapshotted periodically.

``timer``, ``observe``, ``increment`` and ``gauge`` record on the caller's thread at the
cost of a dictionary lookup and a few additions; a thread of tapelog's own writes one
``metrics.snapshot`` entry per metric and attribute set every ``[metrics] interval``,
with system readings when ``[metrics] system = true``, and evaluates the
``[[metrics.thresholds]]`` rules. Histograms keep p50 ... p999 within a stated relative
error (1% by default) in bounded memory, and their sketches merge across processes
(``Sketch``). See docs/metrics.md.
"""

from __future__ import annotations

from typing import Any

from tapelog.metrics._instruments import (
    AttributeValue,
    Timer,
    gauge,
    increment,
    observe,
    timer,
)
from tapelog.metrics._reporter import REPORTER
from tapelog.metrics._sketch import Sketch


__all__ = [
    "AttributeValue",
    "Sketch",
    "Timer",
    "gauge",
    "increment",
    "observe",
    "report",
    "snapshot",
    "timer",
]


def snapshot() -> list[dict[str, Any]]:
    """The ``metric`` objects of every series now (and system readings if configured).

    Does not end the interval: the next periodic snapshot still covers it.
    """
    return REPORTER.snapshot()


def report() -> list[dict[str, Any]]:
    """Write the periodic snapshot now (and evaluate thresholds); return its points."""
    return REPORTER.report()
