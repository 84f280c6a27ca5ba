"""``TradeLogger``: typed, validated order events with the order's state computed.

Every method checks its parameters first. A bad one raises :class:`OrderValidationError`
after logging one ``order.validation_failed`` entry; the order's state is unchanged.
Then the method updates the order's state under the book's lock and writes one entry
whose ``trade`` object holds the FIX facts, ``cum_qty``, ``leaves_qty``, ``avg_px``,
``ord_status`` and ``exec_type`` included. A lifecycle anomaly (an unknown order, a fill
after the end, an overfill, a repeated ``exec_id``) never raises: the event is written as
given, followed by one ``order.lifecycle_violation`` entry at error level naming the rule.

The two frequent events (``order_placed``, ``order_filled``) hand the worker a tuple of
the facts and the order's state as it is after the event (a deferred message): the
message, the ``trade`` object, the average price and every Decimal's text are made on the
worker. The rarer ones build their object on the caller, as a lifecycle violation does.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from time import time_ns
from typing import TYPE_CHECKING, Final, cast, final

from tapelog._event import DEFERRED, deferrable, finish_deferred
from tapelog._levels import ERROR, INFO, WARNING
from tapelog.trading._fix import FIX_CODES
from tapelog.trading._orders import (
    EXACT,
    LIVE_STATUSES,
    STATE,
    ZERO,
    Filling,
    Head,
    OrderBook,
    Packed,
    average,
    head_object,
    leaves,
)
from tapelog.trading._values import (
    OrderValidationError,
    currency_of,
    decimal_of,
    enum_of,
    text_of,
    time_of,
)


if TYPE_CHECKING:
    from collections.abc import Mapping

    from tapelog._event import Pairs
    from tapelog._logger import Logger

    Finished = tuple[str, "Mapping[str, object] | None"]


__all__ = ["TradeLogger", "get_trade_logger"]

_DEPTH: Final = 2  # frames from the user's call to Logger._emit: method -> _write -> _emit
_NEEDS_PRICE: Final = frozenset({"limit", "stop_limit"})
# The names as FIX writes them, the usual input: a lookup instead of a call (anything else,
# an unhashable value included, goes to enum_of, which explains).
_SIDES: Final = frozenset(FIX_CODES["side"])
_ORD_TYPES: Final = frozenset(FIX_CODES["ord_type"])
_TIMES_IN_FORCE: Final = frozenset(FIX_CODES["time_in_force"])
_NEEDS_STOP: Final = frozenset({"stop", "stop_limit"})

#: The call fields of a deferred event when the caller gave none: constant pairs, so the
#: record holds no dict and the garbage collector stops tracking it (its meta is None:
#: the ``trade`` object comes with the deferred message, and that marks it never shed).
_PLACED_FIELDS: Final[Pairs] = (("event", "order.placed"),)
_FILLED_FIELDS: Final[Pairs] = (("event", "order.filled"),)
_PARTIAL_FIELDS: Final[Pairs] = (("event", "order.partially_filled"),)

_books: dict[str, OrderBook] = {}
_books_lock = threading.Lock()

Violation = tuple[str, str]


def _missing(param: str, ord_type: str) -> None:
    raise OrderValidationError(param, f"given for a {ord_type} order", None)


def _called(scope: Mapping[str, object], *params: str) -> dict[str, object]:
    """The parameters a refused call was given, by name, from the method's ``locals()``."""
    return {param: scope[param] for param in params}


def _shown(value: object) -> object:
    """A parameter as the validation entry shows it: text as is, anything else as repr."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    return repr(value)


def _with_trade(
    meta: Mapping[str, object] | None, trade: dict[str, object]
) -> Mapping[str, object]:
    """The record's meta with the finished ``trade`` object in place."""
    return {**meta, "trade": trade} if meta else {"trade": trade}


def _close(
    trade: dict[str, object],
    when: str | int,
    currency: str | None = None,
    text: str | None = None,
    lossy: bool = False,
) -> dict[str, object]:
    """Add ``currency``, ``transact_time``, ``text`` and ``lossy_input`` (when set)."""
    if currency is not None:
        trade["currency"] = currency
    trade["transact_time"] = when if type(when) is str else time_of("transact_time", when, 0)
    if text is not None:
        trade["text"] = text
    if lossy:
        trade["lossy_input"] = True
    return trade


def _finish_placed(message: tuple[object, ...], meta: Mapping[str, object] | None) -> Finished:
    """``order.placed``'s message and ``trade`` object, on the worker.

    The facts: (head, currency, when, text, lossy, _PLACED, DEFERRED).
    """
    head, currency, when, text, lossy, _, _ = cast(
        "tuple[Head, str | None, str | int, str | None, bool, int, object]", message
    )
    trade = head_object(head)
    qty, px = head[7], head[8]
    trade["exec_type"] = "new"
    trade["ord_status"] = "new"
    trade["cum_qty"] = ZERO
    trade["leaves_qty"] = qty
    trade["avg_px"] = ZERO
    _close(trade, when, currency, text, lossy)
    at = f" @ {format(px, 'f')}" if px is not None else ""
    text = f"order {head[0]} placed: {head[4]} {format(qty, 'f')} {head[3]}{at}"
    return text, _with_trade(meta, trade)


_PLACED: Final = deferrable(_finish_placed)


def _finish_fill(message: tuple[object, ...], meta: Mapping[str, object] | None) -> Finished:
    """``order.filled`` / ``order.partially_filled``, from a fill's message (``Filling``)."""
    return _fill_entry(message, meta, duplicate=False)


def _finish_repeated(message: tuple[object, ...], meta: Mapping[str, object] | None) -> Finished:
    """The same for a fill whose ``exec_id`` the order had (``duplicate``: not counted)."""
    return _fill_entry(message, meta, duplicate=True)


def _fill_entry(
    message: tuple[object, ...], meta: Mapping[str, object] | None, *, duplicate: bool
) -> Finished:
    (
        head,
        order_currency,
        cum_qty,
        notional,
        status,
        _,
        _,
        _,
        cl_ord_id,
        exec_id,
        qty,
        px,
        commission,
        currency,
        last_mkt,
        when,
        lossy,
        _,
        _,
    ) = cast("Filling", message)
    if head is None or cum_qty is None or notional is None or status is None:
        # an unknown order: the fill as given
        status = "filled"
        trade: dict[str, object] = {"cl_ord_id": cl_ord_id, "exec_id": exec_id}
        trade["exec_type"] = "trade"
        trade["last_qty"] = qty
        trade["last_px"] = px
        trade["cum_qty"] = qty
        trade["leaves_qty"] = ZERO
        trade["avg_px"] = px
        verb = "filled"
    else:
        trade = head_object(head)
        trade["exec_id"] = exec_id
        trade["exec_type"] = "trade"
        trade["ord_status"] = status
        trade["last_qty"] = qty
        trade["last_px"] = px
        trade["cum_qty"] = cum_qty
        trade["leaves_qty"] = leaves(head[7], cum_qty, status in LIVE_STATUSES)
        trade["avg_px"] = average(notional, cum_qty)
        if order_currency is not None:
            trade["currency"] = order_currency
        if duplicate:
            trade["duplicate"] = True
        verb = "filled" if status == "filled" else "partially filled"
    if commission is not None:
        trade["commission"] = commission
    if currency is not None:
        trade["currency"] = currency
    if last_mkt is not None:
        trade["last_mkt"] = last_mkt
    _close(trade, when, lossy=lossy)
    message_text = f"order {cl_ord_id} {verb}: {format(qty, 'f')} @ {format(px, 'f')}"
    return message_text, _with_trade(meta, trade)


_FILLED: Final = deferrable(_finish_fill)
_REPEATED: Final = deferrable(_finish_repeated)


def _fill_message(  # noqa: PLR0917 - a fill's facts, in its message's order
    order: Packed | None,
    cl_ord_id: str,
    exec_id: str,
    qty: Decimal,
    px: Decimal,
    commission: Decimal | None,
    currency: str | None,
    last_mkt: str | None,
    when: str | int,
    lossy: bool,
) -> Filling:
    """The message of a fill the table did not apply: an unknown order, a repeated exec_id."""
    state = (None, None, None, None, None, None, None, None) if order is None else order[:STATE]
    message = (
        *state,
        cl_ord_id,
        exec_id,
        qty,
        px,
        commission,
        currency,
        last_mkt,
        when,
        lossy,
        _FILLED if order is None else _REPEATED,
        DEFERRED,
    )
    return cast("Filling", message)


def _trade_of(facts: tuple[object, ...]) -> dict[str, object]:
    """The ``trade`` object of a deferred event, made now (for a violation's context)."""
    _, meta = finish_deferred(facts, None)
    return cast("dict[str, object]", (meta or {})["trade"])


def get_trade_logger(
    name: str = "trading",
    *,
    allow_float: bool = False,
    allow_negative_price: bool = False,
    terminal_ttl: float | None = None,
    max_orders: int | None = None,
    **bound: object,
) -> TradeLogger:
    """Return a trade logger writing through the logger ``name`` with ``bound`` fields.

    Trade loggers of one name share one table of orders, so an order placed through one
    can be filled through another.

    Args:
        name: the logger name (``trading`` by default).
        allow_float: accept floats for quantities and prices, converted through their
            shortest ``repr``; each entry built from one says ``lossy_input: true``.
            Without it a float raises :class:`OrderValidationError`.
        allow_negative_price: accept prices below zero (FIX allows them for some
            instruments, such as spreads).
        terminal_ttl: seconds a finished order stays known (default 300).
        max_orders: the most orders the table holds (default 100 000); past it the
            oldest finished, else the oldest live, order is evicted and counted.
        bound: fields bound to every entry.

    Raises:
        ValueError: ``terminal_ttl`` is negative or ``max_orders`` is below 1.
    """
    import tapelog

    with _books_lock:
        book = _books.get(name)
        if book is None:
            book = _books[name] = OrderBook(
                300.0 if terminal_ttl is None else terminal_ttl,
                100_000 if max_orders is None else max_orders,
            )
        else:
            if terminal_ttl is not None:
                if terminal_ttl < 0:
                    raise ValueError(f"terminal_ttl must be at least 0, got {terminal_ttl!r}")
                book.terminal_ttl = terminal_ttl
            if max_orders is not None:
                if max_orders < 1:
                    raise ValueError(f"max_orders must be at least 1, got {max_orders!r}")
                book.max_orders = max_orders
    return TradeLogger(
        tapelog.get_logger(name, **bound),
        book,
        allow_float=allow_float,
        allow_negative_price=allow_negative_price,
    )


@final
class TradeLogger:
    """Logs order events with FIX names; keeps each order's state. Thread-safe.

    Get one with :func:`get_trade_logger`. Quantities and prices are ``Decimal``,
    ``int`` or decimal text (``"101.25"``); ids are non-empty strings; enumerations take
    the lowercase FIX name (``"sell"``) or the FIX code (``"2"``).
    """

    __slots__ = ("_book", "_log", "allow_float", "allow_negative_price")

    def __init__(
        self,
        logger: Logger,
        book: OrderBook,
        *,
        allow_float: bool = False,
        allow_negative_price: bool = False,
    ) -> None:
        self._log = logger
        self._book = book
        self.allow_float = allow_float
        self.allow_negative_price = allow_negative_price

    @property
    def name(self) -> str:
        """The logger name entries are written under."""
        return self._log.name

    def bind(self, **fields: object) -> TradeLogger:
        """A copy with more bound fields, sharing this logger's orders and options."""
        return TradeLogger(
            self._log.bind(**fields),
            self._book,
            allow_float=self.allow_float,
            allow_negative_price=self.allow_negative_price,
        )

    def order(self, cl_ord_id: str) -> dict[str, object] | None:
        """The order known by ``cl_ord_id`` now, as a ``trade`` object (Decimals kept)."""
        with self._book.lock:
            state = self._book.get(cl_ord_id)
            return None if state is None else state.snapshot()

    def order_stats(self) -> dict[str, int]:
        """``orders``, ``live``, ``terminal`` now; ``expired`` and ``evicted`` so far."""
        return self._book.stats()

    # -- writing -----------------------------------------------------------------------

    def _write(  # noqa: PLR0917 - internal: every event's one way out
        self,
        level: int,
        message: str | tuple[object, ...],
        event: str,
        trade: dict[str, object] | None,
        fields: dict[str, object],
        violations: list[Violation] | None = None,
    ) -> None:
        """Log one event, then one entry per lifecycle violation it showed.

        A deferred message brings its ``trade`` object along (``trade`` is None).
        """
        if self._log._core.level <= level:  # pyright: ignore[reportPrivateUsage]
            fields["event"] = event
            domain = None if trade is None else {"trade": trade}
            self._log._emit(  # pyright: ignore[reportPrivateUsage]
                level, cast("str", message), fields, domain, _DEPTH
            )
        if violations:
            context = trade if trade is not None else _trade_of(cast("tuple[object, ...]", message))
            self._violations(violations, context)

    def _violations(self, violations: list[Violation], trade: Mapping[str, object]) -> None:
        for rule, detail in violations:
            context: dict[str, object] = {
                key: trade[key]
                for key in ("cl_ord_id", "orig_cl_ord_id", "exec_id", "symbol", "ord_status")
                if key in trade
            }
            message = f"order {trade.get('cl_ord_id', '?')}: {rule}: {detail}"
            self._write(
                ERROR,
                message,
                "order.lifecycle_violation",
                context,
                {"violation": {"rule": rule, "detail": detail}},
            )

    def _invalid(
        self,
        method: str,
        error: OrderValidationError,
        call: dict[str, object],
        fields: dict[str, object],
    ) -> OrderValidationError:
        """Log one ``order.validation_failed`` entry; return the error to raise."""
        trade: dict[str, object] = {}
        for key in ("cl_ord_id", "orig_cl_ord_id", "symbol"):
            value = call.get(key)
            if isinstance(value, str) and value:
                trade[key] = value
        fields["validation"] = {
            "param": error.param,
            "rule": error.rule,
            "value": _shown(error.value),
        }
        fields["call"] = {
            "method": method,
            **{key: _shown(value) for key, value in call.items() if value is not None},
        }
        who = call.get("cl_ord_id") or call.get("symbol") or "?"
        message = f"invalid {method} for {who}: {error}"
        self._write(WARNING, message, "order.validation_failed", trade, fields)
        return error

    # Each returns the value and whether any value of the call so far came from a float.

    def _quantity(self, param: str, value: object, lossy: bool = False) -> tuple[Decimal, bool]:
        number, inexact = decimal_of(param, value, allow_float=self.allow_float, positive=True)
        return number, lossy or inexact

    def _price(self, param: str, value: object, lossy: bool = False) -> tuple[Decimal, bool]:
        number, inexact = decimal_of(
            param,
            value,
            allow_float=self.allow_float,
            positive=True,
            negative_ok=self.allow_negative_price,
        )
        return number, lossy or inexact

    def _signed(self, param: str, value: object, lossy: bool = False) -> tuple[Decimal, bool]:
        number, inexact = decimal_of(
            param, value, allow_float=self.allow_float, positive=False, negative_ok=True
        )
        return number, lossy or inexact

    # -- events ------------------------------------------------------------------------

    def order_placed(  # noqa: PLR0917 - one check per parameter; FIX order of arguments
        self,
        cl_ord_id: str,
        symbol: str,
        side: str,
        order_qty: Decimal | int | str,
        price: Decimal | int | str | None = None,
        ord_type: str = "limit",
        time_in_force: str = "day",
        *,
        order_id: str | None = None,
        stop_px: Decimal | int | str | None = None,
        account: str | None = None,
        currency: str | None = None,
        transact_time: object = None,
        text: str | None = None,
        **fields: object,
    ) -> None:
        """A new order: ``order.placed`` (``exec_type`` new, ``ord_status`` new).

        Raises:
            OrderValidationError: an empty id or symbol, an unknown side, ord_type or
                time_in_force, a quantity not above 0, a missing price for a limit order
                (or stop price for a stop order), a float without ``allow_float``.
        """
        now = time_ns()
        lossy = False
        try:
            # Non-empty text is the usual input: tested here, the call only explains.
            if not (type(cl_ord_id) is str and cl_ord_id):
                text_of("cl_ord_id", cl_ord_id)
            if not (type(symbol) is str and symbol):
                text_of("symbol", symbol)
            # A name as FIX writes it is the usual case: one lookup, not a call.
            side_name = side if type(side) is str and side in _SIDES else enum_of("side", side)
            type_name = (
                ord_type
                if type(ord_type) is str and ord_type in _ORD_TYPES
                else enum_of("ord_type", ord_type)
            )
            tif_name = (
                time_in_force
                if type(time_in_force) is str and time_in_force in _TIMES_IN_FORCE
                else enum_of("time_in_force", time_in_force)
            )
            # A finite Decimal in range is the usual input: checked here, not by a call.
            if type(order_qty) is Decimal and order_qty.is_finite() and order_qty > ZERO:
                qty = order_qty
            else:
                qty, lossy = self._quantity("order_qty", order_qty)
            px: Decimal | None = None
            if price is not None:
                if (
                    type(price) is Decimal
                    and price.is_finite()
                    and (price > ZERO or self.allow_negative_price)
                ):
                    px = price
                else:
                    px, lossy = self._price("price", price, lossy)
            elif type_name in _NEEDS_PRICE:
                _missing("price", type_name)
            stop: Decimal | None = None
            if stop_px is not None:
                stop, lossy = self._price("stop_px", stop_px, lossy)
            elif type_name in _NEEDS_STOP:
                _missing("stop_px", type_name)
            if order_id is not None:
                text_of("order_id", order_id)
            if account is not None:
                text_of("account", account)
            cur = currency_of(currency) if currency is not None else None
            when = now if transact_time is None else time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(
                locals(),
                "cl_ord_id",
                "symbol",
                "side",
                "order_qty",
                "price",
                "ord_type",
                "time_in_force",
                "stop_px",
            )
            raise self._invalid("order_placed", exc, call, fields) from None
        head: Head = (
            cl_ord_id,
            None,
            order_id,
            symbol,
            side_name,
            type_name,
            tif_name,
            qty,
            px,
            stop,
            account,
        )
        was = self._book.place(cl_ord_id, head, cur)
        facts = (head, cur, when, text, lossy, _PLACED, DEFERRED)
        log = self._log
        if log._core.level <= INFO:  # pyright: ignore[reportPrivateUsage]
            if fields:
                fields["event"] = "order.placed"
            # The deferred message goes where the text would (no typing.cast: a call).
            log._emit(INFO, facts, fields or _PLACED_FIELDS, None, when=now)  # pyright: ignore[reportPrivateUsage, reportArgumentType]
        if was is not None:
            duplicate = ("duplicate_cl_ord_id", f"{cl_ord_id} is already an order ({was})")
            self._violations([duplicate], _trade_of(facts))

    def order_filled(  # noqa: PLR0917 - one check per parameter; FIX order of arguments
        self,
        cl_ord_id: str,
        exec_id: str,
        last_qty: Decimal | int | str,
        last_px: Decimal | int | str,
        commission: Decimal | int | str | None = None,
        currency: str | None = None,
        transact_time: object = None,
        *,
        last_mkt: str | None = None,
        **fields: object,
    ) -> None:
        """An execution: ``order.partially_filled`` or ``order.filled`` (``exec_type`` trade).

        ``cum_qty``, ``leaves_qty``, ``avg_px`` (volume-weighted) and ``ord_status`` come
        from the order's fills so far.

        Raises:
            OrderValidationError: an empty id, a quantity or price not above 0, a float
                without ``allow_float``, a currency not of three capital letters.
        """
        now = time_ns()
        try:
            # Non-empty text is the usual input: tested here, the call only explains.
            if not (type(cl_ord_id) is str and cl_ord_id):
                text_of("cl_ord_id", cl_ord_id)
            if not (type(exec_id) is str and exec_id):
                text_of("exec_id", exec_id)
            # A finite Decimal in range is the usual input: checked here, not by a call.
            lossy = False
            if type(last_qty) is Decimal and last_qty.is_finite() and last_qty > ZERO:
                qty = last_qty
            else:
                qty, lossy = self._quantity("last_qty", last_qty)
            if (
                type(last_px) is Decimal
                and last_px.is_finite()
                and (last_px > ZERO or self.allow_negative_price)
            ):
                px = last_px
            else:
                px, lossy = self._price("last_px", last_px, lossy)
            comm: Decimal | None = None
            if commission is not None:
                comm, lossy = self._signed("commission", commission, lossy)
            cur = currency_of(currency) if currency is not None else None
            when = now if transact_time is None else time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(
                locals(), "cl_ord_id", "exec_id", "last_qty", "last_px", "commission", "currency"
            )
            raise self._invalid("order_filled", exc, call, fields) from None
        violations: list[Violation] | None = None
        # The fill's message: for a fill the table applies, the order's new tuple itself.
        order, duplicate, was = self._book.fill(
            cl_ord_id, exec_id, qty, px, comm, cur, last_mkt, when, lossy, _FILLED
        )
        if order is None:
            violations = [("unknown_order", f"no order {cl_ord_id} is known")]
            status = "filled"
            facts = _fill_message(
                None, cl_ord_id, exec_id, qty, px, comm, cur, last_mkt, when, lossy
            )
        else:
            status = order[4]
            if duplicate:
                violations = [
                    ("duplicate_exec_id", f"{exec_id} was already applied; not counted again")
                ]
                facts = _fill_message(
                    order, cl_ord_id, exec_id, qty, px, comm, cur, last_mkt, when, lossy
                )
            else:
                facts = order
                if was not in LIVE_STATUSES:
                    violations = [("fill_after_terminal", f"the order was already {was}")]
                order_qty = order[0][7]
                if order[2] > order_qty:
                    over = format(EXACT.subtract(order[2], order_qty), "f")
                    detail = f"cum_qty exceeds order_qty {format(order_qty, 'f')} by {over}"
                    violations = [*(violations or ()), ("overfill", detail)]
        log = self._log
        if log._core.level <= INFO:  # pyright: ignore[reportPrivateUsage]
            if fields:
                fields["event"] = "order.filled" if status == "filled" else "order.partially_filled"
                pairs: dict[str, object] | Pairs = fields
            else:
                pairs = _FILLED_FIELDS if status == "filled" else _PARTIAL_FIELDS
            log._emit(INFO, facts, pairs, None, when=now)  # pyright: ignore[reportPrivateUsage, reportArgumentType]
        if violations:
            self._violations(violations, _trade_of(facts))

    def _end(
        self,
        cl_ord_id: str,
        status: str,
        reason: str | None,
        extra: dict[str, object] | None = None,
    ) -> tuple[dict[str, object], list[Violation]]:
        """Cancel, expire or reject: the order ends with ``leaves_qty`` 0."""
        violations: list[Violation] = []
        book = self._book
        with book.lock:
            state = book.get(cl_ord_id)
            if state is None:
                trade: dict[str, object] = {"cl_ord_id": cl_ord_id}
                trade["exec_type"] = status
                trade["ord_status"] = status
                trade["cum_qty"] = ZERO
                trade["leaves_qty"] = ZERO
                if status != "rejected":  # a venue may reject an order never placed here
                    violations.append(("unknown_order", f"no order {cl_ord_id} is known"))
            elif state.terminal:
                violations.append(
                    (f"{status}_after_terminal", f"the order was already {state.ord_status}")
                )
                trade = state.snapshot()
                trade = {**trade, "exec_type": status}
            elif status == "rejected" and state.cum_qty > 0:
                violations.append(("reject_after_fill", "the order has fills; it stays as it is"))
                trade = {**state.snapshot(), "exec_type": status}
            else:
                open_qty = state.leaves_qty
                state.ord_status = status
                book.ended(state)
                book.save(state)
                trade = state.snapshot(status, None if status == "rejected" else open_qty)
        if reason is not None:
            trade["text"] = reason
        if extra:
            trade.update(extra)
        return trade, violations

    def order_canceled(
        self,
        cl_ord_id: str,
        reason: str | None = None,
        *,
        transact_time: object = None,
        **fields: object,
    ) -> None:
        """The order was canceled: ``order.canceled``.

        The entry has ``text`` (the reason), ``cxl_qty`` (what was still open) and
        ``leaves_qty`` 0.

        Raises:
            OrderValidationError: an empty id, a reason that is not a string.
        """
        now = time_ns()
        try:
            text_of("cl_ord_id", cl_ord_id)
            if reason is not None:
                text_of("reason", reason)
            when = time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(locals(), "cl_ord_id", "reason")
            raise self._invalid("order_canceled", exc, call, fields) from None
        trade, violations = self._end(cl_ord_id, "canceled", reason)
        trade["transact_time"] = when
        left = trade.get("cxl_qty", ZERO)
        shown = format(left, "f") if isinstance(left, Decimal) else str(left)
        because = f": {reason}" if reason else ""
        message = f"order {cl_ord_id} canceled, {shown} open{because}"
        self._write(INFO, message, "order.canceled", trade, fields, violations)

    def order_expired(
        self, cl_ord_id: str, *, transact_time: object = None, **fields: object
    ) -> None:
        """The order expired (its time in force ran out): ``order.expired``, ``leaves_qty`` 0.

        Raises:
            OrderValidationError: an empty id.
        """
        now = time_ns()
        try:
            text_of("cl_ord_id", cl_ord_id)
            when = time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(locals(), "cl_ord_id")
            raise self._invalid("order_expired", exc, call, fields) from None
        trade, violations = self._end(cl_ord_id, "expired", None)
        trade["transact_time"] = when
        self._write(INFO, f"order {cl_ord_id} expired", "order.expired", trade, fields, violations)

    def order_rejected(
        self,
        cl_ord_id: str,
        reason: str,
        ord_rej_reason: str | int | None = None,
        *,
        transact_time: object = None,
        **fields: object,
    ) -> None:
        """The venue or a risk check refused the order: ``order.rejected`` (warning).

        ``reason`` is written as ``text``; ``ord_rej_reason`` takes a FIX name
        (``unknown_symbol``) or code (``1``). A reject for an order never placed through
        this logger is written without a violation (a pre-trade refusal).

        Raises:
            OrderValidationError: an empty id or reason, an unknown ``ord_rej_reason``.
        """
        now = time_ns()
        try:
            text_of("cl_ord_id", cl_ord_id)
            text_of("reason", reason)
            code = enum_of("ord_rej_reason", ord_rej_reason) if ord_rej_reason is not None else None
            when = time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(locals(), "cl_ord_id", "reason", "ord_rej_reason")
            raise self._invalid("order_rejected", exc, call, fields) from None
        extra: dict[str, object] = {"ord_rej_reason": code} if code is not None else {}
        trade, violations = self._end(cl_ord_id, "rejected", reason, extra)
        trade["transact_time"] = when
        message = f"order {cl_ord_id} rejected: {reason}"
        self._write(WARNING, message, "order.rejected", trade, fields, violations)

    def order_replaced(
        self,
        cl_ord_id: str,
        orig_cl_ord_id: str,
        order_qty: Decimal | int | str | None = None,
        price: Decimal | int | str | None = None,
        *,
        transact_time: object = None,
        **fields: object,
    ) -> None:
        """The order ``orig_cl_ord_id`` goes on as ``cl_ord_id``: ``order.replaced``.

        A new quantity or price may come with it; fills already made stay with it.

        Raises:
            OrderValidationError: an empty id, a quantity or price not above 0.
        """
        now = time_ns()
        lossy = False
        try:
            text_of("cl_ord_id", cl_ord_id)
            text_of("orig_cl_ord_id", orig_cl_ord_id)
            qty: Decimal | None = None
            if order_qty is not None:
                qty, lossy = self._quantity("order_qty", order_qty)
            px: Decimal | None = None
            if price is not None:
                px, lossy = self._price("price", price, lossy)
            when = time_of("transact_time", transact_time, now)
        except OrderValidationError as exc:
            call = _called(locals(), "cl_ord_id", "orig_cl_ord_id", "order_qty", "price")
            raise self._invalid("order_replaced", exc, call, fields) from None
        violations: list[Violation] = []
        book = self._book
        with book.lock:
            state = book.get(orig_cl_ord_id)
            clash = book.get(cl_ord_id) if cl_ord_id != orig_cl_ord_id else None
            if clash is not None and (state is None or clash.number != state.number):
                violations.append(
                    ("duplicate_cl_ord_id", f"{cl_ord_id} is already an order ({clash.ord_status})")
                )
            if state is None:
                violations.append(("unknown_order", f"no order {orig_cl_ord_id} is known"))
                trade: dict[str, object] = {
                    "cl_ord_id": cl_ord_id,
                    "orig_cl_ord_id": orig_cl_ord_id,
                    "exec_type": "replaced",
                }
                if qty is not None:
                    trade["order_qty"] = qty
                if px is not None:
                    trade["price"] = px
            elif state.terminal:
                violations.append(
                    ("replace_after_terminal", f"the order was already {state.ord_status}")
                )
                trade = {**state.snapshot(), "exec_type": "replaced"}
            else:
                if qty is not None and qty < state.cum_qty:
                    below = f"order_qty {format(qty, 'f')} is below cum_qty"
                    violations.append(
                        ("replace_below_filled", f"{below} {format(state.cum_qty, 'f')}")
                    )
                state.replaced(cl_ord_id, orig_cl_ord_id, qty, px)
                if state.cum_qty >= state.order_qty:
                    state.ord_status = "filled"
                    book.ended(state)
                book.add(cl_ord_id, state)  # the old ids still find it, for late fills
                book.save(state)
                trade = state.snapshot("replaced")
        trade["transact_time"] = when
        if lossy:
            trade["lossy_input"] = True
        message = f"order {orig_cl_ord_id} replaced by {cl_ord_id}"
        self._write(INFO, message, "order.replaced", trade, fields, violations)

    def position_changed(
        self,
        symbol: str,
        qty: Decimal | int | str,
        avg_px: Decimal | int | str,
        realized_pnl: Decimal | int | str | None = None,
        **fields: object,
    ) -> None:
        """A position's new size: ``position.changed``.

        The entry has ``position_qty`` (negative when short), ``avg_px`` and
        ``realized_pnl``.

        Raises:
            OrderValidationError: an empty symbol, a value that is not a finite decimal.
        """
        try:
            text_of("symbol", symbol)
            position, lossy = self._signed("qty", qty)
            average, inexact = decimal_of(
                "avg_px",
                avg_px,
                allow_float=self.allow_float,
                positive=False,
                negative_ok=self.allow_negative_price,
            )
            lossy = lossy or inexact
            pnl: Decimal | None = None
            if realized_pnl is not None:
                pnl, lossy = self._signed("realized_pnl", realized_pnl, lossy)
        except OrderValidationError as exc:
            call = _called(locals(), "symbol", "qty", "avg_px", "realized_pnl")
            raise self._invalid("position_changed", exc, call, fields) from None
        trade: dict[str, object] = {"symbol": symbol, "position_qty": position, "avg_px": average}
        if pnl is not None:
            trade["realized_pnl"] = pnl
        if lossy:
            trade["lossy_input"] = True
        message = f"position {symbol}: {format(position, 'f')} @ {format(average, 'f')}"
        self._write(INFO, message, "position.changed", trade, fields)
