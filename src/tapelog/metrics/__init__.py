"""Metrics in the log: timers, histograms, counters and gauges, snapshotted periodically.

``timer``, ``observe``, ``increment`` and ``gauge`` record on the caller's thread at the
cost of a dictionary lookup and a few additions; a thread of tapelog's own writes one
``metrics.snapshot`` entry per metric and attribute set every ``[metrics] interval``,
with system readings when ``[metrics] system = true``, and evaluates the
``[[metrics.thresholds]]`` rules. Histograms keep p50 ... p999 within a stated relative
error (1% by default) in bounded memory, and their sketches merge across processes
(``Sketch``). See docs/metrics.md.

Public here is what a program calls: the four instruments, ``snapshot`` and ``report``,
``Timer`` (what ``timer`` returns) and ``Sketch`` (to merge or read a histogram's
``sketch`` form). The registry, the series, the reporter and the system sampler are
private; tapelog's runtime and ``tapelog metrics`` import them directly.
"""

from __future__ import annotations

from typing import Any

from tapelog.metrics._instruments import Timer, gauge, increment, observe, timer
from tapelog.metrics._reporter import REPORTER as _REPORTER
from tapelog.metrics._sketch import Sketch


__all__ = [
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
    return _REPORTER.snapshot()


def report() -> list[dict[str, Any]]:
    """Write the periodic snapshot now (and evaluate thresholds); return its points."""
    return _REPORTER.report()
