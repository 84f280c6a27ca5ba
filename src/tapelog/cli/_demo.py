"""Run a simulated trading session and proxy service that log through tapelog.

Writes to the console and to ``./tapelog-demo/app.jsonl``, then prints a summary:
entries per sink and per level, and whether every line fits the schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import tapelog
from tapelog.cli._schema import schema_text


if TYPE_CHECKING:
    import argparse

_SYMBOLS = {
    "BTC-USD": Decimal("64000.25"),
    "ETH-USD": Decimal("3150.10"),
    "SOL-USD": Decimal("142.875"),
}
_FILL_SHARE = 0.7  # of orders: filled; then canceled up to _CANCEL_SHARE; the rest fail
_CANCEL_SHARE = 0.9
_OK = 200
_PROXIES = [
    "http://alice:s3cret@10.0.0.5:8080",
    "http://bob:hunter2@10.0.0.6:3128",
    "socks5://10.0.0.7:1080",
]


class ExchangeTimeoutError(ConnectionError):
    """The simulated exchange did not answer in time."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--seconds``, ``--dir`` and ``--seed``."""
    parser.add_argument("--seconds", type=float, default=4.0, help="how long to run (default 4)")
    parser.add_argument(
        "--dir", default="tapelog-demo", help="where to write logs (default ./tapelog-demo)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed, for a repeatable run")


def _trading(stop: threading.Event, rng: random.Random) -> None:
    log = tapelog.get_logger("trading.strategy").bind(strategy="mean-reversion", account="ACC-001")
    order_number = 0
    while not stop.is_set():
        order_number += 1
        symbol = rng.choice(list(_SYMBOLS))
        price = (_SYMBOLS[symbol] * Decimal(1 + rng.uniform(-0.01, 0.01))).quantize(Decimal("0.01"))
        qty = Decimal(rng.choice(["0.5", "1", "1.5", "2", "0.00000001"]))
        cl_ord_id = f"ord-{order_number:05d}"
        with tapelog.context(cl_ord_id=cl_ord_id, symbol=symbol):
            log.info(
                "order placed",
                event="order.placed",
                side=rng.choice(["buy", "sell"]),
                qty=qty,
                price=price,
            )
            roll = rng.random()
            if roll < _FILL_SHARE:
                fill_px = price + Decimal("0.01")
                log.info(
                    "order filled",
                    event="order.filled",
                    last_qty=qty,
                    last_px=fill_px,
                    commission=Decimal("0.0004") * qty * fill_px,
                )
            elif roll < _CANCEL_SHARE:
                log.info(
                    "order canceled", event="order.canceled", reason="price moved", leaves_qty=qty
                )
            else:
                try:
                    _send_to_exchange(symbol)
                except ExchangeTimeoutError:
                    log.exception(
                        "order submission failed",
                        event="order.failed",
                        venue="SIMX",
                        api_key="sk-live-0123456789abcdef0123",
                    )
            log.debug("latency", event="order.latency", ack_ms=round(rng.uniform(0.2, 3.0), 3))
        stop.wait(rng.uniform(0.05, 0.15))


def _send_to_exchange(symbol: str) -> None:
    timeout_s = 0.25
    msg = f"no acknowledgement for {symbol} within {timeout_s}s"
    raise ExchangeTimeoutError(msg)


def _proxy(stop: threading.Event, rng: random.Random) -> None:
    log = tapelog.get_logger("proxy.rotator")
    health = tapelog.get_logger("proxy.health")
    request_number = 0
    while not stop.is_set():
        request_number += 1
        proxy = rng.choice(_PROXIES)
        with tapelog.context(request_id=f"req-{request_number:05d}"):
            status = rng.choice([200, 200, 200, 200, 407, 502])
            fields: dict[str, object] = {
                "event": "proxy.request",
                "url.full": "https://api.example.com/v1/prices",
                "proxy": proxy,
                "http.response.status_code": status,
                "duration_ms": round(rng.uniform(20, 400), 1),
            }
            if status == _OK:
                log.info("request served", **fields)
            else:
                log.warning(
                    "request failed, rotating proxy",
                    **fields,
                    headers={"Authorization": "Bearer abc.def.ghi"},
                )
            health.debug("health check", event="health.check", proxy=proxy, healthy=status == _OK)
        if request_number % 7 == 0:
            logging.getLogger("urllib3.connectionpool").warning(
                "Retrying (%d attempts left) after connection broken",
                2,
                extra={"server.address": "api.example.com", "server.port": 443},
            )
        stop.wait(rng.uniform(0.08, 0.2))


def _summarise(path: Path, stats: tapelog.Stats) -> int:
    levels: Counter[str] = Counter()
    invalid = 0
    validator = None
    with contextlib.suppress(ImportError):
        import jsonschema

        validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    lines = path.read_text(encoding="utf-8").splitlines()
    for line in lines:
        entry = json.loads(line)
        levels[entry["level"]] += 1
        if validator is not None and not validator.is_valid(entry):  # pyright: ignore[reportUnknownMemberType]
            invalid += 1
    print()
    print("tapelog demo summary")
    print(f"  entries logged          {stats.emitted}")
    print(f"  dropped (queue full)    {stats.dropped_overflow}")
    for name, sink in stats.sinks.items():
        counts = f"written {sink.written}, filtered {sink.filtered}, failed {sink.failed}"
        print(f"  sink {name:<18} {counts}")
    print(
        f"  {path}: {len(lines)} lines, by level: "
        + ", ".join(f"{k} {v}" for k, v in sorted(levels.items()))
    )
    if validator is None:
        print("  schema check skipped (jsonschema is not installed)")
    else:
        print(f"  schema check: {len(lines) - invalid} of {len(lines)} lines valid")
    secrets = [
        s
        for s in ("s3cret", "hunter2", "abc.def.ghi", "sk-live-0123456789abcdef0123")
        if s in path.read_text()
    ]
    print(f"  secrets in the file: {', '.join(secrets) if secrets else 'none (redacted)'}")
    return 1 if invalid or secrets else 0


def run(args: argparse.Namespace) -> int:
    """Run the simulation, then summarise what was written."""
    out = Path(args.dir)
    out.mkdir(parents=True, exist_ok=True)
    app_log = out / "app.jsonl"
    app_log.unlink(missing_ok=True)
    tapelog.configure(
        level="debug",
        service="tapelog-demo",
        fields={"include": ["pid", "host", "service"]},
        levels={"proxy.health": "info"},
        sinks=[
            {
                "type": "console",
                "name": "console",
                "level": "info",
                "stream": "stdout",
                "format": "console",
            },
            {"type": "file", "name": "app", "path": str(app_log), "format": "json"},
        ],
    )
    tapelog.set_level("debug", "proxy.health")
    tapelog.capture_stdlib("info")
    rng = random.Random(args.seed)
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=_trading, args=(stop, random.Random(rng.random())), name="strategy"
        ),
        threading.Thread(target=_proxy, args=(stop, random.Random(rng.random())), name="proxy"),
    ]
    for worker in workers:
        worker.start()
    time.sleep(args.seconds)
    stop.set()
    for worker in workers:
        worker.join()
    tapelog.flush()
    return _summarise(app_log, tapelog.stats())
