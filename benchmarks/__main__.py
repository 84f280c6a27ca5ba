"""``python -m benchmarks [COMMAND]``: tapelog against its peers, one fresh process per run.

Commands:
    all (default)  throughput + request-loop + import-time; writes results/latest.{md,json}
    throughput     the caller / end-to-end / disabled / RSS / lines-lost table
    request-loop   the seed's 10,000 requests/s loop, with and without logging
    import-time    ``python -X importtime -c "import X"`` for tapelog and the peers
    soak           10 M entries through tapelog, RSS sampled every second (not in ``all``)

See benchmarks/README.md for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks._common import RESULTS, ROOT, child_env, median, rss_of_pid_mib
from benchmarks._targets import QUEUE_SIZE, TARGETS
from benchmarks.run_one import work


WORK_TARGET_US = 75.0  # simulated work per request: the middle of the seed's 50-100 us


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_child(
    target: str, scenario: str, n: int, extra: list[str], timeout: float
) -> dict[str, Any]:
    """Run one measurement in a fresh interpreter; a failure becomes ``{"error": ...}``."""
    with tempfile.TemporaryDirectory(prefix="tapelog-bench-out-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.run_one",
            target,
            scenario,
            "-n",
            str(n),
            "--out",
            str(out),
            *extra,
        ]
        try:
            proc = subprocess.run(
                cmd,
                cwd=ROOT,
                env=child_env(),
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


def run_throughput(
    targets: list[str], n: int, repeats: int, timeout: float
) -> dict[str, list[dict[str, Any]]]:
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    total = len(targets) * repeats
    done = 0
    for rep in range(repeats):
        for target in rotated(targets, rep):
            done += 1
            result = run_child(target, "throughput", n, [], timeout)
            runs[target].append(result)
            if "error" in result:
                log(f"[{done}/{total}] throughput {target} #{rep + 1}: FAILED {result['error']}")
            else:
                log(
                    f"[{done}/{total}] throughput {target} #{rep + 1}: "
                    f"caller {result['caller_ns']:,.0f} ns, "
                    f"end-to-end {result['e2e_eps']:,.0f}/s, "
                    f"disabled {result['disabled_ns']:,.0f} ns, "
                    f"RSS {result['peak_rss_mib']:.1f} MiB, lost {result['lines_lost']}"
                )
    return runs


# -- request loop --------------------------------------------------------------------


def calibrate_work(target_us: float = WORK_TARGET_US) -> int:
    """Iterations of ``run_one.work`` taking ``target_us`` here (best of many: robust to load)."""
    probe = 2_000
    best = min(_time_work(probe) for _ in range(300))
    return max(100, round(probe * target_us * 1000 / best))


def _time_work(iterations: int) -> int:
    t0 = time.perf_counter_ns()
    work(iterations)
    return time.perf_counter_ns() - t0


def run_request_loop(
    targets: list[str], requests: int, rate: float, repeats: int, timeout: float
) -> tuple[dict[str, list[dict[str, Any]]], int]:
    iters = calibrate_work()
    log(f"request loop: {requests:,} requests at {rate:,.0f}/s, {iters:,} work iterations each")
    runs: dict[str, list[dict[str, Any]]] = {t: [] for t in targets}
    total = len(targets) * repeats
    done = 0
    extra = ["--rate", str(rate), "--work-iters", str(iters)]
    for rep in range(repeats):
        for target in rotated(targets, rep):
            done += 1
            result = run_child(target, "request-loop", requests, extra, timeout)
            runs[target].append(result)
            if "error" in result:
                log(f"[{done}/{total}] request-loop {target} #{rep + 1}: FAILED {result['error']}")
            else:
                log(
                    f"[{done}/{total}] request-loop {target} #{rep + 1}: "
                    f"mean {result['latency_mean_us']:,.1f} us, "
                    f"p99 {result['latency_p99_us']:,.1f} us, "
                    f"{result['achieved_rate']:,.0f} req/s"
                )
    return runs, iters


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
        choices=["all", "throughput", "request-loop", "import-time", "soak"],
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
    parser.add_argument("--seconds", type=float, default=3.0, help="request loop: duration")
    parser.add_argument("--entries", type=int, default=10_000_000, help="soak: entries")
    parser.add_argument("--soak-target", default="tapelog", choices=list(TARGETS))
    parser.add_argument("--dir", type=Path, help="soak: where the (large) log file goes")
    parser.add_argument("--timeout", type=float, default=900.0, help="per child process, s")
    args = parser.parse_args(argv)
    if args.quick:
        args.n = min(args.n, 20_000)
        args.repeats = min(args.repeats, 2)
        args.seconds = min(args.seconds, 1.0)
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
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown:
        log(f"unknown targets: {', '.join(unknown)}; known: {', '.join(TARGETS)}")
        return 2
    requests = int(args.rate * args.seconds)
    params: dict[str, Any] = {"repeats": args.repeats}
    data: dict[str, Any] = {"machine": info, "params": params}
    md: list[str] = ["# tapelog benchmarks", ""]
    loop_med = None
    med = None

    if args.command in ("all", "throughput"):
        params["N (entries per throughput run)"] = args.n
        runs = run_throughput(chosen, args.n, args.repeats, args.timeout)
        med = report.throughput_medians(runs)
        data["throughput"] = {"medians": med, "runs": runs}

    if args.command in ("all", "request-loop"):
        params["request loop"] = f"{requests:,} requests at {args.rate:,.0f}/s"
        loop_targets = ["off", *(t for t in report.LOOP_TARGETS if t in chosen)]
        loop_runs, iters = run_request_loop(
            loop_targets, requests, args.rate, args.repeats, args.timeout
        )
        loop_med = report.loop_medians(loop_runs)
        data["request_loop"] = {"medians": loop_med, "runs": loop_runs, "work_iters": iters}

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
                f"{requests:,} requests paced at {args.rate:,.0f}/s, each doing "
                f"~{WORK_TARGET_US:.0f} µs of pure-Python work, then one log call. Latency runs "
                "from when a request could start (its slot, or the previous request's end) to "
                "its end; each column is the median over the repeats, and each 'added' is the "
                "median of the repeats' ratios to the no-logging run of the same repeat."
            ),
            "",
            *report.loop_table(loop_med),
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
        target_lines, verdicts = report.targets_section(med, loop_med, soak, imports)
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
