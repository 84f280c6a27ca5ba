"""Seed scenario: an unexpected exception deep in trading logic leaves one entry with the
full stack trace, the local variables (a secret among them redacted) and the execution
context (bound and context fields, thread, call site)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import tapelog
from tapelog.errors import ErrorInfo


if TYPE_CHECKING:
    from pathlib import Path


class MeanReversion:
    """A strategy whose position sizing divides by a volatility that can be zero."""

    def __init__(self, api_secret: str) -> None:
        self.api_secret = api_secret
        self.log = tapelog.get_logger("strategy.mean_reversion").bind(strategy="mr-1")

    def on_tick(self, symbol: str, prices: list[Decimal]) -> None:
        try:
            self._rebalance(symbol, prices)
        except Exception:
            self.log.exception("strategy failed on tick", symbol=symbol)

    def _rebalance(self, symbol: str, prices: list[Decimal]) -> Decimal:
        signal = prices[-1] - sum(prices, Decimal(0)) / len(prices)
        return self._size(signal, prices)

    def _size(self, signal: Decimal, prices: list[Decimal]) -> Decimal:
        exchange_password = "hunter2-exchange"
        volatility = max(prices) - min(prices)
        risk_budget = Decimal(1000)
        _keep(exchange_password)
        return risk_budget * signal / volatility  # flat prices: volatility is 0


def _keep(*values: object) -> None:
    del values


def test_unexpected_exception_in_strategy_code(tmp_path: Path, validator: Any) -> None:
    path = tmp_path / "strategy.jsonl"
    tapelog.configure({"sinks": [{"type": "file", "path": str(path)}], "errors": {"locals": True}})
    strategy = MeanReversion(api_secret="sk-live-0123456789abcdefghijkl")

    with tapelog.context(session="paper-7"):
        strategy.on_tick("BTC-USD", [Decimal("64250.10")] * 3)
    tapelog.flush()

    text = path.read_text(encoding="utf-8")
    (entry,) = [json.loads(line) for line in text.splitlines()]
    error = entry["error"]
    assert [] == [str(e) for e in validator.iter_errors(entry)]
    # The execution context.
    assert ("mr-1", "paper-7", "BTC-USD", "MainThread", "on_tick") == (
        entry["strategy"],
        entry["session"],
        entry["symbol"],
        entry["thread"],
        entry["function"],
    )
    # The full stack trace, down to the failing line, with its columns.
    assert error["type"].startswith("decimal.")  # DivisionUndefined: 0 / 0
    assert ["on_tick", "_rebalance", "_size"] == [f["function"] for f in error["frames"]]
    failing = error["frames"][-1]
    assert "return risk_budget * signal / volatility" in failing["code"]
    # The locals of every frame, redacted: names and text both.
    assert {
        "exchange_password": "'[REDACTED]'",
        "volatility": "Decimal('0.00')",
        "risk_budget": "Decimal('1000')",
    }.items() <= failing["locals"].items()
    assert "sk-live-0123456789abcdefghijkl" not in text
    assert "hunter2-exchange" not in text
    assert "MeanReversion" in error["frames"][0]["locals"]["self"]
    assert "signal" in failing["locals"]
    # And it reads back as the traceback Python would print, locals under each frame.
    rendered = ErrorInfo.from_dict(error).render()
    assert error["stack_trace"] == ErrorInfo.from_dict(error).render(locals=False)
    assert "    volatility = Decimal('0.00')\n" in rendered
