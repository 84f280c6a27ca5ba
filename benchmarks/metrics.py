"""``python -m benchmarks.metrics``: what recording a metric costs the caller, beside its peers.

One process, one run: for each row, the least and the median over interleaved repeats of
the thread's CPU time (``time.thread_time_ns``: a shared host's other processes do not
count) per call in a loop of N calls (the loop's own cost, measured the same way on an
empty body, subtracted), then the CPU cost of a snapshot round and the serialised size of
a histogram. Writes
``benchmarks/results/metrics.md`` and ``metrics.json``. Peers that are not installed are
listed as missing rather than failing the run.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from typing import TYPE_CHECKING, Any

from benchmarks._common import RESULTS


if TYPE_CHECKING:
    from collections.abc import Callable


def once(body: Callable[[list[float]], None], values: list[float]) -> float:
    """ns per value of one ``body(values)``."""
    start = time.thread_time_ns()
    body(values)
    return (time.thread_time_ns() - start) / len(values)


def rows(n: int, repeats: int) -> tuple[list[dict[str, Any]], float]:
    import tapelog
    from tapelog import metrics

    tapelog.configure({"sinks": [], "metrics": {"enabled": False}})
    rng = random.Random(7)
    values = [rng.lognormvariate(-5, 1) for _ in range(n)]
    out: list[dict[str, Any]] = []

    def empty(vs: list[float]) -> None:
        for _ in vs:
            pass

    bodies: list[tuple[str, Callable[[list[float]], None], str]] = []

    def add(name: str, body: Callable[[list[float]], None], note: str = "") -> None:
        body(values[:1000])  # warm-up (creates the series)
        bodies.append((name, body, note))

    observe = metrics.observe

    def tapelog_observe(vs: list[float]) -> None:
        for v in vs:
            observe("bench.latency", v)

    def tapelog_observe_attrs(vs: list[float]) -> None:
        for v in vs:
            observe("bench.latency.attrs", v, method="GET", status=200)

    increment = metrics.increment

    def tapelog_increment(vs: list[float]) -> None:
        for _ in vs:
            increment("bench.count")

    gauge = metrics.gauge

    def tapelog_gauge(vs: list[float]) -> None:
        for v in vs:
            gauge("bench.level", v)

    timer = metrics.timer("bench.timer")

    def tapelog_timer(vs: list[float]) -> None:
        for _ in vs:
            with timer:
                pass

    add("tapelog observe(name, v)", tapelog_observe, "the target: at most 250 ns")
    add("tapelog observe(name, v, method=, status=)", tapelog_observe_attrs, "two attributes")
    add("tapelog increment(name)", tapelog_increment)
    add("tapelog gauge(name, v)", tapelog_gauge)
    add("tapelog with timer: (two clock reads + observe)", tapelog_timer)

    try:
        from ddsketch import DDSketch

        sketch = DDSketch(0.01)
        dd_add = sketch.add

        def ddsketch_add(vs: list[float]) -> None:
            for v in vs:
                dd_add(v)

        add("ddsketch DDSketch(0.01).add(v)", ddsketch_add)
    except ImportError:
        out.append({"row": "ddsketch", "ns_per_call": None, "note": "not installed"})
    try:
        from hdrh.histogram import HdrHistogram

        hdr = HdrHistogram(1, 60_000_000, 2)
        hdr_record = hdr.record_value

        def hdr_add(vs: list[float]) -> None:
            for v in vs:
                hdr_record(int(v * 1e6) or 1)

        add("hdrhistogram record_value(int(us)) (2 digits)", hdr_add, "int conversion included")
    except ImportError:
        out.append({"row": "hdrhistogram", "ns_per_call": None, "note": "not installed"})
    try:
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader

        provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
        histogram = provider.get_meter("bench").create_histogram("bench.latency", unit="s")
        otel_record = histogram.record

        def otel(vs: list[float]) -> None:
            for v in vs:
                otel_record(v)

        add("OpenTelemetry SDK Histogram.record(v)", otel, "explicit buckets (default)")
    except ImportError:
        out.append({"row": "opentelemetry-sdk", "ns_per_call": None, "note": "not installed"})
    # Repeats interleave the rows, so a burst of load on the shared host hits them all alike;
    # the minimum is the least disturbed run, the median the typical one.
    runs: dict[str, list[float]] = {name: [] for name, _, _ in bodies}
    loops: list[float] = []
    for _ in range(repeats):
        loops.append(once(empty, values))
        for name, body, _ in bodies:
            runs[name].append(once(body, values))
    loop = min(loops)
    for name, _, note in bodies:
        best, typical = min(runs[name]) - loop, statistics.median(runs[name]) - loop
        out.append(
            {
                "row": name,
                "ns_per_call": round(best, 1),
                "median_ns": round(typical, 1),
                "note": note,
            }
        )
        print(f"{name:55} {best:8.1f} ns (median {typical:.1f})", file=sys.stderr, flush=True)
    return out, loop


def snapshot_costs(repeats: int) -> list[dict[str, Any]]:
    import tapelog
    from tapelog import metrics
    from tapelog.metrics import Sketch
    from tapelog.metrics._reporter import REPORTER
    from tapelog.metrics._system import SystemSampler

    out = []
    tapelog.configure({"sinks": [], "metrics": {"enabled": False}})

    def record(values: int) -> int:
        """Ten series of each kind, the histograms of ``values`` each; their buckets."""
        REPORTER.reset()
        rng = random.Random(3)
        for i in range(10):
            for _ in range(values):
                metrics.observe("bench.snapshot.latency", rng.lognormvariate(-5, 1), route=f"/r{i}")
            metrics.increment("bench.snapshot.count", route=f"/r{i}")
            metrics.gauge("bench.snapshot.level", i, route=f"/r{i}")
        histograms = [p for p in metrics.snapshot() if p["type"] == "histogram"]
        return round(
            statistics.mean(len(Sketch.from_dict(p["sketch"]).positive) for p in histograms)
        )

    def timed(label: str, body: Callable[[], object]) -> None:
        runs = []
        for _ in range(repeats):
            start = time.thread_time_ns()
            body()
            runs.append((time.thread_time_ns() - start) / 1000)
        cost, typical = min(runs), statistics.median(runs)
        out.append({"row": label, "us": round(cost, 1), "median_us": round(typical, 1)})
        print(f"{label:55} {cost:8.1f} us (median {typical:.1f})", file=sys.stderr, flush=True)

    buckets = record(1_000)
    timed(
        f"snapshot(): 10 histograms of 1,000 values (~{buckets} buckets), 10 counters, 10 gauges",
        metrics.snapshot,
    )
    buckets = record(10_000)
    timed(
        f"snapshot(): 10 histograms of 10,000 values (~{buckets} buckets), 10 counters, 10 gauges",
        metrics.snapshot,
    )
    sampler = SystemSampler()
    timed(f"system readings alone ({sampler.source})", sampler.read)
    fallback = SystemSampler(use_psutil=False)
    timed(f"system readings alone ({fallback.source}, no psutil)", fallback.read)
    tapelog.configure({"sinks": [], "metrics": {"enabled": False, "system": True}})
    timed("snapshot(): the same 30 series + system readings", metrics.snapshot)
    tapelog.configure({"sinks": [], "metrics": {"enabled": False}})
    rng = random.Random(5)
    same = [rng.lognormvariate(-5, 1) for _ in range(10_000)]

    def rounds(label: str, values: Callable[[], list[float]]) -> None:
        """The reporter's own round, without system readings, after ``values()`` per
        histogram since the last one (recorded outside the timing); the round ends the
        interval (commit), as every ``interval`` seconds: colder than repeated snapshot()
        calls (caches refilled by the recording)."""
        runs = []
        for _ in range(repeats):
            for i in range(10):
                for value in values():
                    metrics.observe("bench.snapshot.latency", value, route=f"/r{i}")
                metrics.increment("bench.snapshot.count", route=f"/r{i}")
                metrics.gauge("bench.snapshot.level", i, route=f"/r{i}")
            start = time.thread_time_ns()
            REPORTER._collect(commit=True)  # pyright: ignore[reportPrivateUsage]
            runs.append((time.thread_time_ns() - start) / 1000)
        out.append(
            {
                "row": label,
                "us": round(min(runs), 1),
                "median_us": round(statistics.median(runs), 1),
            }
        )
        print(f"{label:55} {min(runs):8.1f} us", file=sys.stderr, flush=True)

    # The same 10,000 values each round: after the first, no histogram meets a new bucket.
    rounds(
        "reporter round of the 30 series (ends the interval), 10,000 new values each", lambda: same
    )
    # Values never recorded before each round (as in a program, where tails reach buckets
    # not seen yet and a series' keys grow), drawn outside the timing like the recording.
    rounds(
        "the same round, fresh values each round (a young series: new buckets)",
        lambda: [rng.lognormvariate(-5, 1) for _ in range(10_000)],
    )
    REPORTER.reset()
    return out


def sizes() -> list[dict[str, Any]]:
    from tapelog.metrics import Sketch

    rng = random.Random(11)
    draws = {
        "lognormal(-5, 1) latencies": lambda: rng.lognormvariate(-5, 1),
        "Pareto(1.2) / 1000": lambda: rng.paretovariate(1.2) / 1000,
        "uniform 1 ms .. 2 s": lambda: rng.uniform(0.001, 2.0),
        "exponential, mean 10 ms": lambda: rng.expovariate(100),
    }
    out = []
    for label, draw in draws.items():
        sketch = Sketch()
        data = [draw() for _ in range(1_000_000)]
        sketch.update(data)
        form = sketch.to_dict()
        text = json.dumps(form)
        ordered = sorted(data)
        worst = max(
            abs(sketch.quantile(q) - ordered[math.floor(q * (len(data) - 1))])  # type: ignore[operator]
            / ordered[math.floor(q * (len(data) - 1))]
            for q in (0.5, 0.9, 0.95, 0.99, 0.999)
        )
        row: dict[str, Any] = {
            "distribution": label,
            "buckets": sketch.bins,
            "sketch_json_bytes": len(text),
            "worst_relative_error": round(worst, 5),
        }
        try:
            from ddsketch import DDSketch
            from ddsketch.pb.proto import DDSketchProto

            peer = DDSketch(0.01)
            for v in data:
                peer.add(v)
            row["ddsketch_protobuf_bytes"] = len(DDSketchProto.to_proto(peer).SerializeToString())
        except ImportError:
            pass
        out.append(row)
        print(row, file=sys.stderr, flush=True)
    return out


def write(results: dict[str, Any]) -> None:
    lines = [
        "# Metrics: recording cost, snapshot cost, serialised size",
        "",
        (
            f"Python {sys.version.split()[0]}, {results['n']:,} values per repeat, "
            f"{results['repeats']} interleaved repeats; the empty loop "
            f"({results['loop_ns']:.1f} ns) is subtracted. Times are the thread's CPU time "
            "(time.thread_time_ns); on a shared 2-core host the least of the repeats is the "
            "better estimate of a call's own cost; compare rows within one run (ratios)."
        ),
        "",
        "| row | ns per call (least) | ns per call (median) | note |",
        "|---|---:|---:|---|",
    ]
    for row in results["calls"]:
        cost = row["ns_per_call"]
        shown = "-" if cost is None else cost
        lines.append(f"| {row['row']} | {shown} | {row.get('median_ns', '-')} | {row['note']} |")
    lines += ["", "| snapshot | us (least) | us (median) |", "|---|---:|---:|"]
    lines += [
        f"| {row['row']} | {row['us']} | {row.get('median_us', '-')} |"
        for row in results["snapshots"]
    ]
    lines += [
        "",
        "| 1,000,000 values | buckets | sketch in the entry (JSON bytes) | ddsketch protobuf bytes | worst error p50..p999 |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in results["sizes"]:
        lines.append(
            f"| {row['distribution']} | {row['buckets']} | {row['sketch_json_bytes']} | "
            f"{row.get('ddsketch_protobuf_bytes', '-')} | {row['worst_relative_error']:.3%} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "metrics.md").write_text("\n".join(lines) + "\n")
    (RESULTS / "metrics.json").write_text(json.dumps(results, indent=2) + "\n")
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.metrics")
    parser.add_argument("-n", type=int, default=200_000, help="values per repeat")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    calls, loop = rows(args.n, args.repeats)
    results = {
        "n": args.n,
        "repeats": args.repeats,
        "loop_ns": loop,
        "calls": calls,
        "snapshots": snapshot_costs(args.repeats),
        "sizes": sizes(),
    }
    write(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
