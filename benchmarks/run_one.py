"""One measurement in a fresh process: ``python -m benchmarks.run_one TARGET SCENARIO [...]``.

The parent (``python -m benchmarks``) starts one of these per (target, scenario, repeat), so
that no library's imports, caches, threads or heap state leak into another's numbers. The
result is one JSON object written to ``--out`` (or printed).

Scenarios:
    throughput    N disabled calls (disabled-level cost), a burst of 10,000 enabled calls
                  (caller cost when the queue has room), then N enabled calls as fast as
                  possible (caller cost, end-to-end rate, CPU, lines lost, peak RSS).
    request-loop  requests paced at ``--rate`` per second, each doing ``--work-iters``
                  iterations of pure-Python work and then logging one entry; per-request
                  latency. Target ``off`` does the work without logging.
    soak          N enabled calls in chunks, for the parent to sample RSS meanwhile.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from itertools import repeat
from pathlib import Path
from time import perf_counter_ns, process_time_ns, thread_time_ns
from typing import TYPE_CHECKING

from benchmarks._common import count_lines, current_rss_mib, peak_rss_mib, percentile
from benchmarks._targets import TARGETS, Harness


if TYPE_CHECKING:
    from collections.abc import Callable


WARMUP = 2_000
BURST = 10_000


def loop_kw(call: Callable[..., object], n: int) -> None:
    """The workload, fields as keyword arguments (tapelog, structlog, loguru, floors)."""
    for _ in repeat(None, n):
        call(
            "order placed", symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3", attempt=3
        )


def loop_extra(call: Callable[..., object], n: int) -> None:
    """The workload, stdlib style: the fields go in ``extra=``."""
    for _ in repeat(None, n):
        call(
            "order placed",
            extra={
                "symbol": "BTC-USD",
                "qty": 1.5,
                "price": 64000.25,
                "order_id": "a1b2c3",
                "attempt": 3,
            },
        )


LOOPS = {"kw": loop_kw, "extra": loop_extra}


def one_call(harness: Harness) -> Callable[[], object]:
    """A zero-argument function making one enabled call (for the request loop)."""
    info = harness.info
    if harness.style == "extra":

        def call_extra() -> object:
            return info(
                "order placed",
                extra={
                    "symbol": "BTC-USD",
                    "qty": 1.5,
                    "price": 64000.25,
                    "order_id": "a1b2c3",
                    "attempt": 3,
                },
            )

        return call_extra

    def call_kw() -> object:
        return info(
            "order placed", symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3", attempt=3
        )

    return call_kw


def work(iterations: int) -> int:
    """Simulated request handling: pure Python, so it holds the GIL like real handler code."""
    x = 0
    for i in range(iterations):
        x += i * i % 7
    return x


def _lines(path: Path, expected: int) -> dict[str, object]:
    found, total, size, sample = count_lines(path)
    return {
        "lines_expected": expected,
        "lines_found": found,
        "lines_other": total - found,
        "lines_lost": expected - found,
        "bytes_per_line": round(size / total, 1) if total else None,
        "sample_line": sample,
    }


def throughput(harness: Harness, path: Path, n: int) -> dict[str, object]:
    loop = LOOPS[harness.style]
    loop(harness.info, WARMUP)
    harness.drain()

    gc.collect()
    load = os.getloadavg()[0]
    c0 = thread_time_ns()
    t0 = perf_counter_ns()
    loop(harness.debug, n)
    disabled_ns = (perf_counter_ns() - t0) / n
    disabled_cpu_ns = (thread_time_ns() - c0) / n

    # A burst that fits in every queue, after a quiet moment: what an application sees
    # when it logs a few thousand entries at once, the writer starting meanwhile.
    burst = min(BURST, n)
    gc.collect()
    c0 = thread_time_ns()
    t0 = perf_counter_ns()
    loop(harness.info, burst)
    burst_ns = (perf_counter_ns() - t0) / burst
    burst_cpu_ns = (thread_time_ns() - c0) / burst
    harness.drain()

    gc.collect()
    rss_before = current_rss_mib()
    p0 = process_time_ns()
    c0 = thread_time_ns()
    t0 = perf_counter_ns()
    loop(harness.info, n)
    t1 = perf_counter_ns()
    c1 = thread_time_ns()
    harness.finish()
    t2 = perf_counter_ns()
    p2 = process_time_ns()
    stats = harness.stats()
    lines = _lines(path, WARMUP + burst + n)
    harness.close()
    return {
        "burst_ns": burst_ns,
        "burst_cpu_ns": burst_cpu_ns,
        "caller_ns": (t1 - t0) / n,
        "caller_cpu_ns": (c1 - c0) / n,
        "e2e_s": (t2 - t0) / 1e9,
        "e2e_eps": n / ((t2 - t0) / 1e9),
        "cpu_ns_per_entry": (p2 - p0) / n,
        "disabled_ns": disabled_ns,
        "disabled_cpu_ns": disabled_cpu_ns,
        "loadavg_1m": load,
        "rss_before_mib": rss_before,
        "peak_rss_mib": peak_rss_mib(),
        **lines,
        "stats": stats,
        "notes": harness.notes,
    }


def _pace(deadline: int) -> None:
    """Wait for ``deadline`` releasing the GIL, as a server idling in epoll would."""
    while (remaining := deadline - perf_counter_ns()) > 0:
        # Long waits sleep (the kernel oversleeps by ~50-80 us); short ones yield.
        time.sleep((remaining - 150_000) / 1e9 if remaining > 300_000 else 0)


def request_loop(
    harness: Harness | None, path: Path, requests: int, rate: float, work_iters: int
) -> dict[str, object]:
    call = one_call(harness) if harness is not None else None
    if harness is not None:
        LOOPS[harness.style](harness.info, WARMUP)
        harness.drain()
    for _ in range(200):
        work(work_iters)
    gc.collect()

    period = 1e9 / rate
    latency = [0] * requests
    service = [0] * requests
    lag = [0] * requests
    cpu = [0] * requests
    start = perf_counter_ns() + 1_000_000
    previous_end = start
    for i in range(requests):
        scheduled = start + int(i * period)
        _pace(scheduled)
        began = perf_counter_ns()
        cpu_began = thread_time_ns()
        work(work_iters)
        if call is not None:
            call()
        cpu[i] = thread_time_ns() - cpu_began
        ended = perf_counter_ns()
        # From when this request could start (its slot, or the end of the one before if
        # that overran) to its end: includes waiting for the GIL after the idle sleep,
        # excludes the backlog an overloaded machine builds up (an open-loop queue would
        # turn a few percent of extra work into unbounded latency).
        latency[i] = ended - max(scheduled, previous_end)
        service[i] = ended - began
        lag[i] = began - scheduled
        previous_end = ended
    elapsed = (perf_counter_ns() - start) / 1e9
    result: dict[str, object] = {
        "loadavg_1m": os.getloadavg()[0],
        "requests": requests,
        "rate": rate,
        "achieved_rate": requests / elapsed,
        "work_iters": work_iters,
        **{f"latency_{k}": v for k, v in _summary(latency).items()},
        **{f"service_{k}": v for k, v in _summary(service).items()},
        **{f"cpu_{k}": v for k, v in _summary(cpu).items()},
        "late_fraction": sum(1 for v in lag if v > period) / requests,
        "lag_mean_us": sum(lag) / requests / 1000,
    }
    if harness is not None:
        harness.finish()
        result.update(_lines(path, WARMUP + requests))
        result["stats"] = harness.stats()
        harness.close()
    result["peak_rss_mib"] = peak_rss_mib()
    return result


def _summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "mean_us": sum(ordered) / len(ordered) / 1000,
        "p50_us": percentile(ordered, 0.50) / 1000,
        "p99_us": percentile(ordered, 0.99) / 1000,
        "p999_us": percentile(ordered, 0.999) / 1000,
        "max_us": ordered[-1] / 1000,
    }


def soak(harness: Harness, path: Path, n: int) -> dict[str, object]:
    loop = LOOPS[harness.style]
    chunk = 100_000
    progress: list[tuple[float, int, float]] = []
    gc.collect()
    rss_start = current_rss_mib()
    t0 = perf_counter_ns()
    done = 0
    while done < n:
        step = min(chunk, n - done)
        loop(harness.info, step)
        done += step
        progress.append(((perf_counter_ns() - t0) / 1e9, done, current_rss_mib()))
    t1 = perf_counter_ns()
    harness.finish()
    t2 = perf_counter_ns()
    stats = harness.stats()
    lines = _lines(path, n)
    harness.close()
    return {
        "entries": n,
        "caller_s": (t1 - t0) / 1e9,
        "e2e_s": (t2 - t0) / 1e9,
        "e2e_eps": n / ((t2 - t0) / 1e9),
        "rss_start_mib": rss_start,
        "peak_rss_mib": peak_rss_mib(),
        "progress": progress,
        **lines,
        "stats": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run_one")
    parser.add_argument("target", choices=[*TARGETS, "off"])
    parser.add_argument("scenario", choices=["throughput", "request-loop", "soak"])
    parser.add_argument("-n", type=int, default=200_000, help="entries (requests for the loop)")
    parser.add_argument("--out", type=Path, help="where to write the JSON result")
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--work-iters", type=int, default=1_500)
    parser.add_argument("--dir", type=Path, help="where to put the log file (default: a temp dir)")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="tapelog-bench-", dir=args.dir))
    path = tmp / f"{args.target}.jsonl"
    try:
        harness = None if args.target == "off" else TARGETS[args.target].make(path)
        if args.scenario == "request-loop":
            result = request_loop(harness, path, args.n, args.rate, args.work_iters)
        elif harness is None:
            parser.error("target 'off' exists only for the request loop")
        elif args.scenario == "soak":
            result = soak(harness, path, args.n)
        else:
            result = throughput(harness, path, args.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {"target": args.target, "scenario": args.scenario, "n": args.n, **result}
    text = json.dumps(result)
    if args.out is None:
        print(text)
    else:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
