"""``python -m benchmarks [COMMAND]``: tapelog against its peers, one fresh process per run.

Commands:
    all (default)  every command below but soak; writes results/latest.{md,json}
    throughput     the caller / end-to-end / disabled / RSS / lines-lost table
    request-loop   the seed's 10,000 requests/s loop, with and without logging
    import-time    ``python -X importtime -c "import X"`` for tapelog and the peers
    calls          ns and allocations per call: a static message, 10 fields, a disabled call
    rate           the fixed-rate curve: 4 threads at rising total rates, then unpaced
    budgets        the domain features' budgets (trade events, audit, metrics, errors)
    soak           10 M entries through tapelog, RSS sampled every second (not in ``all``)

See benchmarks/README.md for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import report
from benchmarks._common import RESULTS, ROOT, child_env, median, rss_of_pid_mib
from benchmarks._compiled import COMPILED_ROWS, ensure_built, pythonpath_for
from benchmarks._targets import QUEUE_SIZE, TARGETS, VARIANT
from benchmarks.run_one import work


if TYPE_CHECKING:
    from collections.abc import Callable


# Simulated work per request, our choice: a handler doing 75 us of Python at 10,000
# requests/s keeps a core 75% busy, the other 25% of each 100 us slot idle.
WORK_TARGET_US = 75.0


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# The compiled build's directory, once main() has built it (None: not built here).
COMPILED: dict[str, Path | None] = {"dir": None}


def run_child(
    target: str, scenario: str, n: int, extra: list[str], timeout: float
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; a failure becomes ``{"error": ...}``."""
    if target in COMPILED_ROWS and COMPILED["dir"] is None:
        return {"error": "the compiled build is not available here (see the log)"}
    return run_module(
        ["benchmarks.run_one", target, scenario, "-n", str(n), *extra],
        timeout,
        env=pythonpath_for(target, COMPILED["dir"]),
    )


def run_module(
    args: list[str], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """``python -m ARGS --out FILE`` in a fresh interpreter; its JSON, or ``{"error": ...}``."""
    with tempfile.TemporaryDirectory(prefix="tapelog-bench-out-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", *args, "--out", str(out)]
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                env={**child_env(), **(env or {})},
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {timeout:.0f} s"}
        if proc.returncode != 0 or not out.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return {"error": f"exit {proc.returncode}: " + " / ".join(tail)}
        return json.loads(out.read_text())


def rotated(items: list[str], by: int) -> list[str]:
    """Interleave fairly: each repeat starts one row later, so no row always runs first."""
    by %= len(items)
    return items[by:] + items[:by]


# -- throughput ----------------------------------------------------------------------


def run_rows(
    targets: list[str],
    scenario: str,
    n: int,
    extra: list[str],
    *,
    repeats: int,
    timeout: float,
    describe: Callable[[dict[str, Any]], str],
) -> dict[str, list[dict[str, Any]]]:
    """Every target ``repeats`` times, each run in a fresh child, the repeats interleaved.

    A target whose every run so far timed out is not run again (it hung: waiting for it
    again would only cost the same timeout).
    """
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    total = len(targets) * repeats
    done = 0
    for rep in range(repeats):
        for target in rotated(targets, rep):
            done += 1
            if runs[target] and all("timed out" in r.get("error", "") for r in runs[target]):
                continue
            result = run_child(target, scenario, n, extra, timeout)
            runs[target].append(result)
            status = f"FAILED {result['error']}" if "error" in result else describe(result)
            log(f"[{done}/{total}] {scenario} {target} #{rep + 1}: {status}")
    return runs


def run_throughput(
    targets: list[str], n: int, repeats: int, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    return run_rows(
        targets,
        "throughput",
        n,
        [],
        repeats=repeats,
        timeout=timeout,
        describe=lambda r: (
            f"caller {r['caller_ns']:,.0f} ns, end-to-end {r['e2e_eps']:,.0f}/s, "
            f"disabled {r['disabled_ns']:,.0f} ns, RSS {r['peak_rss_mib']:.1f} MiB, "
            f"lost {r['lines_lost']}"
        ),
    )


# -- request loop --------------------------------------------------------------------


def calibrate_work(target_us: float = WORK_TARGET_US) -> int:
    """Iterations of ``run_one.work`` taking ``target_us`` here (the median of many probes).

    The median, not the best: on a shared VM the same loop runs up to ~1.7x faster in a
    quiet instant than usual, and work sized on that instant overloads the loop later.
    """
    probe = 2_000
    typical = statistics.median(_time_work(probe) for _ in range(300))
    return max(100, round(probe * target_us * 1000 / typical))


def _time_work(iterations: int) -> int:
    t0 = time.perf_counter_ns()
    work(iterations)
    return time.perf_counter_ns() - t0


def run_request_loop(
    targets: list[str],
    requests: int,
    rate: float,
    repeats: int,
    timeout: float,
    *,
    switch: list[str],
    block_seconds: float,
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    iters = calibrate_work()
    block = max(100, round(rate * block_seconds))
    settle = block // 10
    log(
        f"request loop: {requests:,} requests at {rate:,.0f}/s in blocks of {block:,} "
        f"(first {settle:,} of each left out), {iters:,} work iterations each"
    )
    extra = [
        "--rate",
        str(rate),
        "--work-iters",
        str(iters),
        "--work-us",
        str(WORK_TARGET_US),
        "--block",
        str(block),
        "--settle",
        str(settle),
        *switch,
    ]
    runs = run_rows(
        targets,
        "request-loop",
        requests,
        extra,
        repeats=repeats,
        timeout=timeout,
        describe=lambda r: (
            f"open p99 {r['off_open_latency_p99_us']:,.1f} -> {r['open_latency_p99_us']:,.1f} "
            f"us (median pair {r['open_added_p99_pct']:+.1f}%, pairs "
            f"{r['open_pairs_p99_pct']}, mean {r['open_added_mean_pct']:+.1f}%); closed p99 "
            f"{r['off_latency_p99_us']:,.1f} -> {r['latency_p99_us']:,.1f} us "
            f"(median pair {r['added_p99_pct']:+.1f}%, mean {r['added_mean_pct']:+.1f}%); "
            f"{r['achieved_rate']:,.0f} req/s, late {r['late_fraction_on']:.2%} / "
            f"{r['late_fraction_off']:.2%}" + (" BEHIND THE RATE" if r["behind"] else "")
        ),
    )
    return runs, iters


# -- calls table, fixed-rate curve, budgets --------------------------------------------


def run_calls(
    targets: list[str], n: int, rounds: int, repeats: int, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    return run_rows(
        targets,
        "calls",
        n,
        ["--rounds", str(rounds)],
        repeats=repeats,
        timeout=timeout,
        describe=lambda r: ", ".join(
            f"{k} {v['ns']:,.0f} ns {v['blocks']:.1f} blocks {v['bytes']:,.0f} B"
            for k, v in r["calls"].items()
        ),
    )


def run_rates(
    targets: list[str], rates: list[int], threads: int, seconds: float, repeats: int
) -> dict[str, list[dict[str, Any]]]:
    extra = [
        "--rates",
        ",".join(str(r) for r in rates),
        "--threads",
        str(threads),
        "--seconds",
        str(seconds),
    ]
    # A logger that cannot keep up builds a backlog it must write before the next rate (its
    # latencies show it); one that hangs is stopped as soon as its heartbeat stops, keeping
    # the steps it finished. The overall limit only catches what the heartbeat cannot see.
    timeout = 60 + 30 * seconds * (len(rates) + 1)
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    total = len(targets) * repeats
    done = 0
    for rep in range(repeats):
        for target in rotated(targets, rep):
            done += 1
            result = run_watched(
                ["benchmarks.run_one", target, "rate", "-n", "0", *extra], timeout, HANG_AFTER
            )
            runs[target].append(result)
            log(f"[{done}/{total}] rate {target} #{rep + 1}: {describe_rates(result)}")
    return runs


HANG_AFTER = 10.0  # s without a heartbeat from the child: it is hung


def describe_rates(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"FAILED {result['error']}"
    parts = [
        f"{s['rate'] / 1000:.0f}k p99 {s['p99_us']:,.0f} us"
        if s["rate"]
        else f"unpaced {s['achieved_rate']:,.0f}/s"
        for s in result["steps"]
    ]
    if "hung" in result:
        rate = result["hung"]["rate"]
        at = f"{rate:,.0f}/s" if rate else "the unpaced step"
        parts.append(f"HUNG at {at} in {result['hung']['where']}")
    return ", ".join(parts)


def run_watched(args: list[str], timeout: float, hang_after: float) -> dict[str, Any]:
    """``python -m ARGS --progress FILE --out FILE``, stopped if its heartbeat stops.

    The child appends each finished step to the progress file and touches it every
    0.25 s while its interpreter can run Python code. When the touches stop for
    ``hang_after`` seconds (a deadlock holding the GIL), the child is asked for its
    threads' stacks (SIGUSR1, faulthandler), killed, and the result keeps the steps it
    finished and says where it hung.
    """
    with tempfile.TemporaryDirectory(prefix="tapelog-bench-out-") as tmp:
        out, progress, errors = Path(tmp) / "result.json", Path(tmp) / "steps", Path(tmp) / "err"
        cmd = [sys.executable, "-m", *args, "--out", str(out), "--progress", str(progress)]
        started = time.monotonic()
        with (
            errors.open("w") as err,
            subprocess.Popen(
                cmd, cwd=ROOT, env=child_env(), stdout=subprocess.DEVNULL, stderr=err
            ) as proc,
        ):
            hung = None
            while proc.poll() is None:
                time.sleep(0.25)
                now = time.monotonic()
                beat = progress.stat().st_mtime if progress.exists() else None
                stale = beat is not None and time.time() - beat > hang_after
                if stale or now - started > timeout:
                    hung = "no heartbeat" if stale else "timed out"
                    proc.send_signal(signal.SIGUSR1)  # faulthandler: every thread's stack
                    time.sleep(1.0)
                    proc.kill()
                    proc.wait()
                    break
        text = errors.read_text(errors="replace")
        if hung is None:
            if proc.returncode != 0 or not out.exists():
                tail = text.strip().splitlines()[-3:]
                return {"error": f"exit {proc.returncode}: " + " / ".join(tail)}
            return json.loads(out.read_text())
        steps = [json.loads(line) for line in progress.read_text().splitlines() if line]
        rates = [float(r) for r in args[args.index("--rates") + 1].split(",")] + [0.0]
        if len(steps) >= len(rates):
            return {"error": f"{hung} after its last step, {now - started:.0f} s"}
        return {
            "steps": steps,
            "hung": {
                "rate": rates[len(steps)],
                "why": hung,
                "after_s": round(now - started, 1),
                "where": stuck_in(text),
            },
        }


def stuck_in(stacks: str) -> str:
    """The innermost frames of the threads faulthandler listed, other than waits.

    One distinct ``package/file.py:function`` (sorted) per thread that was not idle in
    ``threading.py`` (a join, a barrier, a condition), so the cell can say where the
    logger stopped.
    """
    places: list[str] = []
    innermost = True
    for line in stacks.splitlines():
        if line.startswith(("Thread ", "Current thread ")):
            innermost = True
            continue
        match = re.match(r'\s+File "(.+)", line \d+ in (\S+)', line)
        if match and innermost:
            innermost = False
            file, func = match.groups()
            if file.endswith(("threading.py", "run_one.py")):
                continue
            place = "/".join(Path(file).parts[-2:]) + f":{func}"
            if place not in places:
                places.append(place)
    return ", ".join(sorted(places)) or "unknown"


def run_budgets(repeats: int, *, quick: bool, timeout: float) -> list[dict[str, Any]]:
    runs = []
    for rep in range(repeats):
        result = run_module(["benchmarks.budgets", *(["--quick"] if quick else [])], timeout)
        runs.append(result)
        log(f"budgets #{rep + 1}: " + result.get("error", "done"))
    return runs


# -- import time ---------------------------------------------------------------------


def import_time_us(module: str) -> float | None:
    """The cumulative import time of ``module`` in a fresh interpreter, in microseconds."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        cwd=ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[2].rstrip() == f" {module}":
            return float(parts[1])
    return None


def warm_bytecode(module: str) -> None:
    """Import ``module`` once with bytecode writing allowed.

    pip compiles an installed package's modules at install time, so the peers import
    from ``__pycache__``; tapelog here runs from the source tree, and with
    ``PYTHONDONTWRITEBYTECODE`` set (as on CI machines) every run would compile it from
    scratch. One import with writing allowed puts every module on the same footing.
    """
    env = {k: v for k, v in child_env().items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        check=False,
    )


def run_import_time(modules: list[str], repeats: int) -> dict[str, list[float]]:
    for module in modules:
        warm_bytecode(module)
    runs: dict[str, list[float]] = {m: [] for m in modules}
    for rep in range(repeats):
        for module in rotated(modules, rep):
            value = import_time_us(module)
            if value is not None:
                runs[module].append(value)
    log(
        "import time (median ms): "
        + ", ".join(f"{m} {(median(v) or 0) / 1000:.1f}" for m, v in runs.items())
    )
    return runs


# -- soak ----------------------------------------------------------------------------


def run_soak(target: str, entries: int, directory: Path | None) -> dict[str, Any]:
    """Log ``entries`` through ``target`` in a child, sampling its RSS every second."""
    with tempfile.TemporaryDirectory(prefix="tapelog-bench-out-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.run_one",
            target,
            "soak",
            "-n",
            str(entries),
            "--out",
            str(out),
        ]
        if directory is not None:
            cmd += ["--dir", str(directory)]
        samples: list[tuple[float, float]] = []
        t0 = time.monotonic()
        with subprocess.Popen(cmd, cwd=ROOT, env=child_env()) as proc:
            while proc.poll() is None:
                rss = rss_of_pid_mib(proc.pid)
                if rss is not None:
                    samples.append((round(time.monotonic() - t0, 1), round(rss, 1)))
                    log(f"soak: {samples[-1][0]:7.1f} s  RSS {rss:8.1f} MiB")
                time.sleep(1.0)
        if proc.returncode != 0 or not out.exists():
            return {"error": f"exit {proc.returncode}", "samples": samples}
        result = json.loads(out.read_text())
    result["samples"] = samples
    return summarise_soak(result)


def summarise_soak(result: dict[str, Any]) -> dict[str, Any]:
    """Flat means: after the first 10% of the run, RSS never rises > max(8 MiB, 5%) above it."""
    start = result["rss_start_mib"]  # the child's RSS just before its first call
    # The parent's samples from the first one at or above that (the child has imported
    # and configured tapelog by then); the child's own per-chunk readings if too few.
    values = [rss for _, rss in result["samples"] if rss >= start] or [start]
    if len(values) < 5:
        values = [start, *(rss for _, _, rss in result["progress"])]
    reference_index = max(1, len(values) // 10)
    reference = values[reference_index]
    later_max = max(values[reference_index:])
    growth = later_max - reference
    allowance = max(8.0, reference * 0.05)
    high_water = result["stats"].get("queue_high_water") or 0
    per_entry = (result["peak_rss_mib"] - start) * 2**20 / high_water if high_water else None
    result["reference_rss_mib"] = reference
    result["later_max_rss_mib"] = later_max
    result["flat"] = growth <= allowance
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result["summary"] = (
        f"{result['entries']:,} entries in {result['e2e_s']:,.0f} s "
        f"({result['e2e_eps']:,.0f}/s); RSS {start:,.1f} MiB before the first call, "
        f"{reference:,.1f} MiB after 10% of the run, at most {later_max:,.1f} MiB afterwards "
        f"(growth {growth:+,.1f} MiB, allowance {allowance:,.1f}); queue high water "
        f"{high_water:,} of {QUEUE_SIZE:,}"
        + (f" (~{per_entry:,.0f} bytes of RSS per queued entry)" if per_entry else "")
        + f"; {result['lines_lost']:,} lines lost."
    )
    return result


def soak_markdown(result: dict[str, Any], info: dict[str, Any]) -> str:
    lines = [
        "# tapelog soak",
        "",
        *report.machine_lines(
            info, {"entries": result.get("entries", 0), "target": result.get("target")}
        ),
        "",
    ]
    if "error" in result:
        lines.append(f"The run failed: {result['error']}.")
    else:
        lines += [
            f"**RSS {'flat' if result['flat'] else 'NOT flat'}.** {result['summary']}",
            "",
            "RSS samples (seconds, MiB), one per second:",
            "",
            "```",
            " ".join(f"{t:g}:{rss:g}" for t, rss in result["samples"]),
            "```",
        ]
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="tapelog against stdlib logging, structlog and loguru (benchmarks/README.md).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="all",
        choices=[
            "all",
            "throughput",
            "request-loop",
            "import-time",
            "calls",
            "rate",
            "budgets",
            "soak",
        ],
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs per row (default 5)")
    parser.add_argument("-n", type=int, default=200_000, help="entries per throughput run")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 20,000 entries, 2 repeats, 1 s loop"
    )
    parser.add_argument(
        "--targets", help=f"comma-separated rows (default: all of {', '.join(TARGETS)})"
    )
    parser.add_argument("--rate", type=float, default=10_000.0, help="request loop: requests/s")
    parser.add_argument(
        "--seconds",
        type=float,
        default=10.0,
        help="request loop: seconds per run, half with logging and half without",
    )
    parser.add_argument(
        "--loop-repeats", type=int, default=3, help="request loop: runs per row (default 3)"
    )
    parser.add_argument(
        "--block-seconds",
        type=float,
        default=0.5,
        help="request loop: seconds per block (logging on or off); a tenth is left out",
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        help="request loop: sys.setswitchinterval(S) in every child (CPython's default 0.005)",
    )
    parser.add_argument("--entries", type=int, default=10_000_000, help="soak: entries")
    parser.add_argument("--soak-target", default="tapelog", choices=list(TARGETS))
    parser.add_argument("--dir", type=Path, help="soak: where the (large) log file goes")
    parser.add_argument("--timeout", type=float, default=900.0, help="per child process, s")
    parser.add_argument(
        "--calls-n", type=int, default=10_000, help="calls table: calls per timed round"
    )
    parser.add_argument("--rounds", type=int, default=5, help="calls table: rounds per run")
    parser.add_argument(
        "--rates",
        default="10000,50000,100000,200000",
        help="rate curve: total calls/s, comma-separated (then an unpaced step)",
    )
    parser.add_argument("--threads", type=int, default=4, help="rate curve: logging threads")
    parser.add_argument(
        "--rate-seconds", type=float, default=1.0, help="rate curve: seconds per rate"
    )
    args = parser.parse_args(argv)
    # The curve and the calls table take fewer repeats than the throughput table: their
    # numbers are medians within a run already, and the default run must stay ~20 min.
    args.side_repeats = max(1, args.repeats // 2)
    if args.quick:
        args.n = min(args.n, 20_000)
        args.repeats = min(args.repeats, 2)
        args.seconds = min(args.seconds, 2.0)
        args.loop_repeats = 1
        args.block_seconds = min(args.block_seconds, 0.25)
        args.side_repeats = 1
        args.calls_n = min(args.calls_n, 2_000)
        args.rounds = min(args.rounds, 3)
        args.rates = "10000,50000"
        args.rate_seconds = min(args.rate_seconds, 0.3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    info = report.machine()
    if args.command == "soak":
        result = run_soak(args.soak_target, args.entries, args.dir)
        text = soak_markdown(result, info)
        print(text)
        if args.soak_target == "tapelog":
            report.write(RESULTS / "soak.md", text)
            report.write(RESULTS / "soak.json", json.dumps({**result, "machine": info}, indent=1))
        return 0 if "error" not in result and result["flat"] and not result["lines_lost"] else 1

    chosen = args.targets.split(",") if args.targets else list(TARGETS)
    # The variants are request-loop rows; other tables take them only when named.
    main_rows = [t for t in chosen if args.targets or TARGETS[t].group != VARIANT]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        log(f"unknown targets: {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return 2
    requests = int(args.rate * args.seconds)
    params: dict[str, Any] = {"repeats": args.repeats}
    if any(t in COMPILED_ROWS for t in main_rows) and args.command in (
        "all",
        "throughput",
        "request-loop",
        "calls",
    ):
        # The compiled build's row, where this machine can build it (a C compiler).
        COMPILED["dir"], how = ensure_built()
        params["compiled build"] = how if COMPILED["dir"] is not None else f"not built: {how}"
        log(f"compiled build (TAPELOG_COMPILE=1): {params['compiled build']}")
        if COMPILED["dir"] is None:
            main_rows = [t for t in main_rows if t not in COMPILED_ROWS]
    data: dict[str, Any] = {"machine": info, "params": params}
    md: list[str] = ["# tapelog benchmarks", ""]
    loop_med = None
    med = None

    if args.command in ("all", "throughput"):
        params["N (entries per throughput run)"] = args.n
        runs = run_throughput(main_rows, args.n, args.repeats, args.timeout)
        med = report.throughput_medians(runs)
        data["throughput"] = {"medians": med, "runs": runs}

    if args.command in ("all", "request-loop"):
        params["request loop"] = (
            f"{requests:,} requests at {args.rate:,.0f}/s per run, logging on and off by "
            f"blocks of {args.block_seconds:g} s, {report.plural(args.loop_repeats, 'run')}"
        )
        loop_targets = [
            "off",
            *(
                t
                for t in report.LOOP_TARGETS
                if t in chosen and (t not in COMPILED_ROWS or COMPILED["dir"] is not None)
            ),
        ]
        switch = (
            [] if args.switch_interval is None else ["--switch-interval", str(args.switch_interval)]
        )
        if switch:
            params["request loop"] += f", sys.setswitchinterval({args.switch_interval:g})"
        loop_runs, iters = run_request_loop(
            loop_targets,
            requests,
            args.rate,
            args.loop_repeats,
            args.timeout,
            switch=switch,
            block_seconds=args.block_seconds,
        )
        loop_med = report.loop_medians(loop_runs)
        data["request_loop"] = {"medians": loop_med, "runs": loop_runs, "work_iters": iters}

    calls_med = None
    if args.command in ("all", "calls"):
        params["calls table"] = (
            f"{args.calls_n:,} calls x {args.rounds} rounds per call, {args.side_repeats} runs"
        )
        calls_targets = [t for t in TARGETS if t in main_rows]
        calls_runs = run_calls(
            calls_targets, args.calls_n, args.rounds, args.side_repeats, args.timeout
        )
        calls_med = report.calls_medians(calls_runs)
        data["calls"] = {"medians": calls_med, "runs": calls_runs}

    rate_med = None
    rates = [int(r) for r in args.rates.split(",")]
    if args.command in ("all", "rate"):
        params["rate curve"] = (
            f"{args.threads} threads, {', '.join(f'{r:,}' for r in rates)}/s then unpaced, "
            f"{args.rate_seconds:g} s each, {args.side_repeats} runs"
        )
        rate_targets = [t for t in report.RATE_TARGETS if t == "off" or t in chosen]
        rate_runs = run_rates(
            rate_targets, rates, args.threads, args.rate_seconds, args.side_repeats
        )
        rate_med = report.rate_medians(rate_runs)
        data["rate_curve"] = {"medians": rate_med, "runs": rate_runs}

    budget_runs = None
    if args.command in ("all", "budgets"):
        budget_repeats = 2 if args.quick else 5
        params["budgets"] = f"{budget_repeats} runs" + (" (quick sizes)" if args.quick else "")
        budget_runs = run_budgets(budget_repeats, quick=args.quick, timeout=args.timeout)

    imports = None
    if args.command in ("all", "import-time"):
        imports = run_import_time(report.IMPORT_MODULES, max(args.repeats, 5))
        data["import_time_us"] = imports

    md += [*report.machine_lines(info, params), ""]
    if med is not None:
        md += [
            "## Throughput",
            "",
            (
                f"Medians of {args.repeats} runs per row, each in a fresh process, interleaved. "
                "caller = wall time of the logging loop / N; caller CPU = the calling thread's "
                "CPU time / N (immune to other processes, blind to GIL waits); end-to-end = N / "
                "time until every line is in the file; CPU/entry = the whole process's CPU "
                "time (caller and worker threads) / N; disabled = a loop of debug() calls at "
                "level info; lines lost = the worst run. See benchmarks/README.md."
            ),
            "",
            *report.throughput_table(med),
            "",
            "## tapelog (async) against each row",
            "",
            *report.ratio_table(med),
            "",
        ]
    if loop_med is not None:
        md += [
            "## Request loop",
            "",
            (
                f"{requests:,} requests paced at {args.rate:,.0f}/s per run, each doing "
                f"~{WORK_TARGET_US:.0f} µs of pure-Python work, in blocks of "
                f"{args.block_seconds:g} s with and without the log call by turns, in one "
                "process (on-off, off-on, ...; the first tenth of each block left out), so "
                "the machine's noise falls on both arms alike. Two latencies per request: "
                "**open** runs from its slot to its end, so a request that started late "
                "because the one before it was slow counts its wait (no coordinated "
                "omission; #18 item 4 is judged on it); **closed** runs from when it could "
                "start (its slot, or the previous request's end), the form published "
                "before. A run that did less than 99% of the rate fell behind (the "
                "machine took the CPU: a backlog both arms count) and is named. "
                "Each 'added' compares the run's blocks with logging to its blocks without, "
                f"over {report.plural(args.loop_repeats, 'run')} per row (fresh processes, "
                "interleaved): "
                "**p99 added** is the median over all block pairs (a block with logging "
                "against its neighbour without), with each run's median pair (least and "
                "greatest) and the middle half of the pairs; the open mean likewise the median block pair; the closed mean and p50, the median run. "
                "The first row makes no call in either arm: what the measure reads when "
                "nothing differs."
            ),
            "",
            "Open loop (the form #18 item 4 is judged on):",
            "",
            *report.loop_open_table(loop_med),
            "",
            "Closed loop (as published before):",
            "",
            *report.loop_table(loop_med),
            "",
        ]
    if calls_med is not None:
        md += [
            "## Per call: time and allocations",
            "",
            (
                f"As zap and zerolog publish theirs: three calls through the logger with its "
                f"three bound fields, each timed over {args.calls_n:,} calls x {args.rounds} "
                "rounds (the queue emptied between rounds; ns/call is the median round, then "
                "the median of the runs). Allocations come from a separate pass under "
                "`tracemalloc` (which slows every allocation), with the writer thread held: "
                "blocks and bytes still alive per call after 1,000 calls (for async rows, "
                "the entry handed to the writer; for sync rows, what the call leaves behind), "
                "and the peak bytes one call had allocated at once (its temporary objects)."
            ),
            "",
            *report.calls_table(calls_med),
            "",
        ]
    if rate_med is not None:
        md += [
            "## Response time at fixed rates",
            "",
            (
                f"As log4j2 publishes its async loggers': {args.threads} threads log the "
                "workload's call at a fixed total rate, each on its own schedule, for "
                f"{args.rate_seconds:g} s per rate, then as fast as they can. A call's latency "
                "runs from its intended send time to its return, so a thread that falls "
                "behind counts the delay of every call it postponed (no coordinated "
                "omission). Cells: p50 · p99 · p99.9 · max in µs, medians of the runs; "
                "every line is written before the next rate. The first row calls an empty "
                "function: the threads' own latency on this machine (sleep overshoot, the "
                "GIL passing between four threads)."
            ),
            "",
            *report.rate_table(rate_med),
            "",
        ]
    budget_verdicts = None
    if budget_runs is not None:
        budget_lines, budget_verdicts = report.budgets_section(budget_runs)
        data["budgets"] = {"verdicts": budget_verdicts, "runs": budget_runs}
        md += [
            "## Budgets",
            "",
            (
                "The domain features' budgets (#18 item 8), measured by the functions of "
                "`benchmarks/trading_audit.py`, `benchmarks/metrics.py` and "
                "`benchmarks/errors.py`, each run in a fresh process: the median of the "
                "runs, and the least and greatest run. Trade events: the caller's cost "
                "per call minus a plain `log.info` with the same fields, alone (records "
                "discarded at the queue: the call's own CPU) and in place (a worker "
                "draining into a file meanwhile); audit: the "
                "worker's CPU per entry for render + seal minus render alone; metrics: the "
                "median repeat less the empty loop; errors: the error object without "
                "locals for code that failed before."
            ),
            "",
            *budget_lines,
            "",
        ]
    if imports is not None:
        table, import_med = report.import_table(imports)
        data["import_time_median_us"] = import_med
        md += [
            "## Import time",
            "",
            (
                "`python -X importtime -c 'import X'`: the median and the fastest of the runs "
                "(the #18 target is on the fastest, the least disturbed by other work)."
            ),
            "",
            *table,
            "",
        ]
    if med is not None:
        soak_path = RESULTS / "soak.json"
        soak = json.loads(soak_path.read_text()) if soak_path.exists() else None
        if soak is not None and "error" in soak:
            soak = None
        target_lines, verdicts = report.targets_section(
            med, loop_med, soak, imports, n_calls=args.n
        )
        if budget_verdicts is not None:
            detail, met = report.budgets_target(budget_verdicts)
            verdict = "**met**" if met else "**missed**"
            target_lines.append(f"- domain budgets (#18 item 8): {verdict}. {detail}")
            verdicts.append({"target": "domain budgets (#18 item 8)", "met": met, "detail": detail})
        data["targets"] = verdicts
        md += ["## The issue's targets", "", *target_lines, ""]

    text = "\n".join(md)
    print(text)
    name = "latest" if args.command == "all" else args.command
    if args.quick:
        name += "-quick"
    report.write(RESULTS / f"{name}.md", text)
    report.write(RESULTS / f"{name}.json", json.dumps(data, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
