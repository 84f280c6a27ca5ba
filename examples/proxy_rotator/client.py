"""The local client: requests through the rotator at a steady rate, timing each one."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

from httpio import HttpError, encode, exchange

import tapelog


log = tapelog.get_logger("proxy.client", component="client")

PATHS = ("/quotes", "/café/menü", "/status?q=日本", "/items/42")


async def fetch(proxy_port: int, origin_port: int, number: int) -> tuple[int, float]:
    """One request through the rotator; returns its status (0 for no answer) and seconds."""
    request_id = f"req-{number:06d}"
    path = PATHS[number % len(PATHS)]
    data = encode(
        f"GET http://127.0.0.1:{origin_port}{path} HTTP/1.1",
        {"Host": f"127.0.0.1:{origin_port}", "X-Request-Id": request_id},
    )
    started = time.perf_counter()
    try:
        status = (await exchange("127.0.0.1", proxy_port, data, timeout=10)).status
    except (OSError, HttpError, TimeoutError):
        status = 0
    elapsed = time.perf_counter() - started
    log.debug("response", event="client.response", request_id=request_id, status=status)
    return status, elapsed


async def paced(
    proxy_port: int,
    origin_port: int,
    *,
    rate: float,
    count: int | None = None,
    duration: float | None = None,
    start: int = 0,
    stop: asyncio.Event | None = None,
) -> list[tuple[int, float]]:
    """Send requests at ``rate`` per second (each in its own task) until ``count`` were
    sent or ``duration`` seconds passed; return each one's status and time."""
    tasks: list[asyncio.Task[tuple[int, float]]] = []
    began = time.perf_counter()
    number = start
    while True:
        sent = number - start
        if count is not None and sent >= count:
            break
        if duration is not None and time.perf_counter() - began >= duration:
            break
        if stop is not None and stop.is_set():
            break
        delay = began + sent / rate - time.perf_counter()
        if delay > 0:
            if stop is None:
                await asyncio.sleep(delay)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
        tasks.append(asyncio.create_task(fetch(proxy_port, origin_port, number)))
        number += 1
    return list(await asyncio.gather(*tasks))


def summary(results: list[tuple[int, float]]) -> dict[str, float]:
    """Mean, median and 99th percentile latency in milliseconds."""
    times = sorted(elapsed * 1000 for _, elapsed in results) or [0.0]
    return {
        "requests": len(results),
        "mean_ms": round(statistics.fmean(times), 3),
        "p50_ms": round(times[len(times) // 2], 3),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
    }
