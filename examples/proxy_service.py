"""A proxy rotator that logs requests and health checks through tapelog, asyncio style.

Run: .venv/bin/python examples/proxy_service.py   (writes examples-out/proxy.jsonl)
"""

from __future__ import annotations

import asyncio
import logging
import random

import tapelog


PROXIES = ["http://alice:s3cret@10.0.0.5:8080", "http://10.0.0.6:3128"]


async def handle(request_id: str, rng: random.Random) -> None:
    log = tapelog.get_logger("proxy.rotator")
    with tapelog.context(request_id=request_id):  # each task sees its own request_id
        proxy = rng.choice(PROXIES)
        await asyncio.sleep(rng.uniform(0.001, 0.01))
        status = rng.choice([200, 200, 200, 502])
        fields = {"proxy": proxy, "http.response.status_code": status}
        if status == 200:
            log.info("request served", event="proxy.request", **fields)
        else:
            log.warning("upstream failed, rotating", event="proxy.request", **fields)


async def main() -> None:
    tapelog.configure(
        service="proxy-rotator",
        queue={"overflow": "drop_newest"},  # never block the event loop
        levels={"proxy.health": "debug"},
        sinks=[
            {"type": "console", "level": "warning", "format": "console"},
            {"type": "file", "path": "examples-out/proxy.jsonl", "format": "logfmt"},
        ],
    )
    tapelog.capture_stdlib("info")
    logging.getLogger("urllib3").warning("third-party libraries arrive too", extra={"retries": 2})
    rng = random.Random(3)
    await asyncio.gather(*(handle(f"req-{n:04d}", rng) for n in range(50)))
    tapelog.get_logger("proxy.health").debug("health check", event="health.check", healthy=True)
    tapelog.flush()


if __name__ == "__main__":
    asyncio.run(main())
