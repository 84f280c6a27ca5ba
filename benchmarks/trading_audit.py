"""Trade events and the audit chain: what they cost, beside the plain paths.

    .venv/bin/python -m benchmarks.trading_audit [--entries N] [--repeats R]

Prints a Markdown table (medians of R repeats):

* caller cost of ``TradeLogger.order_placed`` / ``order_filled`` against ``log.info`` with
  the same fields, in CPU time of the calling thread (the queue is drained by the worker
  into a file, as in real use; new order ids in every repeat, a table that never evicts);
* the worker's cost of sealing a line (SHA-256, HMAC-SHA256; one hash a run of lines)
  against rendering it alone;
* ``verify`` throughput on an audited file of N entries.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import statistics
import tempfile
import time
from binascii import hexlify
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import tapelog
from tapelog import _logger
from tapelog.audit import AuditKey, _chain, verify
from tapelog.audit._chain import AuditWriter
from tapelog.formats import JsonFormat
from tapelog.sinks import FileSink
from tapelog.sinks._base import render_batch
from tapelog.trading import get_trade_logger
from tapelog.trading._trade import _books  # pyright: ignore[reportPrivateUsage]


if TYPE_CHECKING:
    from collections.abc import Callable

    from tapelog.trading import TradeLogger


_SEAL_BLOCK = 10
"""Batches of 1,000 entries an arm times in turn in ``sealing_costs``."""

_ENTRY = {
    "timestamp": "2026-11-23T07:01:02.123456Z",
    "level": "info",
    "logger": "trading",
    "message": "order C-1 filled: 0.5 @ 64000.25",
    "event": "order.filled",
    "seq": 1,
    "trade": {
        "cl_ord_id": "C-1",
        "symbol": "BTC-USD",
        "side": "buy",
        "exec_id": "E-1",
        "exec_type": "trade",
        "ord_status": "partially_filled",
        "last_qty": "0.5",
        "last_px": "64000.25",
        "cum_qty": "0.5",
        "leaves_qty": "1.0",
        "avg_px": "64000.25",
    },
}


def _per_call(func: Callable[[str], None], ids: list[str], *, flush: bool = True) -> float:
    """Microseconds of the calling thread's CPU per call of ``func(id)``."""
    start = time.thread_time_ns()
    for each in ids:
        func(each)
    spent = (time.thread_time_ns() - start) / len(ids) / 1000
    if flush:
        tapelog.flush(60)
    return spent


def _three_costs(
    trades: TradeLogger, prefix: str, n: int, repeats: int, *, flush: bool = True
) -> dict[str, float]:
    """Median per-call costs of a plain ``log.info``, ``order_placed`` and ``order_filled``.

    Interleaved, so a busy moment hits all three alike; new order ids in every repeat, and
    half of each order filled (a partial fill of a live order).
    """
    log = tapelog.get_logger("trading")
    qty, px, half = Decimal("1.0"), Decimal("64000.25"), Decimal("0.5")

    def plain(cl_ord_id: str) -> None:
        log.info(
            "order placed",
            cl_ord_id=cl_ord_id,
            symbol="BTC-USD",
            side="buy",
            order_qty=qty,
            price=px,
            ord_type="limit",
            time_in_force="day",
        )

    def placed(cl_ord_id: str) -> None:
        trades.order_placed(cl_ord_id, "BTC-USD", "buy", qty, px)

    def filled(cl_ord_id: str) -> None:
        trades.order_filled(cl_ord_id, "E" + cl_ord_id, half, px)

    calls = {"plain": plain, "placed": placed, "filled": filled}
    costs: dict[str, list[float]] = {name: [] for name in calls}
    for repeat in range(repeats):
        ids = [f"{prefix}-{repeat}-{i}" for i in range(n)]
        for name, call in calls.items():
            costs[name].append(_per_call(call, ids, flush=flush))
    return {name: statistics.median(values) for name, values in costs.items()}


def _forget(name: str) -> None:
    """Let the order table of the trade loggers named ``name`` go, once measured.

    A table of 300,000 orders that stays alive but idle is walked by every full garbage
    collection (the collector keeps an order table tracked, see docs/trading.md "The
    collector and a large order table"): the arms and the budgets measured after it in
    the same process would pay for a table that is no part of their workload.
    """
    _books.pop(name, None)


def caller_costs(directory: Path, n: int, repeats: int) -> list[tuple[str, float]]:
    tapelog.configure(
        {
            "queue": {"size": 1_000_000},
            "sinks": [{"type": "file", "path": str(directory / "caller.jsonl"), "format": "json"}],
        }
    )
    trades = get_trade_logger("bench.trading", terminal_ttl=0, max_orders=10 * n * repeats)
    try:
        costs = _three_costs(trades, "C", n, repeats)
    finally:
        _forget("bench.trading")
    tapelog.configure({"sinks": [{"type": "console"}]})
    return [
        ("log.info, same fields as order_placed", costs["plain"]),
        ("TradeLogger.order_placed", costs["placed"]),
        ("TradeLogger.order_filled (partial fill of a live order)", costs["filled"]),
    ]


class _Discard:
    """An outlet that keeps nothing: the caller's own work, with no worker running."""

    def __init__(self) -> None:
        self.queue: deque[object] = deque(maxlen=1)
        self.room = 1 << 30
        self.idle = False

    def wake(self) -> None:
        return None

    def slow_put(self, record: object) -> None:
        del record

    put = slow_put


def caller_costs_alone(n: int, repeats: int) -> list[tuple[str, float]]:
    """The same three calls with every record discarded at the queue: no worker competes.

    In place, the worker builds a trade entry in several times a plain entry's time, so a
    burst of trade events leaves a backlog whose garbage collection and interpreter-lock
    handovers the calling thread pays too; this shows the caller's own work.
    """
    trades = get_trade_logger("bench.alone", terminal_ttl=0, max_orders=10 * n * repeats)
    outlet = _logger._outlet  # pyright: ignore[reportPrivateUsage]
    _logger.set_outlet(_Discard())  # type: ignore[arg-type]
    try:
        costs = _three_costs(trades, "A", n, repeats, flush=False)  # nothing to flush
    finally:
        _logger.set_outlet(outlet)
        _forget("bench.alone")
    return [
        ("alone: log.info, same fields", costs["plain"]),
        ("alone: TradeLogger.order_placed", costs["placed"]),
        ("alone: TradeLogger.order_filled (partial)", costs["filled"]),
    ]


def sealing_costs(directory: Path, n: int, repeats: int) -> list[tuple[str, float]]:
    """The worker's CPU per entry: rendering a batch, rendering and sealing it, and the two
    differences (the whole cost sealing adds to the worker), in one process.

    The arms alternate in blocks of ``_SEAL_BLOCK`` batches (at least 15 blocks; about
    ``n * repeats`` entries an arm in all) after a warm-up of each, and each row is the
    median over the blocks; a difference is the median of the blocks' differences (a
    sealing block minus the rendering block just before it), so a busy moment on a shared
    machine moves both sides of it. Why the warm-up and the alternation: a batch's
    rendered bytes (about 0.5 MB) are one growing buffer, and whether the C allocator
    hands it pages it kept or fresh pages from the kernel (about 60 page faults a batch,
    0.12 µs an entry) depends on the largest block the process freed before (glibc raises
    its thresholds for keeping memory when a larger block is freed). Measured first in a
    fresh process, rendering alone paid the faults; after anything larger had been freed
    (a sealed batch, or what the benchmarks before it did) it did not, and the difference
    moved by as much from one process to the next. Warmed and alternating, both sides
    run in the same allocator state, the one a running worker is in.
    """
    formatter = JsonFormat()
    batch = [_ENTRY] * 1000
    entries_per_block = _SEAL_BLOCK * len(batch)
    blocks = max(15, n * repeats // entries_per_block)
    sha = AuditWriter(directory / "a.jsonl", None)
    keyed = AuditWriter(directory / "b.jsonl", AuditKey(b"benchmark-key"))
    # The primitive alone: SHA-256 of each run's hashed bytes (its first line up to the
    # hash, the others up to their prev, newline-joined), as hex digits, with nothing
    # around it: what the hashes of a batch cost from Python, at the least, per line.
    sealed = bytes(sha.seal(batch)).splitlines()
    runs: dict[bytes, list[bytes]] = {}
    for line in sealed:
        mark = line.rindex(b',"hash":"')
        parts = runs.setdefault(line[mark:], [])
        parts.append(line[: line.rindex(b',"prev":"')] if parts else line[:mark])
    hashed = [b"\n".join(parts) for parts in runs.values()]
    arms: dict[str, Callable[[], object]] = {
        "render": lambda: render_batch(formatter, batch),
        "sha": lambda: sha.seal(batch),
        "hmac": lambda: keyed.seal(batch),
        "primitive": lambda: [hexlify(hashlib.sha256(data).digest()) for data in hashed],
    }
    for work in arms.values():  # the warm-up: every arm's buffers allocated and freed
        for _ in range(3):
            work()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for _ in range(blocks):
        for name, work in arms.items():
            # CPU time of this process's work: stable on a shared machine, and the
            # worker's cost is CPU (the fsync is not included here).
            start = time.process_time()
            for _ in range(_SEAL_BLOCK):
                work()
            times[name].append((time.process_time() - start) / entries_per_block * 1e6)
    median = {name: statistics.median(values) for name, values in times.items()}

    def added(name: str) -> float:
        return statistics.median(a - b for a, b in zip(times[name], times["render"], strict=True))

    size = len(sealed[-1]) - len(b',"hash":"') - 64 - len(b'"}}')
    return [
        ("render one line (JSON), no audit", median["render"]),
        ("render + seal, SHA-256", median["sha"]),
        ("render + seal, HMAC-SHA256", median["hmac"]),
        ("audit chaining alone, SHA-256 (difference)", added("sha")),
        ("audit chaining alone, HMAC-SHA256 (difference)", added("hmac")),
        (
            f"of which the primitive: SHA-256 + hex of {size}-byte lines, {_chain.RUN} a hash",
            median["primitive"],
        ),
        ("of which the rest: heads, joins, loop (difference)", added("sha") - median["primitive"]),
    ]


def verify_rate(directory: Path, n: int, repeats: int) -> float:
    sink = FileSink(directory / "v.jsonl", JsonFormat(), audit=True)
    for _ in range(max(1, n // 1000)):
        sink.write_batch([_ENTRY] * 1000)
    sink.close()
    rates = []
    for _ in range(repeats):
        start = time.process_time()
        report = verify([directory / "v.jsonl"])
        rates.append(report.entries / (time.process_time() - start))
        assert report.ok
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        print("| caller, per call | µs |\n|---|---|")
        # Alone first (each run lets its order table go once measured, see _forget).
        alone = caller_costs_alone(args.entries, args.repeats)
        gc.collect()
        for label, value in caller_costs(directory, args.entries, args.repeats) + alone:
            print(f"| {label} | {value:.2f} |")
        print("\n| worker, per entry | µs |\n|---|---|")
        for label, value in sealing_costs(directory, args.entries, args.repeats):
            print(f"| {label} | {value:.2f} |")
        rate = verify_rate(directory, args.entries, args.repeats)
        print(
            f"\n`tapelog verify`: {rate:,.0f} entries/s of CPU time "
            f"({args.entries:,} entries, one file)"
        )


if __name__ == "__main__":
    main()
