"""An asyncio trading engine that logs through tapelog: run it with one command.

    .venv/bin/python examples/trading_engine OUT_DIR [--duration 6] [--serve]

It starts a simulated exchange as its own process on 127.0.0.1 (exchange.py), connects to
its market-data stream, and trades on it: orders placed, partially filled, filled,
replaced, canceled and rejected, all through tapelog's trade logger. On a schedule it tells
the exchange to refuse connections, answer 503 and stall, so the error handling is real.
Logs go to the console (warnings), OUT_DIR/logs/engine.jsonl (rotated, compressed into
logs/archive, old files archived after --max-age), an audited trade file
(logs/trades.audit.jsonl, hash-chained), and, when given, syslog and an HTTP collector.
Metrics (API response time, order-processing delay, market-data interval, system
resources, a memory threshold) are logged as metrics.snapshot entries. SIGTERM or Ctrl-C
cancels the open orders and stops cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from engine import ExchangeClient, MarketData, OrderManager, Strategy, log, trades

import tapelog
from tapelog import errors


HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trading_engine", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the directory everything is written to")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds of trading")
    parser.add_argument("--serve", action="store_true", help="trade until SIGTERM")
    parser.add_argument("--step", type=float, default=0.1, help="seconds between strategy steps")
    parser.add_argument("--no-chaos", action="store_true", help="the exchange never fails")
    parser.add_argument("--syslog", help="syslog receiver, e.g. tcp://127.0.0.1:5514")
    parser.add_argument("--collector", help="HTTP collector URL for NDJSON batches")
    parser.add_argument("--rotate-size", default="256 KiB", help="rotate engine.jsonl at this size")
    parser.add_argument("--max-age", default="90d", help="archive rotated files older than this")
    parser.add_argument("--max-total-size", help="purge the oldest rotated files beyond this")
    parser.add_argument(
        "--memory-limit",
        default="24 MiB",
        help="warn when the process uses more (low on purpose, so the threshold fires)",
    )
    parser.add_argument("--metrics-interval", default="1s")
    return parser.parse_args(argv)


def configuration(args: argparse.Namespace) -> dict[str, Any]:
    logs = args.out / "logs"
    retention: dict[str, Any] = {"max_age": args.max_age}
    if args.max_total_size:
        retention["max_total_size"] = args.max_total_size
    sinks: list[dict[str, Any]] = [
        {"type": "console", "level": "warning", "format": "console", "color": False},
        {
            "type": "file",
            "name": "main",
            "path": str(logs / "engine.jsonl"),
            "rotation": {"size": args.rotate_size},
            "compression": "gzip",
            "archive_dir": str(logs / "archive"),
            "retention": retention,
        },
        {
            "type": "file",
            "name": "audit",
            "path": str(logs / "trades.audit.jsonl"),
            "audit": True,  # hash-chained; `tapelog verify` checks it
            "filter": {"loggers": ["trading"]},
        },
    ]
    if args.syslog:
        # Error entries with locals run to tens of KiB: allow them whole (rsyslog needs its
        # maxMessageSize raised to match, or it cuts them).
        sinks.append({
            "type": "syslog", "address": args.syslog, "app_name": "trading-engine",
            "max_message_size": "64 KiB",
        })  # fmt: skip
    if args.collector:
        sinks.append({
            "type": "http", "url": args.collector, "spool_dir": str(args.out / "spool"),
            "batch": {"max_records": 500, "max_delay": "200ms"},
            "retry": {"initial_delay": "100ms", "max_delay": "1s", "max_attempts": 5},
        })  # fmt: skip
    from tapelog.config import parse_size

    return {
        "level": "info",
        "service": "trading-engine",
        "fields": {"include": ["service", "pid", "host"]},
        "queue": {"overflow": "block", "block_timeout": "50ms"},
        "sinks": sinks,
        "metrics": {
            "interval": args.metrics_interval,
            "system": True,
            "thresholds": [
                {"metric": "process.memory.usage", "above": parse_size(args.memory_limit)}
            ],
        },
        "errors": {"locals": True},
    }


def start_exchange(out: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """The exchange runs as its own process; wait for its ports."""
    ready = out / "exchange.json"
    ready.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, str(HERE / "exchange.py"), "--ready", str(ready)])
    deadline = time.monotonic() + 30
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the simulated exchange did not start")
        time.sleep(0.02)
    return process, json.loads(ready.read_text(encoding="utf-8"))


async def control(port: int, mode: str, seconds: float) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"mode": mode, "seconds": seconds}).encode()
    writer.write(f"POST /control HTTP/1.1\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    await reader.read()
    writer.close()


async def chaos(port: int) -> None:
    """Make the exchange fail three ways, one after another."""
    for delay, mode, seconds in ((1.2, "refuse", 0.5), (1.0, "503", 0.4), (1.0, "stall", 0.6)):
        await asyncio.sleep(delay)
        log.info(f"exchange told to {mode} for {seconds}s", event="chaos.start", mode=mode)
        await control(port, mode, seconds)


async def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    tapelog.configure(configuration(args))
    errors.install_hooks()  # anything no one catches still gets an error.unhandled entry
    exchange, ports = start_exchange(args.out)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    client = ExchangeClient("127.0.0.1", ports["api"])
    manager = OrderManager(client)
    feed = MarketData(client, manager)
    strategy = Strategy(manager, feed)
    log.info(
        "engine started", event="engine.started", exchange_pid=ports["pid"], **client.where("/")
    )
    (args.out / "ready.json").write_text(
        json.dumps({"pid": os.getpid(), **ports}), encoding="utf-8"
    )
    tasks = [asyncio.create_task(feed.run()), asyncio.create_task(strategy.run(args.step))]
    if not args.no_chaos:
        tasks.append(asyncio.create_task(chaos(ports["control"])))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), None if args.serve else args.duration)

    log.info("engine stopping", event="engine.stopping", signal=stop.is_set())
    tasks[1].cancel()
    for order in manager.open_orders():
        await manager.cancel(order, reason="engine shutdown")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    exchange.terminate()
    exchange.wait(10)
    log.info("engine stopped", event="engine.stopped", steps=strategy.step, ticks=feed.ticks,
             failures=manager.failures, orders=len(manager.orders))  # fmt: skip
    tapelog.shutdown(30)  # writes everything queued, the last metrics snapshot included
    summary = {
        "pid": os.getpid(),
        "orders": trades.order_stats(),
        "tapelog": tapelog.stats().as_dict(),
        "failures": manager.failures,
        "reconnects": feed.reconnects,
        "positions": {
            s: {"qty": str(p.qty), "realized": str(p.realized)}
            for s, p in manager.positions.items()
        },
    }
    (args.out / "stats.json").write_text(
        json.dumps(summary, indent=2, default=str), encoding="utf-8"
    )
    print(f"trading engine: {len(manager.orders)} orders, {manager.failures} failed calls; "
          f"logs in {args.out / 'logs'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args(sys.argv[1:]))))
