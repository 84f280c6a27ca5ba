"""The trade logger's memory: one state per order, in a bounded table.

Terminal orders (filled, canceled, rejected, expired) stay for ``terminal_ttl`` seconds,
so late events for them are recognised as such, then leave. The table never holds more
than ``max_orders`` orders: past that, the order that turned terminal first goes, else
the oldest live one, and ``evicted`` counts them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_EVEN, Context, Decimal
from typing import TYPE_CHECKING, Final, cast, final


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = [
    "AVG",
    "EXACT",
    "HEAD_KEYS",
    "ZERO",
    "Head",
    "OrderBook",
    "OrderState",
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
#: A fill's ``exec_id`` joins a tuple (left untracked by the garbage collector, so a table
#: of many orders costs every full collection nothing for them) up to this many, then a set.
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
    """The ``trade`` object's first keys, from a head tuple."""
    return {key: value for key, value in zip(HEAD_KEYS, head, strict=True) if value is not None}


def average(notional: Decimal, cum_qty: Decimal) -> Decimal:
    """The volume-weighted average price: exact within 34 digits, else half-even."""
    return AVG.divide(notional, cum_qty) if cum_qty else ZERO


def leaves(order_qty: Decimal, cum_qty: Decimal, live: bool) -> Decimal:
    """What is still open: ``order_qty - cum_qty`` while live, 0 once terminal."""
    if not live:
        return ZERO
    return max(EXACT.subtract(order_qty, cum_qty), ZERO)


@final
class OrderState:
    """What the logger knows about one order; read and changed under the book's lock.

    ``head`` holds the standing facts (``HEAD_KEYS``), rebuilt when a replace changes
    them, so an event hands them to the worker as one tuple. ``avg_px`` is derived from
    ``notional`` and ``cum_qty`` when it is read (on the worker, for entries).
    """

    __slots__ = (
        "cum_qty",
        "currency",
        "exec_ids",
        "head",
        "notional",
        "ord_status",
        "order_qty",
    )

    def __init__(self, head: Head, currency: str | None) -> None:
        self.head = head
        self.order_qty = head[7]
        self.currency = currency
        self.cum_qty = ZERO
        self.notional = ZERO
        self.ord_status = "new"
        # The fills' ids: a tuple while few (most orders), a set past SEEN_IN_TUPLE.
        self.exec_ids: tuple[str, ...] | set[str] = ()

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

    def apply_fill(self, exec_id: str, qty: Decimal, px: Decimal) -> None:
        """Add an execution to ``cum_qty`` and to the notional behind ``avg_px``."""
        seen = self.exec_ids
        if isinstance(seen, set):
            seen.add(exec_id)
        else:
            self.exec_ids = (*seen, exec_id) if len(seen) < SEEN_IN_TUPLE else {*seen, exec_id}
        self.cum_qty = _add(self.cum_qty, qty)
        # One fused, exact multiply-add: the same digits as add(multiply()) at half the cost.
        self.notional = qty.fma(px, self.notional, EXACT)

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


@final
class OrderBook:
    """Orders by ``cl_ord_id`` (a replaced order answers to both its ids).

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
        self.orders: dict[str, OrderState] = {}
        self._ended: deque[tuple[float, str, OrderState]] = deque()
        self.evicted = 0
        self.expired = 0

    def get(self, cl_ord_id: str) -> OrderState | None:
        """The order known by this id, after letting expired terminal orders go."""
        if self._ended:
            self._expire()
        return self.orders.get(cl_ord_id)

    def place(self, cl_ord_id: str, state: OrderState) -> str | None:
        """A new order: know ``state`` by ``cl_ord_id``; the status of the order it displaces.

        ``get`` then ``add`` under the lock, in one call (the placement's common path).
        """
        lock = self.lock
        lock.acquire()
        try:
            if self._ended:
                self._expire()
            orders = self.orders
            known = orders.pop(cl_ord_id, None)  # a re-used id moves to the young end
            orders[cl_ord_id] = state
            while len(orders) > self.max_orders:
                self._evict_one()
        finally:
            lock.release()
        return None if known is None else known.ord_status

    def add(self, cl_ord_id: str, state: OrderState) -> None:
        """Know ``state`` by ``cl_ord_id``; evict past the cap."""
        self.orders.pop(cl_ord_id, None)  # a re-used id moves to the young end
        self.orders[cl_ord_id] = state
        while len(self.orders) > self.max_orders:
            self._evict_one()

    def ended(self, state: OrderState, *ids: str) -> None:
        """``state`` just became terminal: its ids leave after ``terminal_ttl``."""
        due = self.clock() + self.terminal_ttl
        for cl_ord_id in ids:
            self._ended.append((due, cl_ord_id, state))

    def _expire(self) -> None:
        now = self.clock()
        ended = self._ended
        orders = self.orders
        while ended and ended[0][0] <= now:
            _, cl_ord_id, state = ended.popleft()
            if orders.get(cl_ord_id) is state:
                del orders[cl_ord_id]
                self.expired += 1

    def _evict_one(self) -> None:
        orders = self.orders
        while self._ended:
            _, cl_ord_id, state = self._ended.popleft()
            if orders.get(cl_ord_id) is state:
                del orders[cl_ord_id]
                self.evicted += 1
                return
        del orders[next(iter(orders))]
        self.evicted += 1

    def stats(self) -> dict[str, int]:
        """How many orders are known, live and terminal, and how many left by TTL or cap."""
        with self.lock:
            if self._ended:
                self._expire()
            states = list(self.orders.values())
            live = sum(1 for state in states if not state.terminal)
            return {
                "orders": len(states),
                "live": live,
                "terminal": len(states) - live,
                "expired": self.expired,
                "evicted": self.evicted,
            }
