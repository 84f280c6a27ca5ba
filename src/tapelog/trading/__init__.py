"""Trade events with FIX names, exact decimals and each order's state computed.

>>> from tapelog.trading import get_trade_logger
>>> trades = get_trade_logger("doctest.trading")
>>> trades.order_placed("O-1", "BTC-USD", "buy", "0.5", price="64000.00")
>>> trades.order_filled("O-1", "E-1", last_qty="0.2", last_px="63990.5")
>>> str(trades.order("O-1")["leaves_qty"])
'0.3'

See ``docs/trading.md``.
"""

from __future__ import annotations

from tapelog.trading._clock import ClockSync, log_clock_sync, start_clock_sync
from tapelog.trading._fix import FIX_CODES, FIX_NAMES, FIX_TAGS, fix_code, fix_name
from tapelog.trading._trade import TradeLogger, get_trade_logger
from tapelog.trading._values import OrderValidationError


__all__ = [
    "FIX_CODES",
    "FIX_NAMES",
    "FIX_TAGS",
    "ClockSync",
    "OrderValidationError",
    "TradeLogger",
    "fix_code",
    "fix_name",
    "get_trade_logger",
    "log_clock_sync",
    "start_clock_sync",
]
