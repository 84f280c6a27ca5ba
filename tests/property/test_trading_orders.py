"""Any sequence of fills keeps the order's arithmetic exact (hypothesis)."""

from __future__ import annotations

import itertools
from decimal import MAX_EMAX, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from tapelog.testing import capture
from tapelog.trading import get_trade_logger


_names = itertools.count()
_quantities = st.decimals(min_value="0.00000001", max_value="1000", places=8)
_prices = st.decimals(min_value="0.0001", max_value="100000", places=4)


def _rounded(value: Fraction) -> Decimal:
    """``value`` to 34 significant digits, half-even: what avg_px promises."""
    context = Context(prec=34, rounding=ROUND_HALF_EVEN)
    return context.divide(Decimal(value.numerator), Decimal(value.denominator))


@given(
    order_qty=st.decimals(min_value="0.00000001", max_value="5000", places=8),
    fills=st.lists(st.tuples(_quantities, _prices), min_size=1, max_size=12),
)
def test_fills_keep_cum_plus_leaves_and_an_exact_average(
    order_qty: Decimal, fills: list[tuple[Decimal, Decimal]]
) -> None:
    trades = get_trade_logger(f"prop.trading.{next(_names)}")
    with capture() as entries:
        trades.order_placed("C-1", "X", "buy", order_qty, "1")
        cum = Decimal(0)
        notional = Fraction(0)
        for n, (qty, px) in enumerate(fills):
            live_before = cum < order_qty
            trades.order_filled("C-1", f"E-{n}", qty, px)
            cum += qty
            notional += Fraction(qty) * Fraction(px)
            order = trades.order("C-1")
            assert order is not None
            assert order["cum_qty"] == cum
            assert order["avg_px"] == _rounded(notional / Fraction(cum))
            if cum < order_qty:
                assert order["ord_status"] == "partially_filled"
                assert order["cum_qty"] + order["leaves_qty"] == order_qty
            else:
                assert order["leaves_qty"] == 0
                if live_before:
                    assert order["ord_status"] == "filled"
    fills_written = [e["trade"] for e in entries if e.get("event", "").startswith("order.")]
    for trade in fills_written:
        if trade.get("ord_status") in {"new", "partially_filled"}:
            assert Decimal(trade["cum_qty"]) + Decimal(trade["leaves_qty"]) == order_qty
    rules = [e["violation"]["rule"] for e in entries if e["event"] == "order.lifecycle_violation"]
    assert ("overfill" in rules) == (cum > order_qty)


_any_decimal = st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
    lambda value: abs(value.adjusted()) < 60  # prices and sizes, not extreme exponents
)


@given(qty=_any_decimal, px=_any_decimal, notional=_any_decimal)
def test_the_fused_notional_step_equals_add_and_multiply(
    qty: Decimal, px: Decimal, notional: Decimal
) -> None:
    """The order's notional grows by ``qty * px`` in one exact fused step: same digits."""
    exact = Context(prec=200)
    assert str(qty.fma(px, notional, exact)) == str(exact.add(notional, exact.multiply(qty, px)))


# Far beyond what a fixed-precision context holds: up to 40 digits, exponents to +-400, so
# a sum may need some 850 digits; prices of either sign where the logger allows them.
_wide = st.builds(
    lambda digits, exponent: Decimal(f"{digits}E{exponent}"),
    st.integers(min_value=1, max_value=10**40),
    st.integers(min_value=-400, max_value=400),
)
_WIDE_AVG = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN)


@given(
    order_qty=_wide,
    fills=st.lists(st.tuples(_wide, _wide, st.booleans()), min_size=1, max_size=6),
)
def test_fills_stay_exact_at_any_digits_and_exponents(
    order_qty: Decimal, fills: list[tuple[Decimal, Decimal, bool]]
) -> None:
    trades = get_trade_logger(f"prop.trading.{next(_names)}", allow_negative_price=True)
    with capture() as entries:
        trades.order_placed("C-1", "X", "buy", order_qty, "1")
        cum = Fraction(0)
        notional = Fraction(0)
        for n, (qty, px, short) in enumerate(fills):
            price = -px if short else px
            trades.order_filled("C-1", f"E-{n}", qty, price)
            cum += Fraction(qty)
            notional += Fraction(qty) * Fraction(price)
            order = trades.order("C-1")
            assert order is not None
            assert Fraction(order["cum_qty"]) == cum
            average = notional / cum
            assert Fraction(order["avg_px"]) == Fraction(
                _WIDE_AVG.divide(Decimal(average.numerator), Decimal(average.denominator))
            )
            if order["ord_status"] == "partially_filled":
                assert Fraction(order["cum_qty"]) + Fraction(order["leaves_qty"]) == Fraction(
                    order_qty
                )
    for entry in entries:
        trade = entry["trade"]
        if trade.get("ord_status") == "partially_filled":
            assert Fraction(Decimal(trade["cum_qty"])) + Fraction(
                Decimal(trade["leaves_qty"])
            ) == Fraction(order_qty)
