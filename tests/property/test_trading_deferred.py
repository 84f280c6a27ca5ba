"""A trade event finished on the worker reads exactly as one built on the caller.

``order_placed`` and ``order_filled`` hand the worker a tuple of facts (a ``Deferred``)
and the worker makes the message and the ``trade`` object. For any order and any fills,
the entry must hold what an eager build from the same facts gives: every key, in order,
every Decimal's exact text, the state after each event, and the message.
"""

from __future__ import annotations

import itertools
from decimal import ROUND_HALF_EVEN, Context, Decimal

from hypothesis import given
from hypothesis import strategies as st

from tapelog.testing import capture
from tapelog.trading import get_trade_logger


_names = itertools.count()
_quantities = st.decimals(min_value="0.001", max_value="100", places=3)
_prices = st.decimals(min_value="0.01", max_value="100000", places=2)
_WHEN = 1_700_000_000_123_456_789
_WHEN_TEXT = "2023-11-14T22:13:20.123456789Z"
_AVG = Context(prec=34, rounding=ROUND_HALF_EVEN)


def _text(value: Decimal) -> str:
    return format(value, "f")


@given(
    order_qty=st.decimals(min_value="0.001", max_value="300", places=3),
    price=st.one_of(st.none(), _prices),
    currency=st.one_of(st.none(), st.sampled_from(["USD", "EUR"])),
    fills=st.lists(st.tuples(_quantities, _prices), min_size=0, max_size=6),
)
def test_deferred_entries_equal_the_eager_build(
    order_qty: Decimal,
    price: Decimal | None,
    currency: str | None,
    fills: list[tuple[Decimal, Decimal]],
) -> None:
    trades = get_trade_logger(f"prop.deferred.{next(_names)}")
    ord_type = "limit" if price is not None else "market"
    with capture() as entries:
        trades.order_placed(
            "C-1",
            "BTC-USD",
            "sell",
            order_qty,
            price,
            ord_type,
            currency=currency,
            transact_time=_WHEN,
        )
        for n, (qty, px) in enumerate(fills):
            trades.order_filled("C-1", f"E-{n}", qty, px, transact_time=_WHEN)
    head: dict[str, object] = {
        "cl_ord_id": "C-1",
        "symbol": "BTC-USD",
        "side": "sell",
        "ord_type": ord_type,
        "time_in_force": "day",
        "order_qty": _text(order_qty),
    }
    if price is not None:
        head["price"] = _text(price)
    placed = {
        **head,
        "exec_type": "new",
        "ord_status": "new",
        "cum_qty": "0",
        "leaves_qty": _text(order_qty),
        "avg_px": "0",
    }
    if currency is not None:
        placed["currency"] = currency
    placed["transact_time"] = _WHEN_TEXT
    written = [entry for entry in entries if entry["event"] != "order.lifecycle_violation"]
    assert written[0]["trade"] == placed
    assert list(written[0]["trade"]) == list(placed)
    at = f" @ {_text(price)}" if price is not None else ""
    assert written[0]["message"] == f"order C-1 placed: sell {_text(order_qty)} BTC-USD{at}"
    cum, notional, status = Decimal(0), Decimal(0), "new"
    for n, ((qty, px), entry) in enumerate(zip(fills, written[1:], strict=True)):
        cum += qty
        notional += qty * px
        if status in {"new", "partially_filled"}:
            status = "filled" if cum >= order_qty else "partially_filled"
        live = status in {"new", "partially_filled"}
        fill = {
            **head,
            "exec_id": f"E-{n}",
            "exec_type": "trade",
            "ord_status": status,
            "last_qty": _text(qty),
            "last_px": _text(px),
            "cum_qty": _text(cum),
            "leaves_qty": _text(max(order_qty - cum, Decimal(0))) if live else "0",
            "avg_px": _text(_AVG.divide(notional, cum)),
        }
        if currency is not None:
            fill["currency"] = currency
        fill["transact_time"] = _WHEN_TEXT
        assert entry["trade"] == fill
        assert list(entry["trade"]) == list(fill)
        verb = "filled" if status == "filled" else "partially filled"
        assert entry["message"] == f"order C-1 {verb}: {_text(qty)} @ {_text(px)}"
        assert entry["event"] == (
            "order.filled" if status == "filled" else "order.partially_filled"
        )
