"""Run a simulated trading session and proxy service that log through tapelog.

Writes to the console and to ``./tapelog-demo/logs/app.jsonl``, then prints a summary:
entries per sink and per level, and whether every line fits the schema.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import shutil
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, cast

import tapelog
from tapelog.audit import verify
from tapelog.cli._collector import Collector
from tapelog.cli._query import query_paths
from tapelog.cli._schema import schema_text
from tapelog.cli._tour import run_tour
from tapelog.retention._archive import list_archives
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

_SYMBOLS = {
    "BTC-USD": Decimal("64000.25"),
    "ETH-USD": Decimal("3150.10"),
    "SOL-USD": Decimal("142.875"),
}
_FILL_SHARE = 0.7  # of orders: filled; then canceled up to _CANCEL_SHARE; the rest fail
_CANCEL_SHARE = 0.9
_OK = 200
_SECRETS = ("s3cret", "hunter2", "abc.def.ghi", "sk-live-0123456789abcdef0123")
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
    parser.add_argument(
        "--no-tour",
        dest="tour",
        action="store_false",
        help="skip the tour of the two example applications (proxy rotator, trading engine)",
    )
    parser.add_argument(
        "--tour-seconds", type=float, default=4.0, help="how long each example runs (default 4)"
    )


def _trading(stop: threading.Event, rng: random.Random) -> None:
    """Place orders; fill, partially fill, cancel, reject them; note failed submissions."""
    trades = get_trade_logger("trading.strategy", strategy="mean-reversion", account="ACC-001")
    log = tapelog.get_logger("trading.strategy").bind(strategy="mean-reversion")
    order_number = 0
    fills = 0
    while not stop.is_set():
        order_number += 1
        symbol = rng.choice(list(_SYMBOLS))
        price = (_SYMBOLS[symbol] * Decimal(1 + rng.uniform(-0.01, 0.01))).quantize(Decimal("0.01"))
        qty = Decimal(rng.choice(["0.5", "1", "1.5", "2", "0.00000001"]))
        cl_ord_id = f"ord-{order_number:05d}"
        with tapelog.context(cl_ord_id=cl_ord_id, symbol=symbol):
            side = rng.choice(["buy", "sell"])
            if order_number % 9 == 0:  # a risk check refuses it before it is sent
                trades.order_rejected(cl_ord_id, "exceeds position limit", "order_exceeds_limit")
                stop.wait(rng.uniform(0.05, 0.15))
                continue
            trades.order_placed(cl_ord_id, symbol, side, qty, price, currency="USD")
            roll = rng.random()
            if roll < _FILL_SHARE:
                fill_px = price + Decimal("0.01")
                parts = [qty] if rng.random() < 0.5 else [qty / 4, qty - qty / 4]  # noqa: PLR2004
                for part in parts:  # one fill, or a partial fill and the rest
                    fills += 1
                    trades.order_filled(
                        cl_ord_id,
                        f"exec-{fills:06d}",
                        part,
                        fill_px,
                        commission=(Decimal("0.0004") * part * fill_px).quantize(Decimal("0.0001")),
                        currency="USD",
                    )
            elif roll < _CANCEL_SHARE:
                if rng.random() < 0.5:  # noqa: PLR2004 - half are partly filled first
                    fills += 1
                    trades.order_filled(cl_ord_id, f"exec-{fills:06d}", qty / 2, price)
                trades.order_canceled(cl_ord_id, reason="price moved")
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
                    trades.order_rejected(cl_ord_id, "exchange did not answer")
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


def _summarise(
    entries: list[dict[str, object]], stats: tapelog.Stats, path: Path, collector: Collector
) -> int:
    levels: Counter[str] = Counter(str(entry["level"]) for entry in entries)
    invalid = 0
    validator = None
    with contextlib.suppress(ImportError):
        import jsonschema

        validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
        is_valid = cast("Callable[[object], bool]", validator.is_valid)  # pyright: ignore[reportUnknownMemberType]
        invalid = sum(1 for entry in entries if not is_valid(entry))
    print()
    print("tapelog demo summary")
    print(f"  entries logged          {stats.emitted}")
    print(f"  dropped (queue full)    {stats.dropped_overflow}")
    for name, sink in stats.sinks.items():
        counts = (
            f"written {sink.written}, filtered {sink.filtered}, failed {sink.failed}, "
            f"retried {sink.retried}, spooled {sink.spooled}"
        )
        print(f"  sink {name:<10} {counts}")
    by_level = ", ".join(f"{k} {v}" for k, v in sorted(levels.items()))
    print(f"  {path} (live and archived): {len(entries)} entries, by level: {by_level}")
    if validator is None:
        print("  schema check skipped (jsonschema is not installed)")
    else:
        print(f"  schema check: {len(entries) - invalid} of {len(entries)} entries valid")
    text = "\n".join(json.dumps(entry) for entry in entries)
    secrets = [s for s in _SECRETS if s in text]
    print(f"  secrets in the logs: {', '.join(secrets) if secrets else 'none (redacted)'}")
    lost = _http_report(entries, collector)
    return 1 if invalid or secrets or lost else 0


def _http_report(entries: list[dict[str, object]], collector: Collector) -> int:
    """Compare what the collector received with what the file got; return entries lost."""
    expected = {
        entry["seq"]
        for entry in entries
        # tapelog's own entries are left out: reports of the http sink's failures skip it,
        # and the file sink writes its last rotation report only to itself.
        if entry["level"] != "debug" and entry["logger"] != "tapelog"
    }
    records = cast("list[dict[str, object]]", collector.records)
    received = [record.get("seq") for record in records]
    stats = collector.stats()
    lost = len(expected - set(received))
    print(
        f"  http collector: was down, then answered 503, then recovered; received "
        f"{len(set(received))} entries in {stats['batches']} batches, "
        f"{stats['duplicate_batches']} resent batches dropped by idempotency key"
    )
    verdict = "nothing lost" if not lost else f"{lost} entries LOST"
    twice = len(received) - len(set(received))
    print(f"  http delivery: {verdict}, {twice} entries twice")
    return lost + twice


def _simulate(seconds: float, seed: int | None, collector: Collector) -> None:
    """Run the trading and proxy simulations; take the collector down and up meanwhile."""
    rng = random.Random(seed)
    stop = threading.Event()
    workers = [
        threading.Thread(
            target=_trading, args=(stop, random.Random(rng.random())), name="strategy"
        ),
        threading.Thread(target=_proxy, args=(stop, random.Random(rng.random())), name="proxy"),
    ]
    for worker in workers:
        worker.start()
    # The collector starts down (connection refused), answers 503 for a while, then
    # recovers: the http sink spools to disk meanwhile and delivers everything after.
    time.sleep(seconds / 3)
    collector.fail(503, times=3, retry_after=0.2)
    collector.up()
    time.sleep(seconds * 2 / 3)
    stop.set()
    for worker in workers:
        worker.join()


def _wait_for_spool(timeout: float) -> None:
    """Wait (bounded) until the http sink has delivered what it parked in its spool."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        http = tapelog.stats().sinks.get("http")
        if http is None or not http.spooled:
            return
        time.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    """Run the simulation, then summarise what was written and delivered."""
    out = Path(args.dir)
    for old in ("logs", "archive", "spool", "audit", "tampered"):
        shutil.rmtree(out / old, ignore_errors=True)
    (out / "app.jsonl").unlink(missing_ok=True)  # left by earlier versions of the demo
    app_log = out / "logs" / "app.jsonl"
    collector = Collector()
    try:
        tapelog.configure(
            level="debug",
            service="tapelog-demo",
            fields={"include": ["pid", "host", "service"]},
            levels={"proxy.health": "info"},
            sinks=[
                {"type": "console", "level": "info", "stream": "stdout", "format": "console"},
                {
                    "type": "file",
                    "name": "app",
                    "path": str(app_log),
                    "format": "json",
                    # Small on purpose: the demo rotates and compresses several times.
                    "rotation": {"size": "16 KiB"},
                    "archive_dir": str(out / "archive"),
                    "retention": {"max_files": 50},
                },
                {
                    "type": "file",
                    "name": "audit",
                    "path": str(out / "audit" / "trades.audit.jsonl"),
                    "format": "json",
                    "audit": True,
                    "filter": {"loggers": ["trading"]},
                    "audit_checkpoint": {"entries": 50},
                },
                {
                    "type": "http",
                    "url": collector.url,
                    "level": "info",
                    "spool_dir": str(out / "spool"),
                    "batch": {"max_delay": "200ms"},
                    "retry": {"initial_delay": "100ms", "max_delay": "1s"},
                },
            ],
        )
        tapelog.set_level("debug", "proxy.health")
        tapelog.capture_stdlib("info")
        _simulate(args.seconds, args.seed, collector)
        tapelog.flush(30)
        _wait_for_spool(timeout=20.0)
        stats = tapelog.stats()
    finally:
        tapelog.shutdown(10)
        collector.close()
    # Everything the file sink wrote, live and archived, read back in time order.
    entries = list(query_paths([out / "logs", out / "archive"]))
    status = _summarise(entries, stats, out, collector)
    status = status or _archive_report(out) or _audit_report(out)
    if args.tour:
        status = status or run_tour(out, seconds=args.tour_seconds)
    return status


def _audit_report(out: Path) -> int:
    """Verify the audit file, then edit a copy and show verify catching it."""
    audit_dir = out / "audit"
    report = verify([audit_dir])
    print(
        f"  tapelog verify {audit_dir}: "
        + ("OK" if report.ok else "BROKEN")
        + f", {report.entries} sealed entries in {report.chains} chain(s)"
    )
    for problem in report.problems[:3]:
        print(f"    {problem}")
    tampered = out / "tampered" / "trades.audit.jsonl"
    tampered.parent.mkdir(parents=True, exist_ok=True)
    lines = (audit_dir / "trades.audit.jsonl").read_bytes().splitlines(keepends=True)
    victim = next(
        (n for n, line in enumerate(lines) if b'"event":"order.filled"' in line), len(lines) // 2
    )
    # A fill's price changed after the fact: one byte.
    lines[victim] = lines[victim].replace(b'"last_px":"', b'"last_px":"1', 1)
    tampered.write_bytes(b"".join(lines))
    caught = verify([tampered])
    print(f"  edited one fill in a copy ({tampered}): verify says")
    for problem in caught.problems[:3]:
        print(f"    {problem}")
    return 0 if report.ok and not caught.ok else 1


def _archive_report(out: Path) -> int:
    """Show the archives and query them, as an auditor would."""
    archives = list_archives(out / "archive")
    healthy = sum(1 for archive in archives if archive.integrity == "ok")
    print(f"  archives: {len(archives)} compressed files, {healthy} match their manifest")
    errors = list(query_paths([out / "logs", out / "archive"], level="error"))
    print(f"  tapelog query {out} --level error: {len(errors)} entries, for example:")
    for entry in errors[:3]:
        print(f"    {entry['timestamp']}  {entry['logger']}  {entry['message']}")
    return 0 if healthy == len(archives) and archives else 1
