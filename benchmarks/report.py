"""Turn raw runs into medians, Markdown tables, ratios and the issue's targets."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, median
from benchmarks._targets import QUEUE_SIZE, TARGETS


TAPELOG = "tapelog"
COMPILED = "tapelog-compiled"  # the optional compiled build's row (benchmarks/_compiled.py)
X = "\N{MULTIPLICATION SIGN}"
# metric -> (column title, lower is better)
THROUGHPUT_COLUMNS: dict[str, tuple[str, bool]] = {
    "caller_ns": ("caller ns/call", True),
    "caller_cpu_ns": ("caller CPU ns/call", True),
    "burst_ns": ("burst of 10k: ns/call", True),
    "e2e_eps": ("end-to-end entries/s", False),
    "cpu_ns_per_entry": ("CPU ns/entry, all threads", True),
    "disabled_ns": ("disabled ns/call", True),
    "disabled_cpu_ns": ("disabled CPU ns/call", True),
    "peak_rss_mib": ("peak RSS MiB", True),
}
RATIO_NAMES = {
    "caller_ns": "caller cost",
    "caller_cpu_ns": "caller CPU",
    "burst_ns": "burst caller",
    "e2e_eps": "end-to-end throughput",
    "cpu_ns_per_entry": "CPU per entry",
    "disabled_ns": "disabled call",
    "peak_rss_mib": "peak RSS",
}
LOOP_TARGETS = [
    "off",
    "tapelog",
    "tapelog-compiled",
    "tapelog-switch-1ms",
    "tapelog-sync",
    "stdlib",
    "stdlib-async",
    "picologging",
    "picologging-async",
    "structlog",
    "structlog-async",
    "loguru",
    "loguru-async",
]
IMPORT_MODULES = ["tapelog", "picologging", "structlog", "loguru", "logging"]
IMPORT_TARGET_MS = 40.0  # issue #18: import tapelog, the fastest of the runs
CPU_TARGET_NS = 1400.0  # issue #18: CPU per entry, all threads together
P99_TARGET_PCT = 15.0  # issue #18: p99 added latency at 10,000 requests/s
Run = dict[str, Any]


# -- machine -------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for dist in (
        "tapelog",
        "picologging",
        "structlog",
        "loguru",
        "orjson",
        "python-json-logger",
        "opentelemetry-api",  # when installed, tapelog captures the trace context per call
    ):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    try:
        rev = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    except OSError:
        rev = ""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "versions": versions,
        "git": rev,
        "loadavg_at_start": os.getloadavg()[0],
    }


def machine_lines(info: dict[str, Any], params: dict[str, Any]) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    return [
        f"- date: {info['date']}; tree: `{info['git']}`",
        f"- machine: {info['cpu']}, {info['cores']} cores, {info['python']}, {info['platform']}",
        f"- versions: {versions}",
        (
            "- parameters: "
            + ", ".join(
                f"{k} = {v:,}" if isinstance(v, int) else f"{k} = {v}" for k, v in params.items()
            )
        ),
        (
            f"- load average (1 min) when the run started: {info['loadavg_at_start']:.2f}"
            " (anything near the core count means other work shared the CPUs)"
        ),
    ]


# -- formatting ----------------------------------------------------------------------


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}%"


def ratio(value: float | None, other: float | None) -> float | None:
    if value is None or other is None or other == 0:
        return None
    return value / other


def fmt_ratio(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}{X}" if value < 10 else f"{value:.1f}{X}"


def table(header: list[str], rows: list[list[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(marks) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


# -- throughput ----------------------------------------------------------------------


def throughput_medians(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """Per target: the median of each metric over the repeats; lines lost: the worst."""
    out: dict[str, dict[str, Any]] = {}
    for name, target_runs in runs.items():
        ok = [r for r in target_runs if "error" not in r]
        row: dict[str, Any] = {
            key: median(r.get(key) for r in ok) for key in [*THROUGHPUT_COLUMNS, "bytes_per_line"]
        }
        row["lines_lost_max"] = max((r["lines_lost"] for r in ok), default=None)
        row["runs"] = len(ok)
        row["errors"] = [r["error"] for r in target_runs if "error" in r]
        row["caller_ns_all"] = [round(r["caller_ns"]) for r in ok]
        row["e2e_eps_all"] = [round(r["e2e_eps"]) for r in ok]
        out[name] = row
    return out


def throughput_table(med: dict[str, dict[str, Any]]) -> list[str]:
    header = [
        "row",
        *(title for title, _ in THROUGHPUT_COLUMNS.values()),
        "lines lost (worst)",
        "bytes/line",
    ]
    rows = []
    for name, target in TARGETS.items():
        m = med.get(name)
        if m is None:
            continue
        cells = [target.label]
        cells.extend(fmt(m[key], 1 if key == "peak_rss_mib" else 0) for key in THROUGHPUT_COLUMNS)
        lost = m["lines_lost_max"]
        cells.append("n/a" if lost is None else f"{lost:,}")
        cells.append(fmt(m["bytes_per_line"]))
        if m["errors"]:
            cells[0] += f" ({len(m['errors'])} failed runs)"
        rows.append(cells)
    return table(header, rows)


def peers(med: dict[str, dict[str, Any]]) -> list[str]:
    return [n for n in med if TARGETS[n].group == "peer" and med[n]["runs"]]


def ratio_table(med: dict[str, dict[str, Any]]) -> list[str]:
    """tapelog (async) against every other row, metric by metric."""
    mine = med.get(TAPELOG)
    if mine is None or not mine["runs"]:
        return ["(no tapelog result)"]
    header = ["tapelog (async) vs", *RATIO_NAMES.values()]
    rows = []
    for name, target in TARGETS.items():
        if name == TAPELOG or name not in med or not med[name]["runs"]:
            continue
        cells = [target.label.replace("*", "")]
        cells.extend(fmt_ratio(ratio(mine[key], med[name][key])) for key in RATIO_NAMES)
        rows.append(cells)
    return [
        *table(header, rows),
        "",
        (
            f"Each cell is tapelog's value divided by the row's: below 1{X} is better for costs, "
            f"time and memory; above 1{X} is better for throughput."
        ),
    ]


def builds(med: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """tapelog's async rows that ran: the pure-Python package, and the compiled build."""
    names = ((TAPELOG, "pure Python"), (COMPILED, "compiled"))
    return [(name, build) for name, build in names if name in med and med[name]["runs"]]


def met_text(met_by: list[str]) -> str:
    """Which build met a target, for the start of its line."""
    if not met_by:
        return "Met by no build. "
    return (
        "Met by the " + " and the ".join(met_by) + (" builds. " if len(met_by) > 1 else " build. ")
    )


def fastest(med: dict[str, dict[str, Any]], key: str, *, lowest: bool) -> tuple[str, float]:
    candidates = [(med[n][key], n) for n in peers(med) if med[n][key] is not None]
    value, name = min(candidates) if lowest else max(candidates)
    return name, value


def targets_section(
    med: dict[str, dict[str, Any]],
    loop: dict[str, dict[str, Any]] | None,
    soak: dict[str, Any] | None,
    imports: dict[str, list[float]] | None = None,
    n_calls: int = 200_000,
) -> tuple[list[str], list[dict[str, object]]]:
    """One line per target of the issue: met or missed, and by how much."""
    lines: list[str] = []
    verdicts: list[dict[str, object]] = []

    def verdict(name: str, met: bool | None, text: str) -> None:
        mark = "n/a" if met is None else ("**met**" if met else "**missed**")
        lines.append(f"- {name}: {mark}. {text}")
        verdicts.append({"target": name, "met": met, "detail": text})

    mine = med.get(TAPELOG)
    if mine is None or not mine["runs"] or not peers(med):
        verdict("all targets", None, "tapelog or the peers did not run.")
        return lines, verdicts

    peer_name, peer_ns = fastest(med, "caller_ns", lowest=True)
    cpu_name, cpu_ns = fastest(med, "caller_cpu_ns", lowest=True)
    burst_name, burst_ns = fastest(med, "burst_ns", lowest=True)
    met_by = []
    parts = []
    for name, build in builds(med):
        row = med[name]
        r = row["caller_ns"] / peer_ns
        if r <= 1 / 3 and row["lines_lost_max"] == 0:
            met_by.append(build)
        parts.append(
            f"{build}: {fmt(row['caller_ns'])} ns/call, {fmt_ratio(r)} "
            + (
                f"(met with room {fmt_ratio(1 / (r * 3))})"
                if r <= 1 / 3
                else f"(must get {fmt_ratio(r * 3)} faster)"
            )
            + f"; on caller CPU time {fmt(row['caller_cpu_ns'])} against "
            f"{TARGETS[cpu_name].label} {fmt(cpu_ns)}, "
            f"{fmt_ratio(row['caller_cpu_ns'] / cpu_ns)}; in a 10,000-entry burst "
            f"{fmt(row['burst_ns'])} against {TARGETS[burst_name].label} {fmt(burst_ns)}, "
            f"{fmt_ratio(row['burst_ns'] / burst_ns)}; runs {row['caller_ns_all']}, worst run "
            f"lost {row['lines_lost_max']} lines"
        )
    verdict(
        f"caller cost over a {n_calls:,}-call burst ≤ 1/3 of the fastest peer's, no line lost "
        "(#18 item 3)",
        bool(met_by),
        met_text(met_by)
        + "Caller wall time over the whole burst (waits for a full queue included) against "
        f"{TARGETS[peer_name].label} {fmt(peer_ns)} ns/call (runs "
        f"{med[peer_name]['caller_ns_all']}), target ≤ 0.33{X}: " + "; ".join(parts) + ".",
    )

    peer_name, peer_eps = fastest(med, "e2e_eps", lowest=False)
    met_by = []
    parts = []
    for name, build in builds(med):
        r = med[name]["e2e_eps"] / peer_eps
        if r >= 2:
            met_by.append(build)
        parts.append(
            f"{build}: {fmt(med[name]['e2e_eps'])} entries/s, {fmt_ratio(r)}"
            + (f" ({fmt_ratio(2 / r)} short)" if r < 2 else "")
        )
    verdict(
        f"end-to-end throughput ≥ 2{X} the fastest peer's",
        bool(met_by),
        met_text(met_by)
        + f"Against {TARGETS[peer_name].label} {fmt(peer_eps)} entries/s, target ≥ 2{X}: "
        + "; ".join(parts)
        + ".",
    )

    std = med.get("stdlib")
    if std is not None and std["runs"]:
        r = mine["disabled_ns"] / std["disabled_ns"]
        r_cpu = mine["disabled_cpu_ns"] / std["disabled_cpu_ns"]
        verdict(
            "disabled call no slower than stdlib's",
            r <= 1,
            f"tapelog {fmt(mine['disabled_ns'])} ns against stdlib {fmt(std['disabled_ns'])}: "
            f"{fmt_ratio(r)}; on CPU time {fmt(mine['disabled_cpu_ns'])} against "
            f"{fmt(std['disabled_cpu_ns'])}, {fmt_ratio(r_cpu)}. (stdlib's number is a "
            "LoggerAdapter's debug(), which is what binding fields costs there.)",
        )

    if soak is None:
        verdict(
            "memory bounded by the queue size (flat RSS over 10 M entries)",
            None,
            "not measured by this run: `python -m benchmarks soak` measures it and writes "
            "`benchmarks/results/soak.json`, which later runs quote. "
            f"Here: peak RSS {fmt(mine['peak_rss_mib'], 1)} MiB for "
            f"{QUEUE_SIZE:,}-entry queue.",
        )
    else:
        verdict(
            "memory bounded by the queue size (flat RSS over 10 M entries)",
            bool(soak["flat"]),
            f"from the soak run of {soak['date']}: {soak['summary']}",
        )

    lost = [mine["lines_lost_max"]]
    if loop is not None and TAPELOG in loop:
        lost.append(loop[TAPELOG].get("lines_lost_max"))
    if soak is not None:
        lost.append(soak.get("lines_lost"))
    worst = max((v for v in lost if v is not None), default=None)
    verdict(
        "zero lines lost in block mode",
        None if worst is None else worst == 0,
        f"worst over every tapelog run in this report: {worst} lines lost.",
    )

    cpu_name, cpu_peer = fastest(med, "cpu_ns_per_entry", lowest=True)
    parts = []
    met_by = []
    for name, build in builds(med):
        cpu = med[name]["cpu_ns_per_entry"]
        if cpu is not None and cpu <= CPU_TARGET_NS:
            met_by.append(build)
        parts.append(f"{build} {fmt(cpu)} ns ({fmt_ratio(ratio(cpu, cpu_peer))} of the peer)")
    verdict(
        f"CPU per entry, all threads, ≤ {fmt(CPU_TARGET_NS)} ns (#18 item 2)",
        bool(met_by),
        met_text(met_by)
        + "tapelog (async): "
        + "; ".join(parts)
        + f". The fastest peer, {TARGETS[cpu_name].label}: {fmt(cpu_peer)} ns.",
    )
    if imports is not None and imports.get(TAPELOG):
        best = min(imports[TAPELOG]) / 1000
        peers_ms = {m: min(v) / 1000 for m, v in imports.items() if v and m != TAPELOG}
        quickest = min(peers_ms, key=peers_ms.__getitem__, default=None)
        verdict(
            f"import tapelog ≤ {fmt(IMPORT_TARGET_MS)} ms (#18, fastest of the runs)",
            best <= IMPORT_TARGET_MS,
            f"{fmt(best, 1)} ms (median {fmt((median(imports[TAPELOG]) or 0) / 1000, 1)})"
            + (
                f"; the quickest other module, `{quickest}`, {fmt(peers_ms[quickest], 1)} ms."
                if quickest is not None
                else "."
            ),
        )

    if loop is not None:
        for name, met, text in loop_targets(loop):
            verdict(name, met, text)
    return lines, verdicts


def loop_targets(loop: dict[str, dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """#18's two lines on the request loop (p99 added, mean added): name, met, detail."""
    out: list[tuple[str, bool | None, str]] = []
    if not loop.get(TAPELOG, {}).get("runs"):
        return out
    mine_loop = loop[TAPELOG]
    control = loop.get(LOOP_CONTROL)
    noise = (
        f" With no logging in either arm the same measure reads "
        f"{signed(control.get('open_added_p99_pct'))} open (runs "
        f"{spread(control.get('open_added_p99_runs', []))}), "
        f"{signed(control['added_p99_pct'])} closed (runs "
        f"{spread(control['added_p99_runs'])}){behind_text(control)}."
        if control and control.get("runs")
        else ""
    )
    met_by = []
    parts = []
    for name, build in builds(loop):
        row = loop[name]
        p99 = row.get("open_added_p99_pct")
        if p99 is not None and p99 <= P99_TARGET_PCT:
            met_by.append(build)
        parts.append(
            f"{build}: p99 {signed(p99)} open (runs "
            f"{spread(row.get('open_added_p99_runs', []))}; middle half of the pairs "
            f"{signed(row.get('open_pairs_p99_q1'))} to "
            f"{signed(row.get('open_pairs_p99_q3'))}), {signed(row['added_p99_pct'])} "
            f"closed (runs {spread(row['added_p99_runs'])})" + behind_text(row)
        )
    out.append(
        (
            f"10,000 requests/s loop: p99 added latency ≤ +{fmt(P99_TARGET_PCT)}% (#18)",
            bool(met_by),
            met_text(met_by)
            + "Each half-second block with logging against the neighbouring block without, "
            f"in the same process, the median of {plural(mine_loop['pairs'], 'such pair')} "
            f"from {plural(mine_loop['runs'], 'run')}, judged on the open-loop latency "
            "(every request from its slot, so the requests queued behind a slow one count "
            "their wait; the closed form, from the slot or the previous end, is given "
            "after it): " + "; ".join(parts) + "." + noise,
        )
    )
    added = mine_loop.get("open_added_mean_pct")
    out.append(
        (
            "10,000 requests/s loop: < 5% added latency",
            added is not None and added < 5,
            (
                f"mean latency {signed(added)} open (the median block pair; pooled over "
                f"whole runs, the median run {signed(mine_loop.get('open_pooled_mean_pct'))}), "
                f"{signed(mine_loop['added_mean_pct'])} closed (closed p50 {signed(mine_loop['added_p50_pct'])}, "
                f"p99 {signed(mine_loop['added_p99_pct'])}; the calling thread's CPU per "
                f"request {signed(mine_loop['added_cpu_pct'])}) against the same loop "
                f"without logging; the loop ran at {fmt(mine_loop['achieved_rate'])} "
                "requests/s."
            ),
        )
    )
    return out


# -- request loop --------------------------------------------------------------------


def loop_medians(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """Per row: medians over the runs; each run's "added" already pairs its two arms.

    Every run alternates blocks with and without logging in one process (run_one's
    ``request_loop``), so each run yields its own added latency. p99 added is the median of
    all block pairs of all runs (each pair: its block with logging against its block
    without); the row also gives each run's median pair (least and greatest), the middle
    half of the pairs, and the p99 over whole runs (pooled). Mean and p50 added: the
    median of the runs' pooled ratios.
    """
    keys = [
        "latency_mean_us",
        "latency_p50_us",
        "latency_p99_us",
        "latency_p999_us",
        "off_latency_p50_us",
        "off_latency_p99_us",
        "cpu_mean_us",
        "off_cpu_mean_us",
        "achieved_rate",
        "late_fraction",
        "late_fraction_on",
        "late_fraction_off",
        "loadavg_1m",
        "open_latency_p99_us",
        "off_open_latency_p99_us",
        "open_added_mean_pct",
        "open_added_p999_pct",
        *LOOP_ADDED,
    ]
    out: dict[str, dict[str, Any]] = {}
    for name, target_runs in runs.items():
        ok = [r for r in target_runs if "error" not in r]
        row: dict[str, Any] = {k: median(r.get(k) for r in ok) for k in keys}
        row["lines_lost_max"] = max((r.get("lines_lost", 0) for r in ok), default=None)
        row["runs"] = len(ok)
        row["errors"] = [r["error"] for r in target_runs if "error" in r]
        row["added_p99_runs"] = [round(r["added_p99_pct"], 1) for r in ok]
        row["pooled_p99_pct"] = median(r.get("pooled_p99_pct") for r in ok)
        pairs = sorted(v for r in ok for v in r.get("pairs_p99_pct", []))
        # The row's p99 added: the median block pair over all its runs.
        row["added_p99_pct"] = median(pairs)
        row["pairs"] = len(pairs)
        row["pairs_p99_q1"] = _quantile(pairs, 0.25)
        row["pairs_p99_q3"] = _quantile(pairs, 0.75)
        # The open-loop form (every request from its slot), which #18 item 4 is judged on.
        opened = [r for r in ok if "open_pairs_p99_pct" in r]
        open_pairs = sorted(v for r in opened for v in r["open_pairs_p99_pct"])
        row["open_added_p99_pct"] = median(open_pairs)
        row["open_added_p99_runs"] = [round(r["open_added_p99_pct"], 1) for r in opened]
        row["open_pooled_p99_pct"] = median(r.get("open_pooled_p99_pct") for r in opened)
        row["open_pairs"] = len(open_pairs)
        row["open_pairs_p99_q1"] = _quantile(open_pairs, 0.25)
        row["open_pairs_p99_q3"] = _quantile(open_pairs, 0.75)
        # The open mean added: the median block pair too (runs from before 2026-12-07's
        # sixth session give only their pooled ratio, whose median run stands in).
        row["open_pooled_mean_pct"] = row["open_added_mean_pct"]
        mean_pairs = sorted(v for r in opened for v in r.get("open_pairs_mean_pct", []))
        if mean_pairs:
            row["open_added_mean_pct"] = median(mean_pairs)
        # Runs that fell behind the rate: their backlog is in both arms of the open form,
        # so they are named, and the open p99 is also given without them.
        behind = [r for r in opened if r.get("behind")]
        row["behind_rates"] = [round(r["achieved_rate"]) for r in behind]
        kept = sorted(v for r in opened if not r.get("behind") for v in r["open_pairs_p99_pct"])
        row["open_added_p99_kept_pct"] = median(kept) if behind and kept else None
        out[name] = row
    return out


def behind_text(row: dict[str, Any]) -> str:
    """The runs of a row that fell behind the rate, and the open p99 without them."""
    rates = row.get("behind_rates") or []
    if not rates:
        return ""
    kept = row.get("open_added_p99_kept_pct")
    return (
        f"; {plural(len(rates), 'run')} fell behind the rate or had no slack "
        f"({', '.join(f'{r:,}' for r in rates)} requests/s)"
        + (f", open p99 without them {signed(kept)}" if kept is not None else "")
    )


def _quantile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


LOOP_ADDED = {
    "added_mean_pct": "latency_mean_us",
    "added_p50_pct": "latency_p50_us",
    "added_p99_pct": "latency_p99_us",
    "added_cpu_pct": "cpu_mean_us",
}
LOOP_CONTROL = "off"  # both arms without logging: the measure's own noise (an A/A test)


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def spread(values: list[float]) -> str:
    """``least to greatest`` of signed percentages, or n/a."""
    if not values:
        return "n/a"
    return f"{min(values):+.1f} to {max(values):+.1f}%"


def loop_label(name: str) -> str:
    """A request-loop row's name: the control's (no call in either arm) or the target's."""
    if name == LOOP_CONTROL:
        return "no logging in either arm (the measure's own noise)"
    return TARGETS[name].label


def loop_table(med: dict[str, dict[str, Any]]) -> list[str]:
    header = [
        "logging",
        "p50 µs",
        "p99 µs: without → with",
        "added: mean",
        "p50",
        "**p99**",
        "p99 added: least to greatest run",
        "p99 added: middle half of block pairs",
        "caller CPU µs/request",
        "added CPU",
        "requests/s done",
        "lines lost",
    ]
    rows = []
    for name in LOOP_TARGETS:
        m = med.get(name)
        if m is None:
            continue
        control = name == LOOP_CONTROL
        label = loop_label(name)
        if not m["runs"]:
            rows.append(
                [f"{label} (failed: {'; '.join(m['errors'])[:80]})", *[""] * (len(header) - 1)]
            )
            continue
        q1, q3 = m["pairs_p99_q1"], m["pairs_p99_q3"]
        rows.append(
            [
                label,
                fmt(m["latency_p50_us"], 1),
                f"{fmt(m['off_latency_p99_us'], 1)} → {fmt(m['latency_p99_us'], 1)}",
                signed(m["added_mean_pct"]),
                signed(m["added_p50_pct"]),
                signed(m["added_p99_pct"]),
                spread(m["added_p99_runs"]) + f" ({plural(m['runs'], 'run')})",
                "n/a" if q1 is None else f"{q1:+.1f} to {q3:+.1f}% ({plural(m['pairs'], 'pair')})",
                fmt(m["cpu_mean_us"], 1),
                signed(m["added_cpu_pct"]),
                fmt(m["achieved_rate"]),
                "" if control else fmt(m["lines_lost_max"]),
            ]
        )
    return table(header, rows)


def loop_open_table(med: dict[str, dict[str, Any]]) -> list[str]:
    """The open-loop form (every request from its slot) and how well each row kept the rate."""
    header = [
        "logging",
        "open p99 µs: without → with",
        "open added: mean",
        "**open p99**",
        "open p99 added: least to greatest run",
        "open p99 added: middle half of block pairs",
        "open p99.9 added",
        "closed p99 added",
        "late requests: with / without logging",
        "requests/s done",
        "runs behind the rate or without slack (> 5% late without logging)",
    ]
    rows = []
    for name in LOOP_TARGETS:
        m = med.get(name)
        if m is None or not m["runs"] or m.get("open_added_p99_pct") is None:
            continue
        label = loop_label(name)
        q1, q3 = m["open_pairs_p99_q1"], m["open_pairs_p99_q3"]
        rates = m.get("behind_rates") or []
        kept = m.get("open_added_p99_kept_pct")
        rows.append(
            [
                label,
                f"{fmt(m['off_open_latency_p99_us'], 1)} → {fmt(m['open_latency_p99_us'], 1)}",
                signed(m["open_added_mean_pct"]),
                signed(m["open_added_p99_pct"]),
                spread(m["open_added_p99_runs"]) + f" ({plural(m['runs'], 'run')})",
                f"{q1:+.1f} to {q3:+.1f}% ({plural(m['open_pairs'], 'pair')})",
                signed(m["open_added_p999_pct"]),
                signed(m["added_p99_pct"]),
                f"{percent(m['late_fraction_on'])} / {percent(m['late_fraction_off'])}",
                fmt(m["achieved_rate"]),
                (
                    "none"
                    if not rates
                    else ", ".join(f"{r:,}/s" for r in rates)
                    + (f" (open p99 without them {signed(kept)})" if kept is not None else "")
                ),
            ]
        )
    return table(header, rows)


def percent(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.2f}%"


# -- import time ---------------------------------------------------------------------


def import_table(runs: dict[str, list[float]]) -> tuple[list[str], dict[str, float | None]]:
    med = {name: median(values) for name, values in runs.items()}
    mine = med.get("tapelog")
    rows = [
        [
            f"`import {name}`",
            fmt((value or 0) / 1000, 1),
            fmt(min(runs[name]) / 1000, 1) if runs[name] else "n/a",
            fmt_ratio(ratio(mine, value)),
        ]
        for name, value in med.items()
    ]
    return table(["module", "ms (median)", "ms (fastest)", "tapelog vs"], rows), med


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)


# -- calls table (zap / zerolog style) -----------------------------------------------

CALL_KINDS = {
    "static": "static message",
    "fields10": "10 fields",
    "disabled": "disabled",
}


def calls_medians(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """Per target and call: medians over the repeats of ns, blocks, bytes and peak bytes."""
    out: dict[str, dict[str, Any]] = {}
    for name, target_runs in runs.items():
        ok = [r for r in target_runs if "error" not in r]
        row: dict[str, Any] = {
            "runs": len(ok),
            "errors": [r["error"] for r in target_runs if "error" in r],
        }
        for kind in CALL_KINDS:
            row[kind] = {
                key: median(r["calls"][kind][key] for r in ok)
                for key in ("ns", "blocks", "bytes", "peak_bytes")
            }
            row[kind]["ns_runs"] = [round(r["calls"][kind]["ns"]) for r in ok]
        out[name] = row
    return out


def calls_table(med: dict[str, dict[str, Any]]) -> list[str]:
    header = ["row"]
    for title in CALL_KINDS.values():
        header += [f"{title}: ns/call", "allocs/call: blocks · bytes · peak bytes"]
    rows = []
    for name, target in TARGETS.items():
        m = med.get(name)
        if m is None:
            continue
        cells = [target.label + (f" ({len(m['errors'])} failed runs)" if m["errors"] else "")]
        for kind in CALL_KINDS:
            c = m[kind]
            cells.append(fmt(c["ns"]))
            cells.append(
                "n/a"
                if c["blocks"] is None
                else f"{c['blocks']:.1f} · {fmt(c['bytes'])} · {fmt(c['peak_bytes'])}"
            )
        rows.append(cells)
    return table(header, rows)


# -- fixed-rate curve (log4j2 style) -------------------------------------------------

RATE_TARGETS = [
    "off",
    "floor-enqueue",
    "tapelog",
    "stdlib-async",
    "picologging-async",
    "structlog-async",
    "loguru-async",
]


def rate_medians(runs: dict[str, list[Run]]) -> dict[str, dict[str, Any]]:
    """Per target, per rate step: the median over the runs that finished the step.

    A run that hung (``run_watched``: its heartbeat stopped) keeps the steps it finished
    and says at which rate it hung; the later steps have no numbers from it.
    """
    out: dict[str, dict[str, Any]] = {}
    for name, target_runs in runs.items():
        ok = [r for r in target_runs if "error" not in r]
        steps: list[dict[str, Any]] = []
        for index in range(max((len(r["steps"]) for r in ok), default=0)):
            same = [r["steps"][index] for r in ok if len(r["steps"]) > index]
            step = {
                key: median(s[key] for s in same)
                for key in ("achieved_rate", "p50_us", "p99_us", "p999_us", "max_us")
            }
            step["rate"] = same[0]["rate"]
            step["runs"] = len(same)
            step["p99_runs"] = [round(s["p99_us"]) for s in same]
            steps.append(step)
        out[name] = {
            "runs": len(ok),
            "errors": [r["error"] for r in target_runs if "error" in r],
            "hung": [r["hung"] for r in ok if "hung" in r],
            "steps": steps,
            "lines_lost_max": max(
                (r.get("lines_lost", 0) for r in ok if "hung" not in r), default=None
            ),
        }
    return out


FELL_BEHIND = 0.9  # a paced step that reached less than this share of its rate fell behind


def rate_cell(step: dict[str, Any] | None, hung: list[dict[str, Any]], runs: int) -> str:
    """p50 · p99 · p99.9 · max of one step, and what stopped or slowed the row there."""
    text = ""
    if step is not None:
        text = " · ".join(fmt(step[k]) for k in ("p50_us", "p99_us", "p999_us", "max_us"))
        reached = step["achieved_rate"]
        if step["rate"] and reached is not None and reached < FELL_BEHIND * step["rate"]:
            text += f" (fell behind: {fmt(reached)}/s)"
    if hung:
        where = "; ".join(sorted({h["where"] for h in hung}))
        note = f"hung in {len(hung)} of {runs} runs, stopped (threads in {where})"
        text = f"{text}; {note}" if text else f"**{note}**"
    return text


def rate_table(med: dict[str, dict[str, Any]]) -> list[str]:
    rates: list[float] = []
    for m in med.values():
        if len(m["steps"]) > len(rates):
            rates = [s["rate"] for s in m["steps"]]
    header = [
        "row",
        *(f"{r / 1000:,.0f}k/s" if r else "unpaced: p50 · p99 · p99.9 · max" for r in rates),
        "unpaced: calls/s reached",
        "lines lost",
    ]
    rows = []
    for name in RATE_TARGETS:
        m = med.get(name)
        if m is None:
            continue
        label = "off (an empty function)" if name == "off" else TARGETS[name].label
        if not m["runs"]:
            rows.append(
                [f"{label} (failed: {'; '.join(m['errors'])[:80]})", *[""] * (len(header) - 1)]
            )
            continue
        cells = [label]
        stopped = False
        for index, rate in enumerate(rates):
            step = m["steps"][index] if index < len(m["steps"]) else None
            hung = [h for h in m["hung"] if h["rate"] == rate]
            if stopped and step is None:
                cells.append("-")
                continue
            cells.append(rate_cell(step, hung, m["runs"]) or "-")
            stopped = stopped or (bool(hung) and step is None)
        last = m["steps"][-1] if len(m["steps"]) == len(rates) else None
        cells.append(fmt(last["achieved_rate"]) if last else "-")
        lost = m["lines_lost_max"]
        cells.append("" if name == "off" else ("-" if lost is None else fmt(lost)))
        rows.append(cells)
    return table(header, rows)


# -- domain budgets ------------------------------------------------------------------


def budgets_section(runs: list[Run]) -> tuple[list[str], list[dict[str, object]]]:
    """One line per budget: the median of the runs, their spread, met or not."""
    from benchmarks.budgets import BUDGETS

    ok = [r for r in runs if "error" not in r]
    rows = []
    verdicts: list[dict[str, object]] = []
    for budget in BUDGETS:
        values = [r[budget.key] for r in ok if r.get(budget.key) is not None]
        mid = median(values)
        met = (
            None
            if mid is None
            else (mid <= budget.limit if budget.at_most else mid >= budget.limit)
        )
        digits = 0 if budget.limit >= 100 else 2
        spread = f"{fmt(min(values), digits)} to {fmt(max(values), digits)}" if values else "n/a"
        rows.append(
            [
                budget.label,
                f"{'≤' if budget.at_most else '≥'} {fmt(budget.limit, digits)} {budget.unit}",
                f"{fmt(mid, digits)} {budget.unit}" if mid is not None else "n/a",
                spread,
                "n/a" if met is None else ("**met**" if met else "**missed**"),
            ]
        )
        verdicts.append(
            {
                "target": budget.label,
                "met": met,
                "median": mid,
                "runs": values,
                "item8": budget.item8,
            }
        )
    failed = len(runs) - len(ok)
    lines = [
        *table(["budget", "target", "median", f"spread of {len(ok)} runs", ""], rows),
        *(["", f"{failed} run(s) failed: {runs[-1].get('error', '')}"] if failed else []),
    ]
    return lines, verdicts


def budgets_target(verdicts: list[dict[str, Any]]) -> tuple[str, bool]:
    """#18 item 8's verdict and its detail: met when every budget it names is met; the
    other budgets are listed after."""
    named = [v for v in verdicts if v["item8"]]
    met = all(v["met"] for v in named)
    others = ", ".join(
        f"{v['target']}: {'met' if v['met'] else 'missed'}" for v in verdicts if not v["item8"]
    )
    detail = (
        f"{sum(1 for v in named if v['met'])} of the {len(named)} it names met (trade event,"
        " audit sealing, metric observation, error capture). #14's and #16's own budgets, in"
        f" the same table: {others}."
    )
    return detail, met
