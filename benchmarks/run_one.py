"""One measurement in a fresh process: ``python -m benchmarks.run_one TARGET SCENARIO [...]``.

The parent (``python -m benchmarks``) starts one of these per (target, scenario, repeat), so
that no library's imports, caches, threads or heap state leak into another's numbers. The
result is one JSON object written to ``--out`` (or printed).

Scenarios:
    throughput    N disabled calls (disabled-level cost), a burst of 10,000 enabled calls
                  (caller cost when the queue has room), then N enabled calls as fast as
                  possible (caller cost, end-to-end rate, CPU, lines lost, peak RSS).
    request-loop  requests paced at ``--rate`` per second, each doing ``--work-iters``
                  iterations of pure-Python work, in blocks of ``--block`` with and
                  without the log call by turns (a paired design in one process);
                  per-request latency of each arm. Target ``off``: no call in either arm.
    soak          N enabled calls in chunks, for the parent to sample RSS meanwhile.
    calls         the calls table: ns per call for a static message, a message with 10
                  fields and a disabled call (N calls per round, ``--rounds`` rounds), then
                  a tracemalloc pass counting what each call allocates.
    rate          the fixed-rate curve: ``--threads`` threads logging at each of
                  ``--rates`` total calls/s for ``--seconds``, then unpaced; latency from
                  each call's intended send time (free of coordinated omission).
"""

from __future__ import annotations

import argparse
import faulthandler
import gc
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from dataclasses import dataclass
from itertools import repeat
from pathlib import Path
from time import perf_counter_ns, process_time_ns, thread_time_ns
from typing import TYPE_CHECKING

from benchmarks._common import count_lines, current_rss_mib, emit, peak_rss_mib, percentile
from benchmarks._targets import FIELDS10, TARGETS, Harness


if TYPE_CHECKING:
    from collections.abc import Callable


WARMUP = 2_000
BURST = 10_000
# The request loop fell behind its rate (a backlog every later request counts) when it
# did fewer than this share of the requests per second it was paced at.
BEHIND_SHARE = 0.99
LATE_SHARE = 0.05  # ... or when more than this share of its requests without logging were late


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


def loop_static(call: Callable[..., object], n: int) -> None:
    """A static message, no call fields (the logger's bound fields still go in)."""
    for _ in repeat(None, n):
        call("order placed")


def loop_ten_kw(call: Callable[..., object], n: int) -> None:
    """A message with 10 fields, as keyword arguments (unpacked: the same dict per call)."""
    ten = FIELDS10
    for _ in repeat(None, n):
        call("order placed", **ten)


def loop_ten_extra(call: Callable[..., object], n: int) -> None:
    """A message with 10 fields, stdlib style (``extra=``)."""
    ten = FIELDS10
    for _ in repeat(None, n):
        call("order placed", extra=ten)


TEN_LOOPS = {"kw": loop_ten_kw, "extra": loop_ten_extra}


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
    harness: Harness | None,
    path: Path,
    requests: int,
    rate: float,
    work_iters: int,
    *,
    block: int = 5_000,
    settle: int = 500,
    marks: list[int] | None = None,
    work_us: float | None = None,
) -> dict[str, object]:
    """Paced requests in blocks, logging on and off by turns, in this one process.

    ``requests`` paced at ``rate`` are cut into blocks of ``block``; blocks go in pairs,
    one with the log call and one without, in the order on-off, off-on, on-off, ...
    (each pair's order the reverse of the one before, so a steady drift in the machine's
    load favours neither arm). Both arms share the process, the interpreter's state and
    the moment, so noise from other work on the machine lands on both alike; the first
    ``settle`` requests of every block are left out of both, so that the worker waking
    up (after an off block) or finishing the last entries (after an on block) does not
    count against the next block. Target ``off`` makes no call in either arm: the
    measure's own noise (an A/A test). ``marks`` (``benchmarks.tail``): filled with
    each request's start of latency and end, in ``perf_counter_ns``. ``work_us``: scale
    ``work_iters`` here so that a request's work takes that much CPU time in this very
    loop, paced at ``rate``, before the first block (a loop left with too little slack is
    behind its own schedule without any logging).
    """
    call = one_call(harness) if harness is not None else None
    if harness is not None:
        LOOPS[harness.style](harness.info, WARMUP)
        harness.drain()
    for _ in range(200):
        work(work_iters)
    if work_us is not None:
        # Sized where it runs: 1,500 paced requests without logging, and their median.
        # Probed between single sleep(0) calls instead, work sized for 75 us took 70 to 95
        # us of CPU in the loop from one process to the next, so some runs had a third of
        # the slack of others and were behind their schedule with no logging at all.
        probes = []
        began = perf_counter_ns() + 1_000_000
        for k in range(1_500):
            _pace(began + int(k * 1e9 / rate))
            began_cpu = thread_time_ns()
            work(work_iters)
            probes.append(thread_time_ns() - began_cpu)
        work_iters = max(1, round(work_iters * work_us * 1000 / statistics.median(probes)))
    gc.collect()

    period = 1e9 / rate
    blocks = max(2, requests // block)
    blocks -= blocks % 2
    requests = blocks * block
    latency = [0] * requests
    # Open loop: from the request's slot to its end, whatever delayed its start (no
    # coordinated omission): the requests that queued behind a long worker turn count
    # their wait. The closed form above is kept beside it for continuity.
    open_latency = [0] * requests
    cpu = [0] * requests
    late = 0
    late_on = 0
    logged = 0
    # arm of each block: True = the log call is made
    arms = [(b % 2 == 0) == ((b // 2) % 2 == 0) for b in range(blocks)]
    iters_used: list[int] = []  # the work's iterations in each block
    start = perf_counter_ns() + 1_000_000
    previous_end = start
    i = 0
    for b in range(blocks):
        this_call = call if arms[b] else None
        iters_used.append(work_iters)
        for _ in repeat(None, block):
            scheduled = start + int(i * period)
            _pace(scheduled)
            began = perf_counter_ns()
            cpu_began = thread_time_ns()
            work(work_iters)
            if this_call is not None:
                this_call()
            cpu[i] = thread_time_ns() - cpu_began
            ended = perf_counter_ns()
            # From when this request could start (its slot, or the end of the one before
            # if that overran) to its end: includes waiting for the GIL after the idle
            # sleep, excludes the backlog an overloaded machine builds up (an open-loop
            # queue would turn a few percent of extra work into unbounded latency).
            latency[i] = ended - max(scheduled, previous_end)
            open_latency[i] = ended - scheduled
            if marks is not None:
                marks += (max(scheduled, previous_end), ended)
            if began - scheduled > period:
                late += 1
                if arms[b]:
                    late_on += 1
            previous_end = ended
            i += 1
        if this_call is not None:
            logged += block
        if work_us is not None and b % 2 and b + 1 < blocks:
            # Keep the work at ``work_us`` while the machine's speed drifts (by 10-20% within
            # a run here): after each pair, from the median CPU of its block without logging,
            # by at most a fifth a step; both blocks of a pair run the same work.
            off_b = b if not arms[b] else b - 1
            measured = statistics.median(cpu[off_b * block + settle : (off_b + 1) * block])
            step = min(1.2, max(0.8, work_us * 1000 / measured))
            work_iters = max(1, round(work_iters * step))
    elapsed = (perf_counter_ns() - start) / 1e9

    def arm(values: list[int], *, on: bool) -> list[int]:
        return [
            v
            for b in range(blocks)
            if arms[b] == on
            for v in values[b * block + settle : (b + 1) * block]
        ]

    def block_p99(values: list[int], b: int) -> float:
        return percentile(sorted(values[b * block + settle : (b + 1) * block]), 0.99)

    def block_mean(values: list[int], b: int) -> float:
        return statistics.fmean(values[b * block + settle : (b + 1) * block])

    # Each pair's p99 with logging against its p99 without; the run's p99 added is their
    # median: a burst of other work on the machine (tens of ms) lands on one block and
    # moves that pair, not the median, where it would dominate a p99 over the whole run.
    pairs: list[float] = []
    open_pairs: list[float] = []
    # The mean in pairs too: pooled over a run, one block that met a backlog of the
    # machine's (tens of ms) outweighs all the others, in either arm.
    open_mean_pairs: list[float] = []
    for p in range(blocks // 2):
        on_b, off_b = (2 * p, 2 * p + 1) if arms[2 * p] else (2 * p + 1, 2 * p)
        for values, out in ((latency, pairs), (open_latency, open_pairs)):
            out.append(round((block_p99(values, on_b) / block_p99(values, off_b) - 1) * 100, 1))
        ratio = block_mean(open_latency, on_b) / block_mean(open_latency, off_b)
        open_mean_pairs.append(round((ratio - 1) * 100, 2))
    on_lat, off_lat = _summary(arm(latency, on=True)), _summary(arm(latency, on=False))
    on_open = _summary(arm(open_latency, on=True))
    off_open = _summary(arm(open_latency, on=False))
    achieved = requests / elapsed
    on_cpu, off_cpu = _summary(arm(cpu, on=True)), _summary(arm(cpu, on=False))
    result: dict[str, object] = {
        "loadavg_1m": os.getloadavg()[0],
        "requests": requests,
        "rate": rate,
        "achieved_rate": achieved,
        # A run that fell behind the rate (the machine took the CPU), or whose blocks
        # without logging kept their schedule for fewer than 95% of the requests, carries
        # a backlog of its own that the open-loop latency counts in both arms: flagged,
        # so that a report can say so rather than count it silently.
        "behind": achieved < rate * BEHIND_SHARE or (late - late_on) / (requests / 2) > LATE_SHARE,
        "work_iters": work_iters,
        "work_iters_by_block": iters_used,
        "block": block,
        "settle": settle,
        "blocks": blocks,
        **{f"latency_{k}": v for k, v in on_lat.items()},
        **{f"off_latency_{k}": v for k, v in off_lat.items()},
        **{f"cpu_{k}": v for k, v in on_cpu.items()},
        **{f"off_cpu_{k}": v for k, v in off_cpu.items()},
        **{
            f"added_{k}_pct": (on_lat[f"{k}_us"] / off_lat[f"{k}_us"] - 1) * 100
            for k in ("mean", "p50", "p999")
        },
        # p99: the median block pair (robust to a noise burst that lands on one block);
        # pooled: all the run's requests with logging against all without.
        "added_p99_pct": statistics.median(pairs),
        "pooled_p99_pct": (on_lat["p99_us"] / off_lat["p99_us"] - 1) * 100,
        "added_cpu_pct": (on_cpu["mean_us"] / off_cpu["mean_us"] - 1) * 100,
        "pairs_p99_pct": pairs,
        **{f"open_latency_{k}": v for k, v in on_open.items()},
        **{f"off_open_latency_{k}": v for k, v in off_open.items()},
        **{
            f"open_added_{k}_pct": (on_open[f"{k}_us"] / off_open[f"{k}_us"] - 1) * 100
            for k in ("mean", "p50", "p999")
        },
        "open_added_p99_pct": statistics.median(open_pairs),
        "open_pooled_p99_pct": (on_open["p99_us"] / off_open["p99_us"] - 1) * 100,
        "open_pairs_p99_pct": open_pairs,
        "open_pairs_mean_pct": open_mean_pairs,
        "arms": arms,
        "late_fraction": late / requests,
        # requests that started more than one period after their slot, in each arm
        "late_fraction_on": late_on / (requests / 2),
        "late_fraction_off": (late - late_on) / (requests / 2),
    }
    if harness is not None:
        harness.finish()
        result.update(_lines(path, WARMUP + logged))
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


def _call_kinds(harness: Harness) -> dict[str, Callable[[int], None]]:
    """The three calls of the calls table, each as ``run(n)``: n calls in a loop."""
    info, debug, style = harness.info, harness.debug, harness.style
    ten = TEN_LOOPS[style]
    default = LOOPS[style]
    return {
        "static": lambda n: loop_static(info, n),
        "fields10": lambda n: ten(info, n),
        "disabled": lambda n: default(debug, n),
    }


def calls(harness: Harness, path: Path, n: int, rounds: int, alloc_calls: int) -> dict[str, object]:
    """ns per call (timing pass), then allocations per call (a separate tracemalloc pass)."""
    kinds = _call_kinds(harness)
    LOOPS[harness.style](harness.info, WARMUP)
    harness.drain()
    timing: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind, run in kinds.items():
            gc.collect()
            t0 = perf_counter_ns()
            run(n)
            timing[kind].append((perf_counter_ns() - t0) / n)
            harness.drain()  # every round starts with an empty queue

    # tracemalloc slows every allocation several times: a pass of its own. The writer is
    # held, so what a call hands to it is still alive when counted ("kept"); "peak" is the
    # most memory one call had allocated at once above what was there before it.
    allocs: dict[str, dict[str, float]] = {}
    tracemalloc.start()
    try:
        for kind, run in kinds.items():
            run(100)  # first-call caches (a call site's plan, interned keys) before counting
            harness.drain()
            release = harness.hold()
            try:
                allocs[kind] = _allocations(run, alloc_calls)
            finally:
                release()
            harness.drain()
    finally:
        tracemalloc.stop()
    found, _, _, _ = count_lines(path)
    stats = harness.stats()
    harness.close()
    return {
        "calls": {
            kind: {
                "ns": statistics.median(values),
                "ns_min": min(values),
                "ns_all": [round(v, 1) for v in values],
                **allocs[kind],
            }
            for kind, values in timing.items()
        },
        "rounds": rounds,
        "alloc_calls": alloc_calls,
        "lines_found": found,
        "loadavg_1m": os.getloadavg()[0],
        "stats": stats,
    }


def _allocations(run: Callable[[int], None], n: int) -> dict[str, float]:
    ignore = [tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__)]
    gc.collect()
    before = tracemalloc.take_snapshot().filter_traces(ignore)
    run(n)
    after = tracemalloc.take_snapshot().filter_traces(ignore)
    diff = after.compare_to(before, "filename")
    blocks = sum(d.count_diff for d in diff)
    size = sum(d.size_diff for d in diff)
    get, reset = tracemalloc.get_traced_memory, tracemalloc.reset_peak

    def peak(calls: int) -> float:
        peaks = [0] * 200
        for i in range(len(peaks)):
            reset()
            start = get()[0]
            run(calls)
            peaks[i] = get()[1] - start
        return statistics.median(peaks)

    return {
        "blocks": blocks / n,
        "bytes": size / n,
        # less what the measuring loop itself allocates (the same loop, making no call)
        "peak_bytes": max(0.0, peak(1) - peak(0)),
    }


@dataclass(frozen=True)
class _Plan:
    call: Callable[[], object]
    barrier: threading.Barrier
    start_box: list[int]
    rate: float
    threads: int
    per_thread: int


def _send(plan: _Plan, j: int, mine: list[int], ends: list[int]) -> None:
    """One sending thread of the rate curve: its share of the calls, on its schedule."""
    call, rate, sleep = plan.call, plan.rate, time.sleep
    plan.barrier.wait()
    start = plan.start_box[0]
    step = plan.threads * 1e9 / rate if rate else 0.0
    offset = j * 1e9 / rate if rate else 0.0
    for i in range(plan.per_thread):
        if rate:
            intended = start + int(offset + i * step)
            # Sleep, never spin: four threads spinning on sleep(0) would pass the GIL
            # around and measure that. A thread that is late sends at once.
            if (remaining := intended - perf_counter_ns()) > 0:
                sleep(remaining / 1e9)
        else:
            intended = perf_counter_ns()
        call()
        mine[i] = perf_counter_ns() - intended
    ends[j] = perf_counter_ns()


def rate_curve(
    harness: Harness | None,
    path: Path,
    rates: list[float],
    threads: int,
    seconds: float,
    *,
    progress: Path | None = None,
) -> dict[str, object]:
    """Fixed total rates from ``threads`` threads, then unpaced; latency from intended time.

    Each thread sends its share of the calls on a fixed schedule (thread j at
    ``start + (j + i * threads) / rate``); a call's latency runs from its scheduled time to
    its return, so a thread that falls behind counts the wait of every call it delayed
    (no coordinated omission). Between two rates every line is written first. Target
    ``off`` calls a function that does nothing: the harness's own latency.

    ``progress``: each finished step is appended there as a JSON line, and a thread
    touches the file every 0.25 s while the interpreter can run Python code, so that the
    parent can tell a logger that hangs (and what it finished before) from a slow one.
    """
    if progress is not None:
        _heartbeat(progress)
    if harness is not None:
        LOOPS[harness.style](harness.info, WARMUP)
        harness.drain()
        call = one_call(harness)
    else:

        def call() -> object:
            return None

    steps: list[dict[str, object]] = []
    sent = 0
    top = max(rates)
    for rate in [*rates, 0.0]:  # 0: unpaced, as fast as the threads go
        per_thread = max(1, int((rate or top) * seconds / threads))
        latencies = [[0] * per_thread for _ in range(threads)]
        ends = [0] * threads
        barrier = threading.Barrier(threads + 1)
        start_box = [0]

        plan = _Plan(call, barrier, start_box, rate, threads, per_thread)
        workers = [
            threading.Thread(target=_send, args=(plan, j, latencies[j], ends))
            for j in range(threads)
        ]
        for w in workers:
            w.start()
        gc.collect()
        start_box[0] = perf_counter_ns() + 2_000_000
        barrier.wait()
        for w in workers:
            w.join()
        elapsed = (max(ends) - start_box[0]) / 1e9
        if harness is not None:
            harness.drain()
        merged = sorted(v for row in latencies for v in row)
        total = len(merged)
        sent += total
        steps.append(
            step := {
                "rate": rate,
                "calls": total,
                "achieved_rate": total / elapsed if elapsed > 0 else None,
                "p50_us": percentile(merged, 0.50) / 1000,
                "p99_us": percentile(merged, 0.99) / 1000,
                "p999_us": percentile(merged, 0.999) / 1000,
                "max_us": merged[-1] / 1000,
                "loadavg_1m": os.getloadavg()[0],
            }
        )
        if progress is not None:
            with progress.open("a", encoding="utf-8") as file:
                file.write(json.dumps(step) + "\n")
    result: dict[str, object] = {"threads": threads, "seconds": seconds, "steps": steps}
    if harness is not None:
        harness.finish()
        result.update(_lines(path, WARMUP + sent))
        result["stats"] = harness.stats()
        harness.close()
    return result


def _heartbeat(path: Path) -> None:
    """Touch ``path`` every 0.25 s from a daemon thread; dump every thread's stack on SIGUSR1.

    A thread needs the GIL to touch the file, so the touches stop when the interpreter is
    deadlocked (a C extension waiting on its own lock while holding the GIL); faulthandler
    writes the stacks from its C-level signal handler, which needs no GIL.
    """
    path.touch()
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    def beat() -> None:
        while True:
            time.sleep(0.25)
            os.utime(path)

    threading.Thread(target=beat, name="bench-heartbeat", daemon=True).start()


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
    parser.add_argument("scenario", choices=["throughput", "request-loop", "soak", "calls", "rate"])
    parser.add_argument("-n", type=int, default=200_000, help="entries (requests for the loop)")
    parser.add_argument("--out", type=Path, help="where to write the JSON result")
    parser.add_argument("--rate", type=float, default=10_000.0)
    parser.add_argument("--work-iters", type=int, default=1_500)
    parser.add_argument("--work-us", type=float, help="request-loop: rescale --work-iters here")
    parser.add_argument("--block", type=int, default=5_000, help="request loop: per block")
    parser.add_argument(
        "--settle", type=int, default=500, help="request loop: left out at each block's start"
    )
    parser.add_argument("--dir", type=Path, help="where to put the log file (default: a temp dir)")
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="sys.setswitchinterval(S) before the run (the application's choice; default 5 ms)",
    )
    parser.add_argument("--rounds", type=int, default=5, help="calls: timed rounds per call")
    parser.add_argument("--alloc-calls", type=int, default=1_000, help="calls: counted calls")
    parser.add_argument("--rates", default="10000,50000,100000,200000", help="rate: calls/s")
    parser.add_argument("--threads", type=int, default=4, help="rate: logging threads")
    parser.add_argument("--seconds", type=float, default=1.0, help="rate: seconds per rate")
    parser.add_argument("--progress", type=Path, help="rate: finished steps, and a heartbeat")
    args = parser.parse_args(argv)

    if args.switch_interval is not None:
        sys.setswitchinterval(args.switch_interval)
    tmp = Path(tempfile.mkdtemp(prefix="tapelog-bench-", dir=args.dir))
    path = tmp / f"{args.target}.jsonl"
    try:
        harness = None if args.target == "off" else TARGETS[args.target].make(path)
        if args.scenario == "request-loop":
            result = request_loop(
                harness,
                path,
                args.n,
                args.rate,
                args.work_iters,
                block=args.block,
                settle=args.settle,
                work_us=args.work_us,
            )
        elif args.scenario == "rate":
            rates = [float(r) for r in args.rates.split(",")]
            result = rate_curve(
                harness, path, rates, args.threads, args.seconds, progress=args.progress
            )
        elif harness is None:
            parser.error("target 'off' exists only for the request loop and the rate curve")
        elif args.scenario == "calls":
            result = calls(harness, path, args.n, args.rounds, args.alloc_calls)
        elif args.scenario == "soak":
            result = soak(harness, path, args.n)
        else:
            result = throughput(harness, path, args.n)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    emit({"target": args.target, "scenario": args.scenario, "n": args.n, **result}, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
