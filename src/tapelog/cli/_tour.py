"""The tour: both example applications run, then a summary for a newcomer.

From a source checkout, ``tapelog demo`` ends by running ``examples/proxy_rotator`` and
``examples/trading_engine`` (each in its own process, side by side, a few seconds) and
says where each file is, what each feature showed in it, and which commands look further.
An installed package has no ``examples/``; the tour then says where to find them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tapelog.cli._query import query_paths


__all__ = ["examples_dir", "run_tour"]

_TIMEOUT = 90.0


def examples_dir() -> Path | None:
    """The checkout's ``examples/`` holding both applications, or None (none found).

    Next to the package (an editable install), else in the current directory (a regular
    install, such as the compiled build, run from a checkout).
    """
    apps = ("proxy_rotator/__main__.py", "trading_engine/__main__.py")
    for root in (Path(__file__).resolve().parents[3] / "examples", Path.cwd() / "examples"):
        if all((root / app).is_file() for app in apps):
            return root
    return None


def _has_command(name: str) -> bool:
    return importlib.util.find_spec(f"tapelog.cli._{name}") is not None


def _events(logs: Path, stem: str) -> Counter[str]:
    """Events in one log (``stem``): the live file and its rotated files, here and archived."""
    files = [*logs.glob(f"{stem}.*jsonl*"), *(logs / "archive").glob(f"{stem}.*jsonl*")]
    files = [f for f in files if f.name != f"{stem}.jsonl.lock"]
    return Counter(str(e.get("event", "")) for e in query_paths(files))


def _json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def run_tour(out: Path, seconds: float) -> int:
    """Run both applications into ``out``; print what they showed. Returns 0 when both ran."""
    examples = examples_dir()
    print()
    if examples is None:
        print("The tour of the two example applications (a proxy rotator and a trading engine)")
        print("runs from a source checkout: examples/proxy_rotator and examples/trading_engine.")
        return 0
    proxy_out, trading_out = out / "proxy-rotator", out / "trading-engine"
    print(f"Tour: the proxy rotator and the trading engine, side by side ({seconds:g} s) ...")
    started = time.monotonic()
    runs = {
        "proxy rotator": subprocess.Popen(
            [sys.executable, str(examples / "proxy_rotator"), str(proxy_out),
             "--requests", str(int(100 * seconds)), "--rate", "100"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
        "trading engine": subprocess.Popen(
            [sys.executable, str(examples / "trading_engine"), str(trading_out),
             "--duration", f"{seconds:g}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        ),
    }  # fmt: skip
    failed: list[str] = []
    for name, process in runs.items():
        try:
            _, err = process.communicate(timeout=_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            err = "timed out"
        if process.returncode != 0:
            failed.append(name)
            print(f"  {name} failed: {err.strip().splitlines()[-1:] or ['no output']}")
    if failed:
        return 1
    print(f"  both ran in {time.monotonic() - started:.1f} s")
    _proxy_summary(proxy_out)
    _trading_summary(trading_out)
    _further(out, proxy_out, trading_out)
    return 0


def _proxy_summary(out: Path) -> None:
    logs = out / "logs"
    stats = _json(out / "stats.json")
    app, sinks = stats.get("app", {}), stats.get("tapelog", {}).get("sinks", {})
    health = _events(logs, "health")
    archives = sorted((logs / "archive").glob("*.gz"))
    http = sinks.get("http", {})
    lines = [
        f"The proxy rotator ({out})",
        (
            f"  logs/proxy.jsonl     {app.get('served', 0)} of {app.get('requests', 0)} requests"
            " served"
            f" through 5 upstream proxies; {app.get('rotations', 0)} times an upstream failed and"
            " the next one took the request"
        ),
        (
            "                       each entry of a request carries its request_id, proxy.id and"
            " proxy.strategy (bound through context); passwords in proxy URLs read [REDACTED]@"
        ),
        (
            f"  logs/health.jsonl    {app.get('health_checks', 0)} health checks and"
            f" {health['health.changed']} changes (a component filter: health entries only)"
        ),
        (
            f"  logs/archive/        {len(archives)} rotated, compressed files kept"
            " (rotated at 32 KiB, the oldest purged beyond 3)"
        ),
        "  logs/proxy.logfmt    the same entries, as logfmt",
        (
            f"  collector.jsonl      {http.get('written', 0)} entries at the HTTP collector,"
            f" {http.get('sampled_out', 0)} sampled out (whole requests; warnings always kept)"
        ),
        f"  syslog-received.log  {sinks.get('syslog', {}).get('written', 0)} RFC 5424 messages",
        "  proxy-rotator.toml   its levels: edit it while it runs (--serve), applied in a second",
    ]
    print()
    print("\n".join(lines))


def _trading_summary(out: Path) -> None:
    events = _events(out / "logs", "engine")
    kinds = ("placed", "partially_filled", "filled", "replaced", "canceled", "rejected")
    orders = ", ".join(f"{events['order.' + kind]} {kind.replace('_', ' ')}" for kind in kinds)
    lines = [
        f"The trading engine ({out})",
        f"  logs/trades.audit.jsonl  order events with FIX fields and exact decimals: {orders}",
        (
            f"  logs/engine.jsonl        {events['exchange.call_failed']} failed exchange calls"
            " (refused, 503, stalled), each with its error object and traceback;"
            f" {events['order.validation_failed']} order refused before it left (validation);"
            f" {events['strategy.error']} strategy bug with its stack and context"
        ),
        (
            f"                           {events['metrics.snapshot']} metric points (API response"
            " time, order-processing delay, market-data interval, CPU, memory, network);"
            f" {events['metrics.threshold_exceeded']} threshold alert (memory above its limit)"
        ),
        (
            "                           rotated beside itself (gzip); files older than 90 days"
            " move to logs/archive/"
        ),
    ]
    print()
    print("\n".join(lines))


def _further(out: Path, proxy_out: Path, trading_out: Path) -> None:
    trading_logs, proxy_logs = trading_out / "logs", proxy_out / "logs"
    requests = int(_json(proxy_out / "stats.json").get("app", {}).get("requests", 1))
    last_request = f"req-{max(requests - 1, 0):06d}"  # the newest: older files may be purged
    lines = [
        "Look further",
        (
            f"  tapelog query {trading_logs / 'trades.audit.jsonl'} --where trade.cl_ord_id=C-00001"
            "   (one order's life)"
        ),
        (
            f"  tapelog query {proxy_logs / 'proxy.jsonl'} {proxy_logs / 'archive'}"
            f" --where request_id={last_request}   (one request, every hop)"
        ),
        f"  tapelog query {trading_logs / 'engine.jsonl'} --level error   (what went wrong)",
    ]
    if _has_command("verify"):
        lines.append(f"  tapelog verify {trading_logs / 'trades.audit.jsonl'}   (the audit chain)")
    lines.append(f"  tapelog archive list {proxy_logs / 'archive'}   (archives and checksums)")
    if _has_command("metrics"):
        lines.append(f"  tapelog metrics {trading_logs}   (latency percentiles)")
    lines += [f"  tapelog tail {proxy_logs / 'proxy.jsonl'}", f"Everything is under {out}."]
    print()
    print("\n".join(lines))
