"""Seed 000, user story 4, on a real process: system metrics, latency metrics, alerts.

The program below is a small trading process: it configures tapelog from a TOML file,
calls a real HTTP server on 127.0.0.1, processes orders, runs a market-data loop and sets
a gauge across a threshold. The test reads the log file it wrote.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime
from typing import Any

import pytest
from tests.conftest import need, read_jsonl

from tapelog.metrics._system import SystemSampler


INTERVAL = 0.5

PROGRAM = textwrap.dedent(
    f"""
    import json, sys, threading, time, urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    import tapelog
    from tapelog import metrics

    log_path = Path(sys.argv[2])
    tapelog.configure(sys.argv[1])
    tapelog.get_logger("app").info("started")

    def wait_for(event, limit=30.0):
        # a bounded wait for our own log to show an entry
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            tapelog.flush()
            if log_path.exists() and any(
                json.loads(line).get("event") == event for line in log_path.read_text().splitlines()
            ):
                return
            time.sleep(0.05)
        sys.exit(f"no {{event}} entry within {{limit}}s")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{{"price": "101.5"}}' * 200
            self.send_response(200 if self.path != "/missing" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]

    # scenario 2: API response times around real HTTP calls
    for path in ["/quote"] * 20 + ["/missing"]:
        attributes = {{"http.request.method": "GET", "server.address": "127.0.0.1", "server.port": port}}
        try:
            with metrics.timer("http.client.request.duration", **attributes):
                with urllib.request.urlopen(f"http://127.0.0.1:{{port}}{{path}}") as response:
                    response.read()
        except urllib.error.HTTPError:
            pass

    @metrics.timer("app.order.processing.duration", venue="sim")
    def process_order(n):
        return sum(range(n))

    for n in range(50):
        process_order(1000 * n)

    last = time.perf_counter()
    for tick in range(30):  # market data: how far apart updates arrive
        time.sleep(0.002)
        now = time.perf_counter()
        metrics.observe("app.market_data.update.interval", now - last, symbol="BTC-USD")
        last = now

    wait_for("metrics.snapshot")
    # scenario 3: a gauge crosses its threshold, stays above, then falls back
    metrics.gauge("app.order_queue.depth", 150, unit="{{order}}")
    wait_for("metrics.threshold_exceeded")
    metrics.gauge("app.order_queue.depth", 180, unit="{{order}}")
    time.sleep(2 * {INTERVAL})
    metrics.gauge("app.order_queue.depth", 20, unit="{{order}}")
    wait_for("metrics.threshold_recovered")
    tapelog.shutdown()
    """
)


@pytest.fixture(name="run_log", scope="module")
def _run_log(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    base = tmp_path_factory.mktemp("us4")
    log = base / "app.jsonl"
    config = base / "tapelog.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [[sinks]]
            type = "file"
            path = "{log}"

            [metrics]
            interval = "{int(INTERVAL * 1000)}ms"
            system = true

            [[metrics.thresholds]]
            metric = "app.order_queue.depth"
            above = 100
            clear = 50
            """
        )
    )
    script = base / "app.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script), str(config), str(log)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return read_jsonl(log)


def metric_entries(entries: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in entries if e.get("metric", {}).get("name") == name]


def when(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["timestamp"])


def test_every_entry_is_valid(run_log: list[dict[str, Any]], validator: Any) -> None:
    for entry in run_log:
        validator.validate(entry)


def test_scenario_1_periodic_cpu_memory_and_network_entries(run_log: list[dict[str, Any]]) -> None:
    started = when(next(e for e in run_log if e["message"] == "started"))
    snapshots = [e for e in run_log if e.get("event") == "metrics.snapshot"]
    first = min(when(e) for e in snapshots)
    assert (first - started).total_seconds() <= 2 * INTERVAL
    rounds = sorted({e["snapshot_seq"] for e in snapshots})
    assert rounds == list(range(1, len(rounds) + 1))
    assert len(rounds) >= 3
    for name, unit in (
        ("process.cpu.utilization", "1"),
        ("system.cpu.utilization", "1"),
        ("process.memory.usage", "By"),
        ("system.memory.utilization", "1"),
        ("system.network.io", "By"),
        ("system.disk.io", "By"),
    ):
        found = metric_entries(snapshots, name)
        assert found, name
        assert {e["metric"]["unit"] for e in found} == {unit}
        # one entry per attribute set per round
        per_round = {(e["snapshot_seq"], str(e["metric"].get("attributes"))) for e in found}
        assert len(per_round) == len(found)
    memory = metric_entries(snapshots, "process.memory.usage")
    assert all(e["metric"]["value"] > 1_000_000 for e in memory)
    received = [
        e["metric"]["value"]
        for e in metric_entries(snapshots, "system.network.io")
        if e["metric"]["attributes"]["network.io.direction"] == "receive"
    ]
    assert sum(received) > 20 * 3600  # the HTTP responses over loopback, at least
    for entry in metric_entries(snapshots, "system.network.io"):
        assert entry["metric"]["temporality"] == "delta"
        assert when(entry) > datetime.fromisoformat(entry["metric"]["start_time"])
    cost = metric_entries(snapshots, "tapelog.metrics.collect.duration")
    assert cost
    assert all(e["metric"]["value"] > 0 for e in cost)
    assert all(e["collect_us"] >= 0 for e in snapshots)


def test_scenario_2_api_order_and_market_data_latencies(run_log: list[dict[str, Any]]) -> None:
    http = metric_entries(run_log, "http.client.request.duration")
    ok = [e["metric"] for e in http if "error.type" not in e["metric"]["attributes"]]
    failed = [e["metric"] for e in http if "error.type" in e["metric"]["attributes"]]
    assert sum(m["count"] for m in ok) == 20
    assert sum(m["count"] for m in failed) == 1
    assert failed[0]["attributes"]["error.type"] == "urllib.error.HTTPError"
    for m in ok:
        assert m["unit"] == "s"
        assert m["attributes"]["server.address"] == "127.0.0.1"
        assert 0 < m["min"] <= m["p50"] <= m["p99"] <= m["max"]
        assert m["relative_error"] == 0.01
    orders = metric_entries(run_log, "app.order.processing.duration")
    assert sum(e["metric"]["count"] for e in orders) == 50
    ticks = metric_entries(run_log, "app.market_data.update.interval")
    assert sum(e["metric"]["count"] for e in ticks) == 30
    assert all(e["metric"]["p50"] >= 0.002 * 0.99 for e in ticks)
    assert all(e["metric"]["attributes"] == {"symbol": "BTC-USD"} for e in ticks)


def test_scenario_3_one_warning_with_value_and_limit_and_one_recovery(
    run_log: list[dict[str, Any]],
) -> None:
    warnings = [e for e in run_log if e.get("event") == "metrics.threshold_exceeded"]
    recoveries = [e for e in run_log if e.get("event") == "metrics.threshold_recovered"]
    assert len(warnings) == 1, warnings
    assert len(recoveries) == 1, recoveries
    warning, recovery = warnings[0], recoveries[0]
    assert warning["level"] == "warning"
    assert (warning["value"], warning["limit"]) == (150, 100)
    assert warning["metric"]["threshold"] == {"above": 100, "state": "firing"}
    assert "150" in warning["message"]
    assert "100" in warning["message"]
    assert recovery["level"] == "info"
    assert recovery["value"] == 20
    assert recovery["peak"] == 180
    assert recovery["duration_s"] >= 2 * INTERVAL
    assert when(recovery) > when(warning)


def test_without_psutil_linux_readings_come_from_proc() -> None:
    sampler = SystemSampler(use_psutil=False)
    need(sampler.source == "proc", "no /proc on this system: the fallback has only CPU time")
    first = sampler.read()
    sum(range(200_000))
    second = sampler.read()
    assert second.process_cpu is not None
    assert first.process_cpu is not None
    assert second.process_cpu >= first.process_cpu
    assert second.process_memory is not None
    assert second.process_memory[0] > 1_000_000
    assert second.process_memory[1] >= second.process_memory[0]
    assert second.system_memory is not None
    assert 0 < second.system_memory[0] < second.system_memory[1]
    assert second.system_cpu is not None
    assert second.system_cpu[1] > 0
    assert set(second.net) == {"transmit", "receive"}
    assert set(second.disk) == {"read", "write"}
    assert second.threads
    assert second.threads >= 1
