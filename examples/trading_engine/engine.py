"""The trading engine: an exchange client, a market-data feed, an order manager that logs
every order event through tapelog's trade logger, and a strategy that trades on the feed.

Network failures are logged with the error object (code, address, port, URL, stack trace),
timers measure API response times, order-processing delay and market-data intervals, and
everything a strategy step logs carries the step's context.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import tapelog
from tapelog import metrics
from tapelog.trading import OrderValidationError, get_trade_logger


if TYPE_CHECKING:
    from collections.abc import Callable


log = tapelog.get_logger("engine", component="engine")
feed_log = tapelog.get_logger("engine.marketdata", component="marketdata")
trades = get_trade_logger("trading", venue="SIMX")

API_TIMEOUT = 0.25  # seconds for one order-entry call


class ExchangeHTTPError(Exception):
    """The exchange answered with an error status."""

    def __init__(self, status: int, url: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} from {url}: {body.get('error') or body.get('reason')}")
        self.status = status
        self.url = url
        self.body = body


class ExchangeClient:
    """Order entry over HTTP, one connection per call, every call timed."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    async def call(self, path: str, body: dict[str, Any], endpoint: str) -> dict[str, Any]:
        with metrics.timer("exchange.api.duration", endpoint=endpoint):
            async with asyncio.timeout(API_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    data = json.dumps(body).encode()
                    writer.write(
                        f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: "
                        f"application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode()
                        + data
                    )
                    await writer.drain()
                    head = (await reader.readuntil(b"\r\n\r\n")).decode()
                    length = int(head.lower().split("content-length:")[1].split("\r\n")[0])
                    answer = json.loads(await reader.readexactly(length))
                finally:
                    writer.close()
        status = int(head.split(" ")[1])
        if status >= 300:
            raise ExchangeHTTPError(status, self.url(path), answer)
        return answer

    def where(self, path: str) -> dict[str, Any]:
        return {"server.address": self.host, "server.port": self.port, "url.full": self.url(path)}


@dataclass
class Order:
    cl_ord_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    order_id: str = ""
    open: bool = True
    placed_at: float = field(default_factory=time.perf_counter)


@dataclass
class Position:
    qty: Decimal = Decimal(0)
    avg_px: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)

    def apply(self, side: str, qty: Decimal, px: Decimal) -> None:
        signed = qty if side == "buy" else -qty
        if self.qty == 0 or (self.qty > 0) == (signed > 0):
            total = self.qty + signed
            self.avg_px = (self.avg_px * abs(self.qty) + px * qty) / abs(total)
            self.qty = total
            return
        closing = min(qty, abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realized += (px - self.avg_px) * closing * direction
        self.qty += signed
        if self.qty == 0:
            self.avg_px = Decimal(0)
        elif (self.qty > 0) != (direction > 0):
            self.avg_px = px


class OrderManager:
    """Sends orders and keeps their state; every event goes through the trade logger."""

    def __init__(self, client: ExchangeClient) -> None:
        self.client = client
        self.orders: dict[str, Order] = {}
        self.positions: dict[str, Position] = {}
        self.ids = itertools.count(1)
        self.failures = 0
        # Orders sent but not yet answered, with the fills the stream delivered for them
        # meanwhile: the exchange may fill an order before its answer to the request comes
        # back, and the trade log must show the order before its fills.
        self.early_fills: dict[str, list[dict[str, Any]]] = {}
        # Requests whose answer never came (timed out): the exchange may still have taken
        # them. A fill for one proves it did, so the order (or its replacement) is logged
        # then, before the fill; one that never fills was never working here.
        self.in_doubt: dict[str, Callable[[], None]] = {}

    def next_id(self) -> str:
        return f"C-{next(self.ids):05d}"

    async def _call(self, path: str, body: dict[str, Any], endpoint: str) -> dict[str, Any] | None:
        """One API call; a failure is logged with its error object and counted, not raised."""
        try:
            return await self.client.call(path, body, endpoint)
        except ExchangeHTTPError as exc:
            if exc.status < 500:
                raise
            failure: BaseException = exc
            extra: dict[str, Any] = {"http.response.status_code": exc.status}
        except (OSError, TimeoutError) as exc:
            failure, extra = exc, {}
        self.failures += 1
        log.error(
            "exchange call failed",
            event="exchange.call_failed",
            exc_info=failure,
            endpoint=endpoint,
            **self.client.where(path),
            **extra,
        )
        return None

    async def place(self, symbol: str, side: str, qty: Decimal, price: Decimal) -> Order | None:
        cl_ord_id = self.next_id()
        started = time.perf_counter()
        body = {
            "cl_ord_id": cl_ord_id,
            "symbol": symbol,
            "side": side,
            "qty": str(qty),
            "price": str(price),
        }
        self.early_fills[cl_ord_id] = []
        try:
            answer = await self._call("/orders", body, "new_order")
        except ExchangeHTTPError as exc:
            trades.order_rejected(
                cl_ord_id, exc.body.get("reason", "rejected"), exc.body.get("ord_rej_reason"),
                symbol=symbol, side=side, requested_qty=str(qty),
            )  # fmt: skip
            self.release_fills(cl_ord_id)
            return None
        order = Order(cl_ord_id, symbol, side, qty, price)
        if answer is None:
            self.in_doubt[cl_ord_id] = lambda: self._placed(order, started)
            self.release_fills(cl_ord_id)
            return None
        order.order_id = answer["order_id"]
        self._placed(order, started)
        self.release_fills(cl_ord_id)
        return order

    def _placed(self, order: Order, started: float) -> None:
        self.orders[order.cl_ord_id] = order
        trades.order_placed(
            order.cl_ord_id, order.symbol, order.side, order.qty, order.price,
            order_id=order.order_id or None,
        )  # fmt: skip
        metrics.observe("order.processing.delay", time.perf_counter() - started, stage="ack")

    async def cancel(self, order: Order, reason: str) -> bool:
        try:
            answer = await self._call(f"/orders/{order.cl_ord_id}/cancel", {}, "cancel")
        except ExchangeHTTPError:
            return False  # filled meanwhile: the fill is on its way
        if answer is None:
            return False
        order.open = False
        trades.order_canceled(order.cl_ord_id, reason=reason)
        return True

    async def replace(self, order: Order, qty: Decimal, price: Decimal) -> Order | None:
        new_id = self.next_id()
        body = {"cl_ord_id": new_id, "qty": str(qty), "price": str(price)}
        self.early_fills[new_id] = []
        try:
            answer = await self._call(f"/orders/{order.cl_ord_id}/replace", body, "replace")
        except ExchangeHTTPError:
            answer = None
        replaced = Order(new_id, order.symbol, order.side, qty, price, order.order_id)
        if answer is None:
            self.in_doubt[new_id] = lambda: self._replaced(order, replaced)
            self.release_fills(new_id)
            return None
        self._replaced(order, replaced)
        self.release_fills(new_id)
        return replaced

    def _replaced(self, order: Order, replaced: Order) -> None:
        order.open = False
        self.orders[replaced.cl_ord_id] = replaced
        trades.order_replaced(
            replaced.cl_ord_id, order.cl_ord_id, order_qty=replaced.qty, price=replaced.price
        )

    def release_fills(self, cl_ord_id: str) -> None:
        """The request for `cl_ord_id` is answered: handle the fills that came before it."""
        for fill in self.early_fills.pop(cl_ord_id, ()):
            self.on_fill(fill)

    def on_fill(self, fill: dict[str, Any]) -> None:
        waiting = self.early_fills.get(fill["cl_ord_id"])
        if waiting is not None:
            waiting.append(fill)
            return
        if (confirmed := self.in_doubt.pop(fill["cl_ord_id"], None)) is not None:
            confirmed()  # the request timed out, but the exchange took it
        received = time.time_ns()
        order = self.orders.get(fill["cl_ord_id"])
        qty, px = Decimal(fill["qty"]), Decimal(fill["px"])
        trades.order_filled(
            fill["cl_ord_id"], fill["exec_id"], qty, px,
            commission=Decimal(fill["commission"]), currency=fill["currency"],
            transact_time=int(fill["ts"]),
        )  # fmt: skip
        metrics.observe("order.processing.delay", (received - int(fill["ts"])) / 1e9, stage="fill")
        if order is None:
            return
        state = trades.order(order.cl_ord_id)
        if state is not None and state.get("leaves_qty") == Decimal(0):
            order.open = False
        position = self.positions.setdefault(order.symbol, Position())
        position.apply(order.side, qty, px)
        trades.position_changed(
            order.symbol, position.qty, position.avg_px or px, position.realized
        )

    def open_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if o.open]


class MarketData:
    """The exchange's stream: ticks to the strategy, fills to the order manager."""

    def __init__(self, client: ExchangeClient, manager: OrderManager) -> None:
        self.client, self.manager = client, manager
        self.last: dict[str, dict[str, Any]] = {}
        self.last_at: dict[str, float] = {}
        self.ticks = 0
        self.reconnects = 0

    async def run(self) -> None:
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.client.host, self.client.port)
                writer.write(b"GET /stream HTTP/1.1\r\nHost: exchange\r\n\r\n")
                await writer.drain()
                await reader.readuntil(b"\r\n\r\n")
                feed_log.info("market data connected", event="marketdata.connected",
                              **self.client.where("/stream"))  # fmt: skip
                while line := await reader.readline():
                    self.on_message(json.loads(line))
                writer.close()
                raise ConnectionResetError("the exchange closed the stream")
            except (OSError, asyncio.IncompleteReadError) as exc:
                self.reconnects += 1
                feed_log.warning(
                    "market data lost, reconnecting",
                    event="marketdata.disconnected",
                    reason=f"{type(exc).__name__}: {exc}",
                    **self.client.where("/stream"),
                )
                await asyncio.sleep(0.1)

    def on_message(self, message: dict[str, Any]) -> None:
        if message["type"] == "fill":
            self.manager.on_fill(message)
            return
        symbol = message["symbol"]
        now = time.perf_counter()
        if symbol in self.last_at:
            metrics.observe("marketdata.interval", now - self.last_at[symbol], symbol=symbol)
        self.last_at[symbol] = now
        self.last[symbol] = message
        self.ticks += 1


class Strategy:
    """Quotes and trades on a fixed cycle so every order event happens in a short run:
    marketable orders (partial fill, then fill), resting quotes that are replaced and
    canceled, an oversize order the exchange rejects, one order the strategy sizes to
    zero (refused before it leaves), and one step that hits a bug in the risk code."""

    name = "mean_reversion"

    def __init__(self, manager: OrderManager, feed: MarketData) -> None:
        self.manager, self.feed = manager, feed
        self.step = 0
        self.resting: Order | None = None

    async def run(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            if "BTC-USD" not in self.feed.last or "ETH-USD" not in self.feed.last:
                continue
            self.step += 1
            with tapelog.context(strategy=self.name, step=self.step):
                try:
                    await self.act(self.step)
                except OrderValidationError as exc:  # already logged as order.validation_failed
                    log.info("order skipped", event="strategy.order_skipped", param=exc.param)
                except ZeroDivisionError:
                    log.exception("strategy step failed", event="strategy.error")
            metrics.gauge("engine.open_orders", len(self.manager.open_orders()))

    async def act(self, step: int) -> None:
        btc, eth = self.feed.last["BTC-USD"], self.feed.last["ETH-USD"]
        phase = step % 6
        if step == 7:
            await self.manager.place("BTC-USD", "buy", self.size(Decimal(0)), Decimal(btc["bid"]))
        elif step == 9:
            await self.rebalance(btc)
        elif phase == 0:
            await self.manager.place("BTC-USD", "buy", Decimal("0.5"), Decimal(btc["ask"]) + 50)
        elif phase == 1:
            self.resting = await self.manager.place(
                "ETH-USD", "sell", Decimal(1), Decimal(eth["ask"]) + 40
            )
        elif phase == 2:
            await self.manager.place("BTC-USD", "buy", Decimal(8), Decimal(btc["bid"]))
        elif phase == 3 and self.resting is not None:
            self.resting = await self.manager.replace(
                self.resting, Decimal(2), Decimal(eth["ask"]) + 30
            )
        elif phase == 4:
            await self.manager.place("BTC-USD", "sell", Decimal("0.3"), Decimal(btc["bid"]) - 50)
        elif phase == 5 and self.resting is not None:
            await self.manager.cancel(self.resting, reason="stale quote")
            self.resting = None

    @staticmethod
    def size(risk_budget: Decimal) -> Decimal:
        return (risk_budget * 10).quantize(Decimal("0.001"))

    async def rebalance(self, tick: dict[str, Any]) -> None:
        """The bug: a zero spread window divides by zero (caught by ``run``)."""
        window = [Decimal(tick["ask"]) - Decimal(tick["ask"])]  # (meant: ask - bid)
        ticks_of_risk = int(sum(window) / len(window) * 100)
        lots = 100 // ticks_of_risk  # ZeroDivisionError
        await self.manager.place("BTC-USD", "buy", Decimal(lots) / 1000, Decimal(tick["bid"]))
