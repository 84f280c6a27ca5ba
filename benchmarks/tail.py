"""Where the request loop's slow requests come from: ``python -m benchmarks.tail``.

Runs the paired request loop (``run_one.request_loop``: blocks with and without the log
call, in one process) through tapelog (async) while recording, on the side:

- every batch the worker ran (``Dispatcher._drain_once``, wrapped): when it started and
  ended, how many entries were queued when it began, and its CPU time (user and system);
- every garbage collection (``gc.callbacks``): when, how long, which generation;
- every request: its slot, when its latency started (closed form) and when it ended.

Then it takes the requests slower than the no-logging arm's 99th percentile, in each arm
and in both forms (closed: from the slot or the previous request's end; open: from the
slot), and says what overlapped each one: a worker batch, a collection, both, or neither.
The "excess" (slow requests with logging minus slow requests without) is what logging adds
to the tail; the overlap says which part of tapelog it came from. This is a diagnostic for
docs/architecture.md ("The worker's GIL holds"), not part of the report.

    .venv/bin/python -m benchmarks.tail --seconds 10
    .venv/bin/python -m benchmarks.tail --variant switch-1ms
"""

from __future__ import annotations

import argparse
import bisect
import gc
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter_ns
from typing import Any

from benchmarks._common import percentile
from benchmarks._targets import TARGETS
from benchmarks.run_one import request_loop


VARIANTS = {
    "default": "tapelog",
    "switch-1ms": "tapelog-switch-1ms",
}


def _overlaps(spans: list[tuple[int, int]], starts: list[int], lo: int, hi: int) -> int:
    """Nanoseconds of [lo, hi) covered by ``spans`` (sorted, not overlapping each other)."""
    total = 0
    i = max(0, bisect.bisect_right(starts, lo) - 1)
    while i < len(spans) and spans[i][0] < hi:
        a, b = spans[i]
        total += max(0, min(b, hi) - max(a, lo))
        i += 1
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tail")
    parser.add_argument("--variant", choices=list(VARIANTS), default="default")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--block-seconds", type=float, default=0.5)
    parser.add_argument("--work-iters", type=int, help="default: calibrated to ~75 us")
    args = parser.parse_args(argv)
    from benchmarks.__main__ import WORK_TARGET_US, calibrate_work

    iters = args.work_iters or calibrate_work()
    block = round(args.rate * args.block_seconds)
    tmp = Path(tempfile.mkdtemp(prefix="tapelog-tail-"))
    path = tmp / "tail.jsonl"
    harness = TARGETS[VARIANTS[args.variant]].make(path)
    from tapelog._runtime import RUNTIME

    dispatcher: Any = RUNTIME.dispatcher
    batches: list[tuple[int, int, int]] = []
    cpu = [0.0, 0.0, 0]  # the worker's user and system seconds in batches, entries taken
    drain_once = dispatcher._drain_once

    def traced(queue: Any) -> None:
        depth = len(queue)
        r0 = resource.getrusage(resource.RUSAGE_THREAD)
        t0 = perf_counter_ns()
        drain_once(queue)
        batches.append((t0, perf_counter_ns(), depth))
        r1 = resource.getrusage(resource.RUSAGE_THREAD)
        cpu[0] += r1.ru_utime - r0.ru_utime
        cpu[1] += r1.ru_stime - r0.ru_stime
        cpu[2] += min(depth, dispatcher._batch_size)

    dispatcher._drain_once = traced  # the worker looks the method up on every round
    collections: list[tuple[int, int, int]] = []
    began = [0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0] = perf_counter_ns()
        else:
            collections.append((began[0], perf_counter_ns(), info["generation"]))

    gc.callbacks.append(on_gc)
    marks: list[int] = []
    try:
        result = request_loop(
            harness,
            path,
            int(args.rate * args.seconds),
            args.rate,
            iters,
            block=block,
            settle=block // 10,
            marks=marks,
            work_us=WORK_TARGET_US,
        )
    finally:
        gc.callbacks.remove(on_gc)
        shutil.rmtree(tmp, ignore_errors=True)
    print(report(result, marks, batches, collections, block), end="")
    if cpu[2]:
        print(
            f"worker CPU in batches: {cpu[0] * 1e6 / cpu[2]:.2f} us user + "
            f"{cpu[1] * 1e6 / cpu[2]:.2f} us system per entry ({cpu[2]:,} entries); caller: "
            f"{result['cpu_mean_us'] - result['off_cpu_mean_us']:+.2f} us CPU per request"
        )
    return 0


def report(
    result: dict[str, Any],
    marks: list[int],
    batches: list[tuple[int, int, int]],
    collections: list[tuple[int, int, int]],
    block: int,
) -> str:
    settle = block // 10
    arms: list[bool] = result["arms"]
    batch_spans = [(a, b) for a, b, _ in batches]
    batch_starts = [a for a, _ in batch_spans]
    gc_spans = [(a, b) for a, b, _ in collections]
    gc_starts = [a for a, _ in gc_spans]
    # The loop's slots: request i's is start + i * period, and request 0 starts at ``start``.
    period = 1e9 / result["rate"]
    slots = [marks[0] + int(i * period) for i in range(len(marks) // 2)]
    lines = [
        (
            f"closed p99 without logging {result['off_latency_p99_us']:.1f} us, with "
            f"{result['latency_p99_us']:.1f} us (pooled {result['pooled_p99_pct']:+.1f}%, "
            f"median pair {result['added_p99_pct']:+.1f}%); open p99 "
            f"{result['off_open_latency_p99_us']:.1f} -> {result['open_latency_p99_us']:.1f} us "
            f"(median pair {result['open_added_p99_pct']:+.1f}%); mean "
            f"{result['added_mean_pct']:+.1f}%; {result['achieved_rate']:,.0f} requests/s; "
            f"late {result['late_fraction_on']:.1%} with logging, "
            f"{result['late_fraction_off']:.1%} without"
        ),
    ]
    kinds = ("worker batch", "collection", "both", "neither")
    for form, key in (("closed", "off_latency_p99_us"), ("open", "off_open_latency_p99_us")):
        threshold = result[key] * 1000
        for on in (True, False):
            counts = dict.fromkeys(kinds, 0)
            held: list[int] = []
            total = 0
            for b, arm in enumerate(arms):
                if arm != on:
                    continue
                for i in range(b * block + settle, (b + 1) * block):
                    lo = marks[2 * i] if form == "closed" else slots[i]
                    hi = marks[2 * i + 1]
                    total += 1
                    if hi - lo <= threshold:
                        continue
                    in_batch = _overlaps(batch_spans, batch_starts, lo, hi)
                    in_gc = _overlaps(gc_spans, gc_starts, lo, hi)
                    kind = (
                        "both"
                        if in_batch and in_gc
                        else "worker batch"
                        if in_batch
                        else "collection"
                        if in_gc
                        else "neither"
                    )
                    counts[kind] += 1
                    held.append(in_batch)
            slow = sum(counts.values())
            lines.append(
                f"{form}, {'with' if on else 'without'} logging: {slow} of {total:,} requests "
                f"above {threshold / 1000:.1f} us ({slow / total:.2%}): "
                + ", ".join(f"{k} {v}" for k, v in counts.items())
                + (
                    f"; time inside a worker batch per slow request: median "
                    f"{statistics.median(held) / 1000:.0f} us, max {max(held) / 1000:.0f} us"
                    if held
                    else ""
                )
            )
    durations = sorted(b - a for a, b, _ in batches)
    depths = sorted(d for _, _, d in batches)
    if durations:
        lines.append(
            f"worker batches: {len(durations):,}, wall time (waits for the GIL included) p50 "
            f"{percentile(durations, 0.5) / 1000:.0f} us, p99 "
            f"{percentile(durations, 0.99) / 1000:.0f} us, max {durations[-1] / 1000:.0f} us; "
            f"queued when it began p50 {percentile(depths, 0.5)}, p99 "
            f"{percentile(depths, 0.99)}, max {depths[-1]}"
        )
    if collections:
        by_gen = [sorted(b - a for a, b, g in collections if g == gen) for gen in range(3)]
        lines.append(
            "collections: "
            + ", ".join(
                f"gen {gen} x{len(d)} (max {d[-1] / 1000:.0f} us)"
                for gen, d in enumerate(by_gen)
                if d
            )
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
