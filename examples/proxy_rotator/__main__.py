"""A proxy rotator that logs through tapelog: run it with one command.

    .venv/bin/python examples/proxy_rotator OUT_DIR [--requests 200] [--serve] [--bench 8]

It starts, all on 127.0.0.1: an origin web server, five upstream proxies (two with
credentials in their URLs, one broken, one dead), the rotator in front of them with a
health checker, and a client that sends requests through the rotator. Logs go to the
console (warnings), JSON and logfmt files under OUT_DIR/logs (rotated, compressed,
archived, pruned), a health-only file (a component filter), syslog and an HTTP collector
(sampled). Levels come from OUT_DIR/proxy-rotator.toml and TAPELOG_LEVEL/TAPELOG_LEVELS;
edit the file while it runs and the new levels apply within a second.

Without --syslog and --collector it starts small stand-ins for both and saves what they
received in OUT_DIR (syslog-received.log, collector.jsonl).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from client import log as client_log
from client import paced, summary
from rotator import STRATEGIES, Member, Rotator
from upstreams import start_world

import tapelog


DEFAULT_CONFIG = """\
# The proxy rotator's levels. Save a change while it runs: it applies within a second.
# TAPELOG_LEVEL and TAPELOG_LEVELS in the environment win over this file.
level = "info"

[levels]
"proxy.health" = "debug"   # every health check, not only changes
"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="proxy_rotator", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="the directory everything is written to")
    parser.add_argument("--requests", type=int, default=400, help="requests to send, then stop")
    parser.add_argument("--rate", type=float, default=200.0, help="client requests per second")
    parser.add_argument("--serve", action="store_true", help="keep sending until SIGTERM")
    parser.add_argument("--bench", type=float, metavar="SECONDS", help="measure logging overhead")
    parser.add_argument("--chunks", type=int, default=0, help="extra entries per request")
    parser.add_argument("--strategy", choices=STRATEGIES, default="round_robin")
    parser.add_argument("--config", type=Path, help="levels file (default OUT/proxy-rotator.toml)")
    parser.add_argument("--syslog", help="syslog receiver, e.g. tcp://127.0.0.1:5514")
    parser.add_argument("--collector", help="HTTP collector URL for NDJSON batches")
    parser.add_argument("--rotate-size", default="32 KiB", help="rotate the JSON file at this size")
    parser.add_argument("--keep", type=int, default=3, help="rotated files to keep")
    parser.add_argument("--sample-rate", type=float, default=0.25, help="HTTP sink sampling")
    parser.add_argument("--queue-size", type=int, default=65536)
    parser.add_argument("--health-interval", type=float, default=0.25)
    return parser.parse_args(argv)


def sinks(args: argparse.Namespace, syslog: str, collector: str) -> list[dict[str, Any]]:
    logs = args.out / "logs"
    return [
        {"type": "console", "level": "warning", "format": "console", "color": False},
        {
            "type": "file",
            "name": "main",
            "path": str(logs / "proxy.jsonl"),
            "format": "json",
            "rotation": {"size": args.rotate_size},
            "compression": "gzip",
            "archive_dir": str(logs / "archive"),
            "retention": {"max_files": args.keep},
        },
        {"type": "file", "name": "logfmt", "path": str(logs / "proxy.logfmt"), "format": "logfmt"},
        {
            "type": "file",
            "name": "health",
            "path": str(logs / "health.jsonl"),
            "format": "json",
            "filter": {"components": ["health"]},
        },
        {
            "type": "syslog",
            "address": syslog,
            "app_name": "proxy-rotator",
            "level": "info",
            "filter": {"exclude_components": ["client"]},
            "sd_id": "tapelog@32473",
        },
        {
            "type": "http",
            "url": collector,
            "format": "json",
            "batch": {"max_records": 500, "max_delay": "200ms"},
            "retry": {"initial_delay": "100ms", "max_delay": "1s", "max_attempts": 3},
            "spool_dir": str(args.out / "spool"),
            "sample": {
                "rate": args.sample_rate,
                "keep_levels": ["warning", "error", "critical"],
                "key": "request_id",
            },
        },
    ]


class SyslogStandIn(asyncio.DatagramProtocol):
    """A UDP receiver that appends each datagram to a file: a stand-in for rsyslog."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("ab")

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:  # noqa: ARG002
        self.file.write(data.rstrip(b"\n") + b"\n")
        self.file.flush()


async def start_receivers(args: argparse.Namespace, stack: list[Any]) -> tuple[str, str]:
    syslog, collector = args.syslog, args.collector
    if syslog is None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: SyslogStandIn(args.out / "syslog-received.log"), local_addr=("127.0.0.1", 0)
        )
        stack.append(lambda: (transport.close(), protocol.file.close()))
        syslog = f"udp://127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    if collector is None:
        from tapelog.cli._collector import Collector  # the demo's collector, on a thread

        stand_in = Collector().up()

        def save() -> None:
            stand_in.close()
            with (args.out / "collector.jsonl").open("w", encoding="utf-8") as file:
                file.writelines(json.dumps(record) + "\n" for record in stand_in.records)

        stack.append(save)
        collector = stand_in.url
    return syslog, collector


async def bench(rotator: Rotator, origin_port: int, args: argparse.Namespace) -> dict[str, Any]:
    """Alternate short phases with logging off and on at the same request rate (so a noisy
    host hurts both alike), and compare the latency the client saw."""
    phases: dict[str, list[tuple[int, float]]] = {"off": [], "on": []}
    emitted_on, seconds_on = 0, 0.0
    rounds = max(2, round(args.bench))  # about one second per off/on pair
    for number, mode in enumerate(("off", "on") * rounds):
        tapelog.set_level("off" if mode == "off" else "debug")
        before, began = tapelog.stats().emitted, time.perf_counter()
        phases[mode] += await paced(
            rotator.port,
            origin_port,
            rate=args.rate,
            duration=args.bench / (2 * rounds),
            start=number * 10**5,
        )
        if mode == "on":
            emitted_on += tapelog.stats().emitted - before
            seconds_on += time.perf_counter() - began
    tapelog.set_level(None)
    off, on = summary(phases["off"]), summary(phases["on"])
    tapelog.flush(30)
    stats = tapelog.stats()
    return {
        "rate_requests_per_s": args.rate,
        "entries_per_request": args.chunks,
        "entries_per_s": round(emitted_on / seconds_on),
        "latency_off": off,
        "latency_on": on,
        "overhead_mean_pct": round(100 * (on["mean_ms"] / off["mean_ms"] - 1), 1),
        "overhead_p50_pct": round(100 * (on["p50_ms"] / off["p50_ms"] - 1), 1),
        "overhead_p99_pct": round(100 * (on["p99_ms"] / off["p99_ms"] - 1), 1),
        "emitted": stats.emitted,
        "dropped_overflow": stats.dropped_overflow,
        "processed": stats.processed,
        "queue_high_water": stats.queue_high_water,
        "failed_requests": sum(1 for status, _ in phases["on"] + phases["off"] if status != 200),
    }


async def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    config = args.config or args.out / "proxy-rotator.toml"
    if not config.exists():
        config.write_text(DEFAULT_CONFIG, encoding="utf-8")
    cleanup: list[Any] = []
    syslog, collector = await start_receivers(args, cleanup)
    tapelog.configure(
        config,
        service="proxy-rotator",
        fields={"include": ["service", "pid"]},
        queue={"size": args.queue_size, "overflow": "drop_newest"},  # never stall the loop
        sinks=sinks(args, syslog, collector),
    )
    tapelog.install_signal_handlers(sigterm=False, sighup=True)  # SIGHUP re-reads the file
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    origin, pool = await start_world()
    rotator = Rotator([Member(u.ident, u.url) for u in pool], args.strategy, chunks=args.chunks)
    await rotator.start()
    health = asyncio.create_task(rotator.health_loop(origin.port, args.health_interval))
    ready = {"pid": os.getpid(), "port": rotator.port, "origin_port": origin.port}
    (args.out / "ready.json").write_text(json.dumps(ready), encoding="utf-8")

    report = None
    if args.bench:
        report = await bench(rotator, origin.port, args)
        (args.out / "bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    elif args.serve:
        await paced(rotator.port, origin.port, rate=args.rate, stop=stop)
    else:
        results = await paced(rotator.port, origin.port, rate=args.rate, count=args.requests)
        client_log.info("client finished", event="client.finished", **summary(results))

    health.cancel()
    for server in [rotator.server, origin.server, *(u.server for u in pool)]:
        if server is not None:
            server.close()
    counters = rotator.counters
    tapelog.get_logger("proxy.rotator", component="rotator").info(
        "rotator stopped",
        event="proxy.stopped",
        requests=counters.requests,
        served=counters.served,
        exhausted=counters.exhausted,
        rotations=counters.rotations,
    )
    tapelog.flush(30)
    result = {
        "pid": os.getpid(),
        "tapelog": tapelog.stats().as_dict(),
        "app": {**vars(counters), "status": {str(k): v for k, v in counters.status.items()}},
        "upstreams": [
            {"id": m.id, "healthy": m.healthy, "uses": m.uses, "failures": m.failures}
            for m in rotator.members
        ],
    }
    tapelog.shutdown(30)
    for action in cleanup:
        action()
    (args.out / "stats.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(
        f"proxy rotator: {counters.served}/{counters.requests} requests served, "
        f"{counters.rotations} rotations; logs in {args.out / 'logs'}"
    )
    if report is not None:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parse_args(sys.argv[1:]))))
