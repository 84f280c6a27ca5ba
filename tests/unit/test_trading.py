"""``tapelog.trading``: the written entries of every order event, read back from a file.

Each acceptance scenario of the trading framework's trade-event story (an order placed, a
trade executed, an order cancelled) and of its validation story (an invalid order
parameter) is checked on what the file holds, validated against the shipped schema.
"""

from __future__ import annotations

import gc
import itertools
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

import pytest
from tests.conftest import KeepingOutlet, read_jsonl

import tapelog
from tapelog import _logger
from tapelog._event import MESSAGE
from tapelog._runtime import RUNTIME
from tapelog.trading import (
    FIX_CODES,
    FIX_NAMES,
    FIX_TAGS,
    OrderValidationError,
    fix_code,
    fix_name,
    get_trade_logger,
    log_clock_sync,
    start_clock_sync,
)
from tapelog.trading._clock import clock_status


if TYPE_CHECKING:
    from pathlib import Path

_names = itertools.count()


def _fresh(**options: Any) -> Any:
    """A trade logger with its own order table (a name no other test uses)."""
    return get_trade_logger(f"trading.t{next(_names)}", **options)


@pytest.fixture(name="written")
def _written(tmp_path: Path, validator: Any) -> Any:
    path = tmp_path / "trades.jsonl"
    tapelog.configure({"sinks": [{"type": "file", "path": str(path), "format": "json"}]})

    def read() -> list[dict[str, Any]]:
        assert tapelog.flush(5)
        entries = read_jsonl(path)
        for entry in entries:
            errors = sorted(validator.iter_errors(entry), key=str)
            assert not errors, f"{entry} breaks the schema: {errors[0].message}"
        return entries

    return read


class TestOrderPlaced:
    def test_entry_has_parameters_timestamp_and_identifier(self, written: Any) -> None:
        """Scenario: an order is placed -> one entry with its parameters, time and id."""
        trades = _fresh(strategy="momentum")
        trades.order_placed(
            "C-1", "BTC-USD", "buy", Decimal("0.50"), Decimal("64000.10"), order_id="V-9"
        )
        (entry,) = written()
        assert entry["event"] == "order.placed"
        assert entry["level"] == "info"
        assert entry["strategy"] == "momentum"
        trade = entry["trade"]
        assert trade["cl_ord_id"] == "C-1"
        assert trade["order_id"] == "V-9"
        assert (trade["symbol"], trade["side"], trade["ord_type"]) == ("BTC-USD", "buy", "limit")
        assert trade["time_in_force"] == "day"
        assert (trade["order_qty"], trade["price"]) == ("0.50", "64000.10")
        assert (trade["exec_type"], trade["ord_status"]) == ("new", "new")
        assert (trade["cum_qty"], trade["leaves_qty"]) == ("0", "0.50")
        assert trade["transact_time"].endswith("Z")
        assert len(trade["transact_time"].split(".")[1]) == 10  # nine digits and Z

    def test_decimals_are_written_exactly_never_in_exponent_form(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-2", "ETH-USD", "sell", Decimal("1E-8"), Decimal("1E+3"))
        trade = written()[0]["trade"]
        assert trade["order_qty"] == "0.00000001"
        assert trade["price"] == "1000"

    def test_fix_codes_are_accepted_and_names_written(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-3", "AAPL", "2", 100, None, "1", "3")
        trade = written()[0]["trade"]
        assert (trade["side"], trade["ord_type"], trade["time_in_force"]) == (
            "sell",
            "market",
            "immediate_or_cancel",
        )
        assert "price" not in trade

    def test_transact_time_keeps_its_precision(self, written: Any) -> None:
        trades = _fresh()
        nanos = 1_795_000_000_123_456_789
        trades.order_placed("C-4", "X", "buy", 1, 1, transact_time=nanos)
        micros = datetime(2026, 11, 23, 9, 30, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
        trades.order_placed("C-5", "X", "buy", 1, 1, transact_time=micros)
        trades.order_placed("C-6", "X", "buy", 1, 1, transact_time="2026-11-23T08:30:00.123Z")
        first, second, third = (e["trade"]["transact_time"] for e in written())
        assert first.endswith(".123456789Z")
        assert second == "2026-11-23T08:30:00.123456Z"
        assert third == "2026-11-23T08:30:00.123Z"


class TestTradeExecuted:
    def test_entry_has_price_quantity_fees_and_timestamps(self, written: Any) -> None:
        """Scenario: a trade completes -> execution price, quantity, fees and times."""
        trades = _fresh()
        trades.order_placed("C-1", "BTC-USD", "buy", "1.5", "100.25")
        trades.order_filled(
            "C-1",
            "E-1",
            "0.5",
            "100.00",
            commission="0.0125",
            currency="USD",
            transact_time=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        )
        trades.order_filled("C-1", "E-2", "1", "100.3")
        _, partial, full = written()
        assert partial["event"] == "order.partially_filled"
        trade = partial["trade"]
        assert (trade["exec_type"], trade["ord_status"], trade["exec_id"]) == (
            "trade",
            "partially_filled",
            "E-1",
        )
        assert (trade["last_qty"], trade["last_px"]) == ("0.5", "100.00")
        assert (trade["commission"], trade["currency"]) == ("0.0125", "USD")
        assert trade["transact_time"] == "2026-11-23T09:00:00.000000Z"
        assert (trade["cum_qty"], trade["leaves_qty"]) == ("0.5", "1.0")
        assert partial["timestamp"].endswith("Z")
        assert full["event"] == "order.filled"
        assert full["trade"]["ord_status"] == "filled"
        assert (full["trade"]["cum_qty"], full["trade"]["leaves_qty"]) == ("1.5", "0")
        # (0.5 * 100.00 + 1 * 100.3) / 1.5 = 100.20 exactly
        assert Decimal(full["trade"]["avg_px"]) == Decimal("100.20")

    def test_avg_px_is_the_volume_weighted_average(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 3, 10)
        for n, price in enumerate(("10", "11", "13")):
            trades.order_filled("C-1", f"E-{n}", 1, price)
        # 34 / 3 does not end: 34 significant digits, rounded half-even
        assert written()[-1]["trade"]["avg_px"] == "11." + "3" * 32


class TestOrderCancelled:
    def test_entry_has_reason_timestamp_and_remaining_quantity(self, written: Any) -> None:
        """Scenario: a cancellation -> the reason, the time and the quantity still open."""
        trades = _fresh()
        trades.order_placed("C-1", "ETH-USD", "sell", "10", "2500")
        trades.order_filled("C-1", "E-1", "4", "2500")
        trades.order_canceled("C-1", reason="strategy stopped")
        cancel = written()[-1]
        assert cancel["event"] == "order.canceled"
        trade = cancel["trade"]
        assert trade["text"] == "strategy stopped"
        assert (trade["exec_type"], trade["ord_status"]) == ("canceled", "canceled")
        assert (trade["cxl_qty"], trade["leaves_qty"], trade["cum_qty"]) == ("6", "0", "4")
        assert trade["transact_time"].endswith("Z")
        assert "6 open" in cancel["message"]


class TestOtherEvents:
    def test_reject_expire_replace_and_position(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 5, 10)
        trades.order_rejected("C-1", "insufficient margin", ord_rej_reason=3)
        trades.order_placed("C-2", "X", "buy", 5, 10, time_in_force="good_till_date")
        trades.order_expired("C-2")
        trades.order_placed("C-3", "X", "buy", 5, 10)
        trades.order_filled("C-3", "E-1", 2, 10)
        trades.order_replaced("C-4", "C-3", order_qty=8, price="10.5")
        trades.order_filled("C-4", "E-2", 6, "10.5")
        trades.position_changed("X", "-8", "10.375", realized_pnl="-1.25")
        entries = written()
        events = [e["event"] for e in entries]
        assert events == [
            "order.placed",
            "order.rejected",
            "order.placed",
            "order.expired",
            "order.placed",
            "order.partially_filled",
            "order.replaced",
            "order.filled",
            "position.changed",
        ]
        rejected = entries[1]
        assert rejected["level"] == "warning"
        assert rejected["trade"]["ord_rej_reason"] == "order_exceeds_limit"
        assert rejected["trade"]["ord_status"] == "rejected"
        assert entries[3]["trade"]["ord_status"] == "expired"
        assert entries[3]["trade"]["leaves_qty"] == "0"
        replaced = entries[6]["trade"]
        assert (replaced["cl_ord_id"], replaced["orig_cl_ord_id"]) == ("C-4", "C-3")
        assert (replaced["order_qty"], replaced["leaves_qty"], replaced["cum_qty"]) == (
            "8",
            "6",
            "2",
        )
        assert entries[7]["trade"]["ord_status"] == "filled"
        position = entries[8]["trade"]
        assert (position["position_qty"], position["realized_pnl"]) == ("-8", "-1.25")

    def test_state_is_kept_even_when_the_level_hides_the_entries(self, written: Any) -> None:
        trades = _fresh()
        tapelog.set_level("error", trades.name)
        trades.order_placed("C-1", "X", "buy", 5, 10)
        trades.order_filled("C-1", "E-1", 5, 10)
        assert [e for e in written() if e["logger"] == trades.name] == []
        order = trades.order("C-1")
        assert order is not None
        assert order["ord_status"] == "filled"

    def test_a_user_field_named_trade_is_kept_aside(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 1, 1, trade="mine")
        entry = written()[0]
        assert entry["trade_"] == "mine"
        assert entry["trade"]["cl_ord_id"] == "C-1"

    def test_a_users_fields_go_with_placements_and_fills_in_order_event_included(
        self, written: Any
    ) -> None:
        """Your own fields on order_placed / order_filled are written as any field is, in
        the order given; a field named ``event`` takes the event's name, and ``exc_info``
        still attaches the exception (the fields-free calls hand over constant pairs)."""
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 2, 1, desk="emea", tags=["a"], event="mine")
        trades.order_filled("C-1", "E-1", 1, 1, desk="emea", venue_ms=3)
        trades.order_filled("C-1", "E-2", 1, 1, note="last")
        try:
            raise ValueError("late ack")
        except ValueError as exc:
            trades.order_placed("C-2", "X", "buy", 1, 1, desk="emea", exc_info=exc)
        placed, partial, filled, failed = written()
        assert placed["event"] == "order.placed"
        assert [k for k in placed if k in {"desk", "tags", "event_"}] == ["desk", "tags"]
        assert (placed["desk"], placed["tags"]) == ("emea", ["a"])
        assert (partial["event"], partial["desk"], partial["venue_ms"]) == (
            "order.partially_filled",
            "emea",
            3,
        )
        assert (filled["event"], filled["note"]) == ("order.filled", "last")
        assert failed["event"] == "order.placed"
        assert failed["error"]["type"] == "ValueError"
        assert failed["error"]["message"] == "late ack"


class TestValidation:
    @pytest.mark.parametrize(
        ("call", "param", "rule"),
        [
            (lambda t: t.order_placed("C-1", "X", "buy", 0, 1), "order_qty", "greater than 0"),
            (lambda t: t.order_placed("C-1", "X", "buy", "-1", 1), "order_qty", "greater than 0"),
            (lambda t: t.order_placed("C-1", "X", "buy", "NaN", 1), "order_qty", "finite"),
            (
                lambda t: t.order_placed("C-1", "X", "buy", Decimal("Infinity"), 1),
                "order_qty",
                "finite",
            ),
            (lambda t: t.order_placed("C-1", "X", "buy", 1.5, 1), "order_qty", "float"),
            (lambda t: t.order_placed("C-1", "X", "hold", 1, 1), "side", "one of"),
            (lambda t: t.order_placed("C-1", "X", "buy", 1, 1, "iceberg"), "ord_type", "one of"),
            (
                lambda t: t.order_placed("C-1", "X", "buy", 1, 1, "limit", "gtc"),
                "time_in_force",
                "one of",
            ),
            (lambda t: t.order_placed("", "X", "buy", 1, 1), "cl_ord_id", "non-empty"),
            (lambda t: t.order_placed("C-1", "X", "buy", 1), "price", "limit order"),
            (lambda t: t.order_placed("C-1", "X", "buy", 1, "-5"), "price", "greater than 0"),
            (
                lambda t: t.order_placed("C-1", "X", "buy", 1, "1", "stop_limit"),
                "stop_px",
                "stop_limit",
            ),
            (lambda t: t.order_filled("C-1", "", 1, 1), "exec_id", "non-empty"),
            (lambda t: t.order_filled("C-1", "E", 1, 1, currency="usd"), "currency", "ISO 4217"),
            (
                lambda t: t.order_placed(
                    "C-1", "X", "buy", 1, 1, transact_time=datetime(2026, 1, 1)
                ),
                "transact_time",
                "aware",
            ),
            (lambda t: t.order_rejected("C-1", ""), "reason", "non-empty"),
            # The Decimal checks made inline: every refused Decimal still refused.
            (lambda t: t.order_placed("C-1", "X", "buy", Decimal("-0"), 1), "order_qty", "than 0"),
            (lambda t: t.order_placed("C-1", "X", "buy", Decimal(0), 1), "order_qty", "than 0"),
            (
                lambda t: t.order_placed("C-1", "X", "buy", Decimal("sNaN"), 1),
                "order_qty",
                "finite",
            ),
            (lambda t: t.order_placed("C-1", "X", "buy", 1, Decimal("-1E-99")), "price", "than 0"),
            (lambda t: t.order_placed("C-1", "X", "buy", 1, Decimal("-Inf")), "price", "finite"),
            (lambda t: t.order_filled("C-1", "E", Decimal(-1), 1), "last_qty", "than 0"),
            (lambda t: t.order_filled("C-1", "E", 1, Decimal(0)), "last_px", "than 0"),
            (lambda t: t.order_filled("C-1", "E", 1, Decimal("NaN")), "last_px", "finite"),
        ],
    )
    def test_bad_parameter_raises_and_logs_one_entry(
        self, written: Any, call: Any, param: str, rule: str
    ) -> None:
        """Scenario: an invalid order parameter -> the parameter, the rule and the context."""
        trades = _fresh(desk="emea")
        with tapelog.context(request_id="r-7"), pytest.raises(OrderValidationError) as caught:
            call(trades)
        assert caught.value.param == param
        assert rule in caught.value.rule
        (entry,) = written()
        assert entry["event"] == "order.validation_failed"
        assert entry["level"] == "warning"
        assert entry["validation"]["param"] == param
        assert entry["validation"]["rule"] == caught.value.rule
        assert "value" in entry["validation"]
        assert entry["call"]["method"].startswith(("order_", "position_"))
        assert (entry["desk"], entry["request_id"]) == ("emea", "r-7")
        assert trades.order("C-1") is None  # nothing about the order changed

    def test_floats_are_accepted_when_opted_in_and_marked_lossy(self, written: Any) -> None:
        trades = _fresh(allow_float=True)
        trades.order_placed("C-1", "X", "buy", 0.1, 2.675)
        trade = written()[0]["trade"]
        assert (trade["order_qty"], trade["price"]) == ("0.1", "2.675")
        assert trade["lossy_input"] is True

    def test_decimal_subclasses_and_extreme_exponents_are_taken_exactly(self, written: Any) -> None:
        class Price(Decimal):
            pass

        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", Decimal("1E+30"), Price("1E-30"))
        trades.order_filled("C-1", "E-1", Decimal("1E-30"), Price("2.5E+30"))
        placed, filled = written()
        assert placed["trade"]["order_qty"] == "1" + "0" * 30
        assert placed["trade"]["price"] == "0." + "0" * 29 + "1"
        assert filled["trade"]["cum_qty"] == "0." + "0" * 29 + "1"
        assert filled["trade"]["avg_px"] == "25" + "0" * 29
        # 1E+30 - 1E-30: sixty-one digits, none lost
        assert filled["trade"]["leaves_qty"] == "9" * 30 + "." + "9" * 29 + "9"

    def test_negative_prices_only_when_opted_in(self, written: Any) -> None:
        trades = _fresh(allow_negative_price=True)
        trades.order_placed("C-1", "CL-SPREAD", "buy", 1, "-0.35")
        trades.order_filled("C-1", "E-1", 1, "-0.40")
        entries = written()
        assert entries[0]["trade"]["price"] == "-0.35"
        assert entries[1]["trade"]["avg_px"] == "-0.40"


class TestLifecycle:
    def _violations(self, entries: list[dict[str, Any]]) -> list[str]:
        return [
            e["violation"]["rule"] for e in entries if e["event"] == "order.lifecycle_violation"
        ]

    def test_fill_after_cancel_is_written_and_flagged(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 5, 10)
        trades.order_canceled("C-1")
        trades.order_filled("C-1", "E-1", 1, 10)  # must not raise
        entries = written()
        assert [e["event"] for e in entries][-2:] == [
            "order.partially_filled",
            "order.lifecycle_violation",
        ]
        violation = entries[-1]
        assert violation["level"] == "error"
        assert violation["violation"]["rule"] == "fill_after_terminal"
        assert violation["trade"]["cl_ord_id"] == "C-1"

    def test_overfill_duplicate_exec_id_and_unknown_order(self, written: Any) -> None:
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 5, 10)
        trades.order_filled("C-1", "E-1", 3, 10)
        trades.order_filled("C-1", "E-1", 3, 10)
        trades.order_filled("C-1", "E-2", 4, 10)
        trades.order_filled("C-9", "E-3", 1, 10)
        trades.order_canceled("C-8")
        trades.order_placed("C-1", "X", "buy", 5, 10)
        entries = written()
        assert self._violations(entries) == [
            "duplicate_exec_id",
            "overfill",
            "unknown_order",
            "unknown_order",
            "duplicate_cl_ord_id",
        ]
        duplicate = next(e for e in entries if e["trade"].get("duplicate"))
        assert duplicate["trade"]["cum_qty"] == "3"  # not counted twice
        overfilled = next(e for e in entries if e["trade"].get("exec_id") == "E-2")
        assert overfilled["trade"]["cum_qty"] == "7"
        assert overfilled["trade"]["leaves_qty"] == "0"

    def test_a_repeated_exec_id_is_caught_however_many_fills_came_between(
        self, written: Any
    ) -> None:
        """The ids seen are kept in a tuple while few, then in a set: both catch a repeat."""
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 100, 10)
        for n in range(40):
            trades.order_filled("C-1", f"E-{n}", 1, 10)
            if n in {3, 15, 16, 17, 39}:
                trades.order_filled("C-1", "E-0", 1, 10)  # the first one again
                trades.order_filled("C-1", f"E-{n}", 1, 10)  # the last one again
        entries = written()
        assert self._violations(entries) == ["duplicate_exec_id"] * 10
        assert trades.order("C-1")["cum_qty"] == 40

    def test_an_exec_id_inside_another_is_not_a_repeat(self, written: Any) -> None:
        """One fill's id is kept as text: a part of it is another id, not a repeat."""
        trades = _fresh()
        trades.order_placed("C-1", "X", "buy", 10, 10)
        trades.order_filled("C-1", "E-12", 1, 10)
        trades.order_filled("C-1", "E-1", 1, 10)
        trades.order_filled("C-1", "2", 1, 10)
        assert self._violations(written()) == []
        assert trades.order("C-1")["cum_qty"] == 3

    def test_a_replaced_order_answers_to_all_its_ids_until_it_leaves(self, written: Any) -> None:
        """The table keeps one value per order under each of its ids, all kept in step."""
        trades = _fresh(terminal_ttl=0)
        trades.order_placed("A", "X", "buy", 10, 5)
        trades.order_replaced("B", "A", 12)
        trades.order_replaced("C", "B")
        trades.order_filled("A", "E-1", 2, 5)  # a late fill under the first id
        trades.order_filled("C", "E-2", 3, 5)
        trades.order_filled("B", "E-1", 3, 5)  # the same execution again, by another id
        orders = [trades.order(name) for name in ("A", "B", "C")]
        assert all(order is not None for order in orders)
        assert {(o["cum_qty"], o["leaves_qty"], o["cl_ord_id"]) for o in orders if o} == {
            (5, 7, "C")
        }
        trades.order_placed("D", "X", "buy", 1, 5)
        trades.order_canceled("C")  # ended: its ids leave at once (terminal_ttl 0) ...
        trades.order_placed("A", "X", "sell", 4, 6)  # ... an id used again is a new order
        assert [trades.order(name) is None for name in ("B", "C", "D")] == [True, True, False]
        again = trades.order("A")
        assert again is not None
        assert (again["side"], again["cum_qty"]) == ("sell", 0)
        entries = written()
        assert [e["violation"]["rule"] for e in entries if "violation" in e] == [
            "duplicate_exec_id"
        ]

    def test_finished_orders_leave_after_their_ttl(self, written: Any) -> None:
        trades = _fresh(terminal_ttl=0)
        trades.order_placed("C-1", "X", "buy", 1, 1)
        trades.order_filled("C-1", "E-1", 1, 1)
        assert trades.order("C-1") is None
        assert trades.order_stats()["expired"] == 1
        trades.order_filled("C-1", "E-2", 1, 1)
        assert self._violations(written()) == ["unknown_order"]

    def test_the_table_is_capped_and_evictions_counted(self, written: Any) -> None:
        trades = _fresh(max_orders=3)
        for n in range(5):
            trades.order_placed(f"C-{n}", "X", "buy", 1, 1)
        stats = trades.order_stats()
        assert (stats["orders"], stats["evicted"]) == (3, 2)
        assert trades.order("C-0") is None
        assert trades.order("C-4") is not None
        written()

    def test_no_order_answers_to_the_empty_id(self, written: Any) -> None:
        trades = _fresh(max_orders=2)
        assert trades.order("") is None
        trades.order_placed("C-1", "X", "buy", 1, 1)
        assert trades.order("") is None
        assert trades.order_stats()["orders"] == 1
        written()

    def test_a_full_collection_leaves_the_table_out_of_the_young_generation(
        self, written: Any
    ) -> None:
        """After a full collection, the next fill does not put the whole table among the
        objects the next young collection walks (CPython untracks a dict of untracked
        values in a full collection and tracks it again, as a young object, at the next
        store of a new tuple)."""
        trades = _fresh(terminal_ttl=0)
        for n in range(50):
            trades.order_placed(f"C-{n}", "X", "buy", 2, 1)
        gc.collect()
        gc.collect()  # every order's tuple is untracked by now
        trades.order_filled("C-7", "E-7", 1, 1)
        trades.order_placed("C-99", "X", "buy", 2, 1)
        table = trades._book.orders
        assert not any(young is table for young in gc.get_objects(0))
        written()

    def test_a_fills_queued_record_is_untracked_by_the_first_young_collection(self) -> None:
        """A fill's record (its message the order's tuple the table keeps) leaves the
        collector's lists in the first generation-0 collection that sees it, so a backlog
        of fills is not walked again by older generations.

        From Python 3.13 a ``Decimal`` is tracked by the collector, and so is anything
        holding one: there the record must be tracked exactly as its decimals make it, and
        on every version its message must be the very tuple the table keeps.
        """
        decimals_tracked = gc.is_tracked(Decimal("1.0"))
        trades = _fresh()
        for n in range(20):
            trades.order_placed(f"C-{n}", "X", "buy", Decimal(2), Decimal(1))
        kept = KeepingOutlet()
        gc.collect()
        gc.collect()  # the table, the outlet's queue and the orders are old now
        _logger.set_outlet(kept)  # type: ignore[arg-type]
        try:
            for n in range(20):
                trades.order_filled(f"C-{n}", f"E-{n}", Decimal(1), Decimal(1))
        finally:
            _logger.set_outlet(RUNTIME.dispatcher)
        assert len(kept.queue) == 20
        table = trades._book.orders
        messages = [cast("tuple[object, ...]", record)[MESSAGE] for record in kept.queue]
        assert all(messages[n] is table[f"C-{n}"] for n in range(20))
        gc.collect(0)
        assert [gc.is_tracked(record) for record in kept.queue] == [decimals_tracked] * 20

    def test_finished_orders_are_evicted_before_live_ones(self, written: Any) -> None:
        trades = _fresh(max_orders=2)
        trades.order_placed("C-1", "X", "buy", 1, 1)
        trades.order_placed("C-2", "X", "buy", 1, 1)
        trades.order_canceled("C-2")
        trades.order_placed("C-3", "X", "buy", 1, 1)
        assert trades.order("C-1") is not None
        assert trades.order("C-2") is None
        written()


class TestRedaction:
    def test_a_users_pattern_redacts_inside_ids_the_trade_object_holds(
        self, tmp_path: Path
    ) -> None:
        """tapelog's own values skip scanning; the user's ids, symbols and texts do not."""
        path = tmp_path / "trades.jsonl"
        tapelog.configure(
            {
                "sinks": [{"type": "file", "path": str(path), "format": "json"}],
                "redaction": {"patterns": ["ACCT[0-9]+"], "keys": ["account"]},
            }
        )
        trades = _fresh()
        trades.order_placed(
            "C-ACCT42-1", "X", "buy", 5, 10, account="desk-7", text="for ACCT42 password=hunter2"
        )
        trades.order_filled("C-ACCT42-1", "E-ACCT42", 2, 10)
        trades.order_canceled("C-ACCT42-1", "ACCT42 closed")
        assert tapelog.flush(5)
        placed, filled, canceled = read_jsonl(path)
        for entry in (placed, filled, canceled):
            assert entry["trade"]["cl_ord_id"] == "C-[REDACTED]-1"
            assert "ACCT42" not in str(entry)
            assert entry["trade"]["transact_time"].endswith("Z")  # written as it is
        assert placed["trade"]["account"] == "[REDACTED]"  # a sensitive key of the user's
        assert placed["trade"]["text"] == "for [REDACTED] password=[REDACTED]"
        assert (placed["trade"]["side"], placed["trade"]["order_qty"]) == ("buy", "5")
        assert filled["trade"]["exec_id"] == "E-[REDACTED]"
        assert canceled["trade"]["text"] == "[REDACTED] closed"


class TestFixTables:
    def test_names_and_codes_round_trip(self) -> None:
        for field, codes in FIX_CODES.items():
            for name, code in codes.items():
                assert FIX_NAMES[field][code] == name
                assert fix_name(field, fix_code(field, name)) == name
        assert fix_name("ord_status", 1) == "partially_filled"
        assert FIX_TAGS["cl_ord_id"] == 11
        assert FIX_TAGS["leaves_qty"] == 151

    def test_every_enumerated_name_is_allowed_by_the_schema(self, schema: dict[str, Any]) -> None:
        trade = schema["$defs"]["trade"]["properties"]
        for field in ("exec_type", "ord_status", "side", "ord_type", "time_in_force"):
            assert set(FIX_CODES[field]) <= set(trade[field]["enum"]), field


class TestClockSync:
    def test_the_entry_says_what_the_system_reports(self, written: Any) -> None:
        status = log_clock_sync()
        (entry,) = written()
        assert entry["event"] == "clock.sync"
        assert entry["clock"]["synchronized"] in {True, False, None}
        assert entry["clock"]["source"] in {"adjtimex", "unavailable"}
        assert entry["clock"]["resolution_ns"] >= 1
        assert entry["level"] == ("warning" if status["synchronized"] is False else "info")

    def test_periodic_entries_until_stopped(self, written: Any) -> None:
        sync = start_clock_sync(interval=0.01)
        tapelog.flush(5)
        sync.stop(5)
        count = len(written())
        assert count >= 1
        assert len(written()) == count  # nothing after stop
        assert "synchronized" in clock_status()

    def test_interval_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="interval"):
            start_clock_sync(0)
