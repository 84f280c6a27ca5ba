"""The trade logger's memory: one state per order, in a bounded table.

Terminal orders (filled, canceled, rejected, expired) stay for ``terminal_ttl`` seconds,
so late events for them are recognised as such, then leave. The table never holds more
than ``max_orders`` orders: past that, the order that turned terminal first goes, else
the oldest live one, and ``evicted`` counts them.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal
from typing import TYPE_CHECKING, Final, cast, final

from tapelog._event import DEFERRED


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "AVG",
    "EXACT",
    "HEAD_KEYS",
    "LIVE_STATUSES",
    "STATE",
    "ZERO",
    "Filling",
    "Head",
    "OrderBook",
    "OrderState",
    "Packed",
    "average",
    "head_object",
    "leaves",
]

#: Sums and products of quantities and prices: never rounded, whatever the digits or the
#: exponents (the greatest precision and exponent range there are; a result holds only
#: the digits it needs). The user's thread context is never read nor changed.
EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
_add: Final = EXACT.add  # bound once: every fill calls it
#: The average price: exact when the quotient ends within 34 digits, else rounded half-even.
AVG: Final = Context(prec=34, rounding=ROUND_HALF_EVEN, Emax=MAX_EMAX, Emin=MIN_EMIN)
ZERO: Final = Decimal(0)

LIVE_STATUSES: Final = frozenset({"pending_new", "new", "partially_filled"})
#: The fills' ``exec_id``s are kept in a tuple (which the garbage collector stops tracking,
#: so a table of many orders costs its collections nothing) up to this many, then a set.
SEEN_IN_TUPLE: Final = 16


# The order's standing facts, as the ``trade`` object shows them, in this order; the
# optional ones (None) are left out. A tuple, so an event can carry it to the worker.
HEAD_KEYS: Final = (
    "cl_ord_id",
    "orig_cl_ord_id",
    "order_id",
    "symbol",
    "side",
    "ord_type",
    "time_in_force",
    "order_qty",
    "price",
    "stop_px",
    "account",
)
Head = tuple[
    str,
    str | None,
    str | None,
    str,
    str,
    str,
    str,
    Decimal,
    "Decimal | None",
    "Decimal | None",
    str | None,
]


def head_object(head: Head) -> dict[str, object]:
    """The ``trade`` object's first keys, from a head tuple (``HEAD_KEYS``, None left out).

    Written out: every trade entry starts here, on the worker, and this is a third of
    what a loop over ``zip(HEAD_KEYS, head)`` costs.
    """
    cl_ord_id, orig, order_id, symbol, side, ord_type, tif, qty, px, stop_px, account = head
    trade: dict[str, object] = {"cl_ord_id": cl_ord_id}
    if orig is not None:
        trade["orig_cl_ord_id"] = orig
    if order_id is not None:
        trade["order_id"] = order_id
    trade["symbol"] = symbol
    trade["side"] = side
    trade["ord_type"] = ord_type
    trade["time_in_force"] = tif
    trade["order_qty"] = qty
    if px is not None:
        trade["price"] = px
    if stop_px is not None:
        trade["stop_px"] = stop_px
    if account is not None:
        trade["account"] = account
    return trade


def average(notional: Decimal, cum_qty: Decimal) -> Decimal:
    """The volume-weighted average price: exact within 34 digits, else half-even."""
    return AVG.divide(notional, cum_qty) if cum_qty else ZERO


def leaves(order_qty: Decimal, cum_qty: Decimal, live: bool) -> Decimal:
    """What is still open: ``order_qty - cum_qty`` while live, 0 once terminal."""
    if not live:
        return ZERO
    return max(EXACT.subtract(order_qty, cum_qty), ZERO)


Seen = str | tuple[str, ...] | set[str]
"""The fills' exec_ids: none (``()``), the one so far (a ``str``: no tuple inside the
order's tuple, which the collector then untracks at once), a tuple while few, then a set."""


# The order as the table keeps it: an exact tuple of immutable values (the fills' ids in
# a tuple while few), which the garbage collector stops tracking, so a table of many
# orders costs no collection anything; an event replaces it whole. The same tuple object
# is stored under each of the order's ids. After a fill, the tuple goes on with the fill's
# facts and the markers of a deferred message (``Filling``): it is the fill's message too.
Packed = tuple[
    Head,  # the standing facts
    "str | None",  # currency
    Decimal,  # cum_qty
    Decimal,  # notional: the sum of qty * px
    str,  # ord_status
    "Seen",  # the fills' exec_ids
    tuple[str, ...],  # the ids it is known by: the first, then each replacement's
    int,  # its number in the book, the same under all its ids
]
_STATUS: Final = 4
_IDS: Final = 6
_NUMBER: Final = 7
STATE: Final = 8  # the items of ``Packed``; a filled order's tuple has more

# A fill's message: the order's state after it (``Packed``; all None for an unknown
# order), then the fill's facts, then the deferred message's markers
# (``tapelog._event.DEFERRED``, last). For a fill the table applies, this very tuple is
# what the table keeps: referenced by the table (an old object), it is seen by the
# collector's first young collection before the record that holds it, so the collector
# stops tracking both in that collection, where a tuple of facts only the record held
# kept the record tracked into an older generation. 19 items: CPython keeps freed tuples
# of up to 19 items for reuse, a longer one costs the allocator every time.
Filling = tuple[
    "Head | None",
    "str | None",  # the order's currency
    "Decimal | None",  # cum_qty
    "Decimal | None",  # notional
    "str | None",  # ord_status
    object,  # the fills' exec_ids
    object,  # the order's ids
    "int | None",  # its number
    str,  # cl_ord_id as called
    str,  # exec_id
    Decimal,  # last_qty
    Decimal,  # last_px
    "Decimal | None",  # commission
    "str | None",  # currency as called
    "str | None",  # last_mkt
    "str | int",  # transact_time
    bool,  # lossy input
    int,  # the finisher's number
    object,  # DEFERRED
]


@final
class OrderState:
    """One order as an event reads and changes it (a working copy of the table's tuple).

    Got from :meth:`OrderBook.get` and written back with :meth:`OrderBook.save`, both
    under the book's lock. ``head`` holds the standing facts (``HEAD_KEYS``), rebuilt
    when a replace changes them, so an event hands them to the worker as one tuple.
    ``avg_px`` is derived from ``notional`` and ``cum_qty`` when it is read.
    """

    __slots__ = (
        "cum_qty",
        "currency",
        "exec_ids",
        "head",
        "ids",
        "notional",
        "number",
        "ord_status",
        "order_qty",
    )

    def __init__(self, packed: Packed) -> None:
        (
            self.head,
            self.currency,
            self.cum_qty,
            self.notional,
            self.ord_status,
            self.exec_ids,
            self.ids,
            self.number,
        ) = packed[:STATE]  # a filled order's tuple holds its last fill's facts too
        self.order_qty = self.head[7]

    def pack(self) -> Packed:
        """The tuple the table keeps."""
        return (
            self.head,
            self.currency,
            self.cum_qty,
            self.notional,
            self.ord_status,
            self.exec_ids,
            self.ids,
            self.number,
        )

    @property
    def cl_ord_id(self) -> str:
        """The order's current id."""
        return self.head[0]

    @property
    def orig_cl_ord_id(self) -> str | None:
        """The id it replaced, if any."""
        return self.head[1]

    def replaced(
        self, cl_ord_id: str, orig_cl_ord_id: str, qty: Decimal | None, px: Decimal | None
    ) -> None:
        """The order goes on as ``cl_ord_id``, maybe with a new quantity or price."""
        head = list(self.head)
        head[0] = cl_ord_id
        head[1] = orig_cl_ord_id
        if qty is not None:
            head[7] = self.order_qty = qty
        if px is not None:
            head[8] = px
        self.head = cast("Head", tuple(head))
        if cl_ord_id not in self.ids:
            self.ids = (*self.ids, cl_ord_id)

    @property
    def terminal(self) -> bool:
        """Whether the order is done (filled, canceled, rejected, expired ...)."""
        return self.ord_status not in LIVE_STATUSES

    @property
    def leaves_qty(self) -> Decimal:
        """What is still open: ``order_qty - cum_qty`` while live, 0 once terminal."""
        return leaves(self.order_qty, self.cum_qty, self.ord_status in LIVE_STATUSES)

    @property
    def avg_px(self) -> Decimal:
        """The volume-weighted average price of the fills so far (0 before any)."""
        return average(self.notional, self.cum_qty)

    def snapshot(
        self, exec_type: str | None = None, cxl_qty: Decimal | None = None
    ) -> dict[str, object]:
        """The order now, as a ``trade`` object (Decimals still Decimals).

        ``exec_type`` (after the standing facts) and ``cxl_qty`` (after ``leaves_qty``)
        are added when given: what an event that ends or replaces the order shows.
        """
        trade = head_object(self.head)
        if exec_type is not None:
            trade["exec_type"] = exec_type
        trade["ord_status"] = self.ord_status
        trade["cum_qty"] = self.cum_qty
        trade["leaves_qty"] = self.leaves_qty
        if cxl_qty is not None:
            trade["cxl_qty"] = cxl_qty
        trade["avg_px"] = self.avg_px
        if self.currency is not None:
            trade["currency"] = self.currency
        return trade


def _seen(seen: Seen, exec_id: str) -> Seen:
    """The fills' ids with ``exec_id`` added (it is not among them)."""
    if isinstance(seen, str):
        return (seen, exec_id)
    if isinstance(seen, set):
        seen.add(exec_id)
        return seen
    if not seen:
        return exec_id
    return seen + (exec_id,) if len(seen) < SEEN_IN_TUPLE else {*seen, exec_id}  # noqa: RUF005


# The collector keeps each order table tracked: an object it tracks, under the one key no
# order can have (every method refuses an empty ``cl_ord_id``), first in the table.
#
# Why: every order's tuple is one the collector stops tracking, so a full collection finds
# a table of nothing but untracked values and stops tracking the dict itself (CPython does
# that for such dicts in full collections only). The next new order or fill stores a new
# tuple, which tracks the dict again, as a *young* object: the next young collection then
# walks every order (about 8 to 15 ms at 300,000 orders, on whichever thread allocates,
# mostly the caller's), the one after it (generation 1) again, and the next full one a
# third time, after which it is untracked again. Kept tracked, the table stays where it
# is, with the old objects, and only full collections walk it.
_PIN: Final = cast("Packed", [])
_PINNED: Final = ""  # its key


#: What :meth:`OrderBook.fill` found: the order after the fill (None: unknown; when the
#: fill applied, its message, a ``Filling``), whether the ``exec_id`` was seen before
#: (then nothing changed) and the status before.
Filled = tuple["Packed | None", bool, str]


@final
class OrderBook:
    """Orders by ``cl_ord_id`` (a replaced order answers to all its ids).

    Args:
        terminal_ttl: seconds a terminal order is kept after it ended.
        max_orders: the most ids the table holds.
        clock: monotonic seconds; tests may pass their own.
    """

    def __init__(
        self,
        terminal_ttl: float = 300.0,
        max_orders: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if terminal_ttl < 0:
            raise ValueError(f"terminal_ttl must be at least 0, got {terminal_ttl!r}")
        if max_orders < 1:
            raise ValueError(f"max_orders must be at least 1, got {max_orders!r}")
        self.lock = threading.Lock()
        self.terminal_ttl = terminal_ttl
        self.max_orders = max_orders
        self.clock = clock
        self.orders: dict[str, Packed] = {_PINNED: _PIN}  # see _PIN
        self._ended: deque[tuple[float, str, int]] = deque()
        self._numbers = itertools.count()
        self.evicted = 0
        self.expired = 0

    def get(self, cl_ord_id: str) -> OrderState | None:
        """A working copy of the order known by this id (expired terminal orders gone)."""
        if self._ended:
            self._expire()
        packed = self.orders.get(cl_ord_id)
        return None if packed is None or packed is _PIN else OrderState(packed)

    def save(self, state: OrderState) -> None:
        """Keep ``state`` under each of its ids still known as this order."""
        orders = self.orders
        packed = state.pack()
        number = state.number
        for cl_ord_id in state.ids:
            known = orders.get(cl_ord_id)
            if known is not None and known[_NUMBER] == number:
                orders[cl_ord_id] = packed

    def place(self, cl_ord_id: str, head: Head, currency: str | None) -> str | None:
        """A new order under ``cl_ord_id``; the status of the order it displaces, if any.

        The placement's common path in one call, under the lock.
        """
        lock = self.lock
        lock.acquire()
        try:
            if self._ended:
                self._expire()
            orders = self.orders
            known = orders.pop(cl_ord_id, None)  # a re-used id moves to the young end
            orders[cl_ord_id] = (
                head,
                currency,
                ZERO,
                ZERO,
                "new",
                (),
                (cl_ord_id,),
                next(self._numbers),
            )
            while len(orders) > self.max_orders + 1:  # the orders and the pin
                self._evict_one()
        finally:
            lock.release()
        return None if known is None else known[_STATUS]

    def fill(  # noqa: PLR0917 - the fill's facts ride along into its message
        self,
        cl_ord_id: str,
        exec_id: str,
        qty: Decimal,
        px: Decimal,
        commission: Decimal | None,
        currency: str | None,
        last_mkt: str | None,
        when: str | int,
        lossy: bool,
        finisher: int,
    ) -> Filled:
        """Apply an execution under the lock: a fill's common path in one call.

        A live order becomes ``partially_filled``, or ``filled`` (and ends) once its
        fills reach its quantity; a terminal one keeps its status. A repeated
        ``exec_id`` changes nothing. When the fill applies, the order's new tuple is the
        fill's message (``Filling``, with the fill's facts and ``finisher``).
        """
        lock = self.lock
        lock.acquire()
        try:
            if self._ended:
                self._expire()
            orders = self.orders
            packed = orders.get(cl_ord_id)
            if packed is None:
                return None, False, ""
            head, order_currency, cum_qty, notional, status, seen, ids, number = packed[:STATE]
            if exec_id == seen if type(seen) is str else exec_id in seen:
                return packed, True, status
            cum_qty = _add(cum_qty, qty)
            after: Filling = (
                head,
                order_currency,
                cum_qty,
                qty.fma(px, notional, EXACT),  # fused, exact: as add(multiply()), cheaper
                status
                if status not in LIVE_STATUSES
                else ("partially_filled" if cum_qty < head[7] else "filled"),
                exec_id if seen == () else _seen(seen, exec_id),
                ids,
                number,
                cl_ord_id,
                exec_id,
                qty,
                px,
                commission,
                currency,
                last_mkt,
                when,
                lossy,
                finisher,
                DEFERRED,
            )
            # Stored as it is: a Packed that goes on (no typing.cast: a call on every fill).
            if len(ids) == 1:
                orders[cl_ord_id] = after  # pyright: ignore[reportArgumentType]
            else:
                for known_id in ids:
                    if orders.get(known_id) is packed:
                        orders[known_id] = after  # pyright: ignore[reportArgumentType]
            if after[_STATUS] == "filled" and status != "filled":
                self._end(ids, number)
            return after, False, status  # pyright: ignore[reportReturnType]
        finally:
            lock.release()

    def add(self, cl_ord_id: str, state: OrderState) -> None:
        """Know ``state`` by ``cl_ord_id`` too (a replacement's id); evict past the cap."""
        self.orders.pop(cl_ord_id, None)  # a re-used id moves to the young end
        self.orders[cl_ord_id] = state.pack()
        while len(self.orders) > self.max_orders + 1:  # the orders and the pin
            self._evict_one()

    def ended(self, state: OrderState) -> None:
        """``state`` just became terminal: its ids leave after ``terminal_ttl``."""
        self._end(state.ids, state.number)

    def _end(self, ids: tuple[str, ...], number: int) -> None:
        due = self.clock() + self.terminal_ttl
        for cl_ord_id in ids:
            self._ended.append((due, cl_ord_id, number))

    def _expire(self) -> None:
        now = self.clock()
        ended = self._ended
        orders = self.orders
        while ended and ended[0][0] <= now:
            _, cl_ord_id, number = ended.popleft()
            known = orders.get(cl_ord_id)
            if known is not None and known[_NUMBER] == number:
                del orders[cl_ord_id]
                self.expired += 1

    def _evict_one(self) -> None:
        orders = self.orders
        while self._ended:
            _, cl_ord_id, number = self._ended.popleft()
            known = orders.get(cl_ord_id)
            if known is not None and known[_NUMBER] == number:
                del orders[cl_ord_id]
                self.evicted += 1
                return
        keys = iter(orders)
        next(keys)  # the pin, always first
        del orders[next(keys)]
        self.evicted += 1

    def stats(self) -> dict[str, int]:
        """How many orders are known, live and terminal, and how many left by TTL or cap."""
        with self.lock:
            if self._ended:
                self._expire()
            statuses = [
                packed[_STATUS] for packed in itertools.islice(self.orders.values(), 1, None)
            ]
            live = sum(1 for status in statuses if status in LIVE_STATUSES)
            return {
                "orders": len(statuses),
                "live": live,
                "terminal": len(statuses) - live,
                "expired": self.expired,
                "evicted": self.evicted,
            }
