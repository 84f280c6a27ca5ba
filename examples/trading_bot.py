"""A trading bot that logs orders, fills and failures through tapelog.

Run: .venv/bin/python examples/trading_bot.py   (writes examples-out/trading.jsonl)
"""

from __future__ import annotations

import random
from decimal import Decimal

import tapelog


class ExchangeError(ConnectionError):
    """The exchange refused or did not answer."""


def submit_to_exchange() -> None:
    raise ExchangeError("timeout waiting for acknowledgement")


def main() -> None:
    tapelog.configure(
        level="debug",
        service="trading-bot",
        sinks=[
            {"type": "console", "level": "info", "format": "console"},
            {"type": "file", "path": "examples-out/trading.jsonl", "rotation": {"size": "10 MiB"}},
        ],
    )
    log = tapelog.get_logger("trading.bot").bind(strategy="mean-reversion", account="ACC-001")
    rng = random.Random(7)
    for number in range(1, 21):
        price = Decimal("64000.25") + Decimal(rng.randint(-500, 500)) / 100
        qty = Decimal(rng.choice(["0.5", "1", "1.5"]))
        with tapelog.context(cl_ord_id=f"ord-{number:04d}", symbol="BTC-USD"):
            log.info("order placed", event="order.placed", side="buy", qty=qty, price=price)
            if rng.random() < 0.8:
                log.info("order filled", event="order.filled", last_qty=qty, last_px=price)
            else:
                try:
                    submit_to_exchange()
                except ExchangeError:
                    log.exception("order failed", event="order.failed", api_key="sk-live-secret")
    tapelog.flush()
    print(tapelog.stats().as_dict())


if __name__ == "__main__":
    main()
