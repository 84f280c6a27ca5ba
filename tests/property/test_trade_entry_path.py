"""A ``trade`` object takes the entry builder's own path and writes what the general one does.

tapelog writes the ``trade`` object itself: its keys are tapelog's names (each checked
against the redactor once per builder), its Decimals and its own times need no scanning
when the redactor cannot touch them, and every text a user gave (ids, symbols, reasons)
is redacted as any field value is. For any redaction configuration and any trade event,
the entry must hold exactly what ``clean_value`` (the general path) makes of the object,
key order included; and a redactor that says it leaves an alphabet alone must do so.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, cast

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.conftest import KeepingOutlet

import tapelog
from tapelog import _logger
from tapelog._entry import EntryBuilder
from tapelog._event import finish_deferred, is_deferred
from tapelog.processors import Redactor
from tapelog.processors._normalize import clean_value
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from tapelog._event import Record

_names = itertools.count()

# Keys and patterns chosen to hit what a trade object holds: its own key names, the ids'
# and times' characters, the enums' words, the Decimals' digits.
_KEYS = st.lists(
    st.sampled_from(
        [
            "account",
            "symbol",
            "exec_id",
            "clOrdId",
            "text",
            "price",
            "session_id",
            "t",
            "z",
            "2026",
            "00",
            "T00",
            "side",
        ]
    ),
    max_size=3,
)
_PATTERNS = st.lists(
    st.sampled_from(
        [
            r"C-\d+",
            r"SECRET",
            r"\d{4}",
            r"[0-9]+",
            r"T\d\d",
            r"buy",
            r"BTC",
            r"\.",
            r"Z$",
            r"x*",
            r"partially",
        ]
    ),
    max_size=2,
)
_REDACTORS = st.builds(
    Redactor,
    keys=_KEYS,
    patterns=_PATTERNS,
    replacement=st.sampled_from(["[REDACTED]", "***", "x\\1"]),
    enabled=st.booleans(),
)
_IDS = st.lists(
    st.sampled_from([*"CE-19:= /@xyzSECRT.é\U0001f600", "\ud800", "password", "https://"]),
    min_size=1,
    max_size=12,
).map("".join)
_QUANTITIES = st.decimals(min_value="0.001", max_value="50", places=3)
_PRICES = st.decimals(min_value="0.01", max_value="99999", places=2)
_TIMES = st.one_of(
    st.none(),
    st.integers(min_value=0, max_value=4_000_000_000_000_000_000),
    st.just(datetime(2026, 12, 7, 0, 43, 8, 734056, tzinfo=UTC)),
    st.just("2026-12-07T00:43:08.1Z"),
)


def _records(run: object) -> list[Record]:
    """The records ``run()`` logs, taken at the queue (no worker builds them)."""
    tapelog.get_logger("x")  # the runtime is up, so it does not replace the outlet
    keep = KeepingOutlet()
    outlet = _logger._outlet  # pyright: ignore[reportPrivateUsage]
    _logger.set_outlet(keep)  # type: ignore[arg-type]
    try:
        run()  # type: ignore[operator]
    finally:
        _logger.set_outlet(outlet)
    return list(keep.queue)


def _trades(records: list[Record]) -> Iterator[tuple[Record, object]]:
    """Each record with its ``trade`` object as the general path would receive it."""
    for record in records:
        message, meta = record[3], record[8]
        if is_deferred(message):
            _, meta = finish_deferred(cast("tuple[object, ...]", message), meta)
        trade = cast("Mapping[str, object]", meta or {}).get("trade")
        if trade is not None:
            yield record, trade


@settings(max_examples=150, deadline=None)
@given(
    redactor=_REDACTORS,
    cl_ord_id=_IDS,
    exec_id=_IDS,
    account=st.one_of(st.none(), _IDS),
    reason=_IDS,
    qty=_QUANTITIES,
    px=_PRICES,
    fill=_QUANTITIES,
    when=_TIMES,
    negative=st.booleans(),
)
def test_the_trade_object_is_written_as_the_general_path_writes_it(  # noqa: PLR0917
    redactor: Redactor,
    cl_ord_id: str,
    exec_id: str,
    account: str | None,
    reason: str,
    qty: Decimal,
    px: Decimal,
    fill: Decimal,
    when: object,
    negative: bool,
) -> None:
    trades = get_trade_logger(f"prop.own.{next(_names)}", allow_negative_price=negative)
    price = -px if negative else px

    def run() -> None:
        trades.order_placed(
            cl_ord_id, "BTC-USD", "buy", qty, price, account=account, transact_time=when
        )
        trades.order_filled(cl_ord_id, exec_id, fill, price, Decimal("-0.25"), "USD")
        trades.order_filled(cl_ord_id, exec_id, fill, price)  # a duplicate: a violation
        trades.order_replaced(f"{cl_ord_id}.2", cl_ord_id, qty + 1, transact_time=when)
        trades.order_canceled(f"{cl_ord_id}.2", reason)
        trades.order_rejected("R-" + cl_ord_id, reason, "unknown_symbol")
        trades.order_filled("U-" + cl_ord_id, exec_id, fill, price)  # an unknown order
        trades.position_changed("BTC-USD", -qty, price, Decimal("1E-8"))

    records = _records(run)
    builder = EntryBuilder(redactor)
    seen = 0
    for record, trade in _trades(records):
        written = builder.build(record)["trade"]
        general = clean_value(trade, redactor)
        assert orjson.dumps(written) == orjson.dumps(general)
        seen += 1
    assert seen >= 9  # every event and the violations' entries


@settings(max_examples=300, deadline=None)
@given(
    redactor=_REDACTORS,
    alphabet=st.sampled_from(
        ["0123456789-:.TZ", "0123456789", "0123456789:tz", "abc=:", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"]
    ),
    data=st.data(),
)
def test_an_alphabet_the_redactor_leaves_alone_is_left_alone(
    redactor: Redactor, alphabet: str, data: st.DataObject
) -> None:
    texts = data.draw(st.lists(st.text(alphabet=alphabet, max_size=40), max_size=10))
    if redactor.leaves_alone(alphabet):
        for text in texts:
            assert redactor.redact_text(text) == text


def test_the_default_redactor_leaves_tapelog_times_alone() -> None:
    """What makes the own path cheap in the usual configuration (and its limits)."""
    assert Redactor().leaves_alone("0123456789-:.TZ")
    assert not Redactor(patterns=[r"\d"]).leaves_alone("0123456789-:.TZ")
    assert not Redactor(keys=["t"]).leaves_alone("0123456789-:.TZ")
    assert Redactor(enabled=False).leaves_alone("0123456789-:.TZ")
    # Why a key spelled in the alphabet counts: text of it can be a pair the rules redact.
    assert Redactor(keys=["t"]).redact_text("T:1") == "T:[REDACTED]"
