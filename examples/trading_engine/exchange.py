"""A simulated exchange on 127.0.0.1, run as its own process.

    python examples/trading_engine/exchange.py [--ready FILE]

Two listeners. The API port takes orders over HTTP (JSON bodies) and streams market data
and executions:

    POST /orders                  {"cl_ord_id", "symbol", "side", "qty", "price"}
                                  -> 200 ack | 400 reject
    POST /orders/<id>/cancel      -> 200 {"leaves_qty"} | 404
    POST /orders/<id>/replace     {"cl_ord_id", "qty", "price"} -> 200 | 404
    GET  /stream                  one JSON object a line, until the client hangs up:
                                  {"type": "tick", ...} every 20 ms and {"type": "fill", ...}

The control port tells it to misbehave for a while, so failures are real:

    POST /control {"mode": "refuse" | "503" | "stall" | "late" | "ok", "seconds": 0.5}

``refuse`` closes the API port (connections refused) and opens it again on the same port;
``503`` answers every order request with 503; ``stall`` holds order requests unanswered, then
drops them unexecuted (a gateway that lost them), so a client that timed out is never left with
an order it does not know about; ``late`` executes order requests at once but answers only when
the period ends (a slow gateway), so a client that gave up meets fills for an order it never
heard confirmed.
It writes ``{"api": port, "control": port, "pid": pid}`` to the ready file once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import signal
import time
from decimal import Decimal
from pathlib import Path
from typing import Any


SYMBOLS = {"BTC-USD": Decimal("64000.00"), "ETH-USD": Decimal("3200.00")}
MAX_QTY = Decimal(5)  # larger orders are rejected: order_exceeds_limit
FEE_RATE = Decimal("0.0004")
TICK_SECONDS = 0.02


class Exchange:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.mid = dict(SYMBOLS)
        self.orders: dict[str, dict[str, Any]] = {}
        self.streams: set[asyncio.Queue[bytes]] = set()
        self.ids = itertools.count(1)
        self.mode, self.mode_until = "ok", 0.0
        self.api: asyncio.Server | None = None
        self.api_port = 0

    # -- misbehaving -------------------------------------------------------------

    def current_mode(self) -> str:
        if self.mode != "ok" and time.monotonic() >= self.mode_until:
            self.mode = "ok"
        return self.mode

    async def set_mode(self, mode: str, seconds: float) -> None:
        self.mode, self.mode_until = mode, time.monotonic() + seconds
        if mode == "refuse" and self.api is not None:
            self.api.close()
            for queue in list(self.streams):  # cut the streams too
                queue.put_nowait(b"")
            self.api = None
            asyncio.get_running_loop().call_later(
                seconds, lambda: asyncio.ensure_future(self.open_api())
            )

    async def open_api(self) -> None:
        if self.api is None:
            self.api = await asyncio.start_server(self.serve_api, "127.0.0.1", self.api_port)
            self.api_port = self.api.sockets[0].getsockname()[1]

    # -- the market ----------------------------------------------------------------

    def publish(self, event: dict[str, Any]) -> None:
        line = (json.dumps(event) + "\n").encode()
        for queue in self.streams:
            queue.put_nowait(line)

    async def ticker(self) -> None:
        seq = itertools.count(1)
        while True:
            await asyncio.sleep(TICK_SECONDS)
            for symbol, mid in self.mid.items():
                step = mid * Decimal(self.random.randint(-5, 5)) / Decimal(100000)
                self.mid[symbol] = (mid + step).quantize(Decimal("0.01"))
                spread = Decimal("0.50") if symbol == "BTC-USD" else Decimal("0.05")
                bid, ask = self.mid[symbol] - spread, self.mid[symbol] + spread
                self.publish({"type": "tick", "seq": next(seq), "symbol": symbol,
                              "bid": str(bid), "ask": str(ask), "ts": time.time_ns()})  # fmt: skip
            self.match()

    def match(self) -> None:
        """Fill marketable orders, in up to two pieces a tick."""
        for order in self.orders.values():
            if order["leaves"] <= 0 or order["canceled"]:
                continue
            mid = self.mid[order["symbol"]]
            marketable = order["price"] >= mid if order["side"] == "buy" else order["price"] <= mid
            if not marketable:
                continue
            piece = (
                order["leaves"] if order["fills"] else max(order["leaves"] / 2, Decimal("0.001"))
            )
            piece = min(piece.quantize(Decimal("0.001")), order["leaves"])
            order["leaves"] -= piece
            order["fills"] += 1
            px = order["price"]
            self.publish({
                "type": "fill", "cl_ord_id": order["cl_ord_id"], "order_id": order["order_id"],
                "exec_id": f"X-{next(self.ids)}", "qty": str(piece), "px": str(px),
                "commission": str((piece * px * FEE_RATE).quantize(Decimal("0.0001"))),
                "currency": "USD", "ts": time.time_ns(),
            })  # fmt: skip

    # -- the API -----------------------------------------------------------------

    async def serve_api(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, body = await read_request(reader)
            if path == "/stream":
                await self.stream(writer)
                return
            mode = self.current_mode()
            if mode == "stall":
                await asyncio.sleep(max(0.0, self.mode_until - time.monotonic()))
                return
            if mode == "late":
                status, answer = self.order_api(method, path, body)
                await asyncio.sleep(max(0.0, self.mode_until - time.monotonic()))
            elif mode == "503":
                status, answer = 503, {"error": "service unavailable"}
            else:
                status, answer = self.order_api(method, path, body)
            await write_response(writer, status, answer)
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def stream(self, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self.streams.add(queue)
        try:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n")
            while line := await queue.get():
                writer.write(line)
                await writer.drain()
        except asyncio.CancelledError:
            pass
        finally:
            self.streams.discard(queue)

    def order_api(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and parts == ["orders"]:
            return self.new_order(body)
        if method == "POST" and len(parts) == 3 and parts[0] == "orders":
            order = self.orders.get(parts[1])
            if order is None or order["leaves"] <= 0 or order["canceled"]:
                return 404, {"error": "unknown or closed order", "reason": "too_late_to_cancel"}
            if parts[2] == "cancel":
                order["canceled"] = True
                return 200, {"order_id": order["order_id"], "leaves_qty": str(order["leaves"])}
            if parts[2] == "replace":
                filled = order["qty"] - order["leaves"]
                order["qty"], order["price"] = Decimal(body["qty"]), Decimal(body["price"])
                order["leaves"] = max(order["qty"] - filled, Decimal(0))
                self.orders[body["cl_ord_id"]] = order
                order["cl_ord_id"] = body["cl_ord_id"]
                return 200, {"order_id": order["order_id"]}
        return 404, {"error": f"no such endpoint {method} {path}"}

    def new_order(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        qty, symbol = Decimal(body["qty"]), body["symbol"]
        if symbol not in self.mid:
            return 400, {"reason": f"unknown symbol {symbol}", "ord_rej_reason": "unknown_symbol"}
        if qty > MAX_QTY:
            return 400, {"reason": f"quantity {qty} over the limit {MAX_QTY}",
                         "ord_rej_reason": "order_exceeds_limit"}  # fmt: skip
        order_id = f"O-{next(self.ids)}"
        self.orders[body["cl_ord_id"]] = {
            "cl_ord_id": body["cl_ord_id"], "order_id": order_id, "symbol": symbol,
            "side": body["side"], "qty": qty, "price": Decimal(body["price"]), "leaves": qty,
            "fills": 0, "canceled": False,
        }  # fmt: skip
        return 200, {"order_id": order_id}

    # -- the control port ----------------------------------------------------------

    async def serve_control(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            _, _, body = await read_request(reader)
            await self.set_mode(body.get("mode", "ok"), float(body.get("seconds", 1.0)))
            await write_response(writer, 200, {"mode": self.mode})
        except (OSError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, Any]]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    start, *lines = head.split("\r\n")
    method, path, _ = start.split(" ", 2)
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)
    }
    length = int(headers.get("content-length", "0"))
    body = json.loads(await reader.readexactly(length)) if length else {}
    return method, path, body


async def write_response(writer: asyncio.StreamWriter, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        f"Connection: close\r\n\r\n".encode()
        + data
    )
    await writer.drain()


async def main(ready: Path | None, seed: int) -> None:
    exchange = Exchange(seed)
    await exchange.open_api()
    control = await asyncio.start_server(exchange.serve_control, "127.0.0.1", 0)
    ticker = asyncio.create_task(exchange.ticker())
    info = {
        "api": exchange.api_port,
        "control": control.sockets[0].getsockname()[1],
        "pid": os.getpid(),
    }
    if ready is not None:
        partial = ready.with_suffix(".tmp")
        partial.write_text(json.dumps(info), encoding="utf-8")
        partial.replace(ready)
    else:
        print(json.dumps(info), flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    for queue in list(exchange.streams):  # end the streams before the loop closes
        queue.put_nowait(b"")
    await asyncio.sleep(0.05)
    ticker.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await ticker


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="a simulated exchange on 127.0.0.1")
    parser.add_argument("--ready", type=Path, help="write the ports here once listening")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(main(args.ready, args.seed))
