"""Trade events and entries bound for an audited sink are never shed by a drop policy."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog._runtime import RUNTIME
from tapelog.audit import verify
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    from pathlib import Path


def _stall_worker() -> threading.Thread:
    """Hold the worker's lock until the queue overflowed: as under a slow disk.

    Released once an entry was dropped and a caller waits for room (a kept record), or
    after 20 s at most; the wait is on those conditions, not on a guess of time.
    """
    held = threading.Event()
    dispatcher = RUNTIME.dispatcher

    def hold() -> None:
        with dispatcher._work_lock:
            held.set()
            deadline = time.monotonic() + 20.0
            while time.monotonic() < deadline:
                if dispatcher.stats().dropped_overflow and dispatcher._waiters:
                    break
                time.sleep(0.005)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(5)
    return thread


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest"])
def test_trade_events_wait_while_plain_entries_are_dropped(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "app.jsonl"
    tapelog.configure(
        {
            "queue": {"size": 8, "overflow": policy, "block_timeout": "10s"},
            "sinks": [{"type": "file", "path": str(path), "format": "json"}],
        }
    )
    tapelog.get_logger("warmup").info("start the worker")
    assert tapelog.flush(5)
    trades = get_trade_logger("shed.trading")
    plain = tapelog.get_logger("shed.plain")
    stall = _stall_worker()
    for n in range(40):
        plain.info("noise", n=n)
        trades.order_placed(f"C-{n}", "X", "buy", 1, 1)
    stall.join()
    assert tapelog.flush(10)
    entries = read_jsonl(path)
    placed = [e for e in entries if e.get("event") == "order.placed"]
    assert len(placed) == 40
    stats = tapelog.stats()
    assert stats.dropped_overflow > 0  # the plain entries were the ones shed
    assert len([e for e in entries if e["logger"] == "shed.plain"]) < 40


def test_entries_bound_for_an_audited_sink_are_kept(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    tapelog.configure(
        {
            "queue": {"size": 8, "overflow": "drop_newest", "block_timeout": "10s"},
            "sinks": [
                {
                    "type": "file",
                    "path": str(audit),
                    "format": "json",
                    "audit": True,
                    "filter": {"loggers": ["ledger"]},
                },
                {"type": "file", "path": str(tmp_path / "app.jsonl"), "format": "json"},
            ],
        }
    )
    tapelog.get_logger("warmup").info("start the worker")
    assert tapelog.flush(5)
    ledger = tapelog.get_logger("ledger.cash")
    other = tapelog.get_logger("app")
    stall = _stall_worker()
    for n in range(40):
        other.info("noise", n=n)
        ledger.info("cash moved", n=n)
    stall.join()
    tapelog.configure({"sinks": [{"type": "console"}]})  # closes and seals the audit file
    kept = [e for e in read_jsonl(audit) if e["logger"] == "ledger.cash"]
    assert [e["n"] for e in kept] == list(range(40))
    assert tapelog.stats().dropped_overflow > 0
    assert verify([audit]).ok
