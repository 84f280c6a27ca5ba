"""The rotator: a forward proxy on 127.0.0.1 that sends each request through one of its
upstream proxies, chosen by a strategy, rotating to the next one when an upstream fails,
and a health checker that takes failing upstreams out of rotation and puts them back.

Every entry a request causes carries its ``request_id``, the upstream (``proxy.id`` and
``proxy.url``, credentials redacted by tapelog) and the strategy, bound through tapelog's
context: the code below never passes them by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field

from httpio import (
    HttpError,
    Message,
    basic_credentials,
    encode,
    exchange,
    host_port,
    read_message,
    response,
)

import tapelog


log = tapelog.get_logger("proxy.rotator", component="rotator")
health_log = tapelog.get_logger("proxy.health", component="health")

STRATEGIES = ("round_robin", "random", "least_used")


@dataclass
class Member:
    """An upstream as the rotator sees it."""

    id: str
    url: str
    healthy: bool = True
    uses: int = 0
    failures: int = 0
    latency_ms: float = 0.0

    @property
    def meta(self) -> dict[str, object]:
        return {"proxy.id": self.id, "proxy.url": self.url}


@dataclass
class Counters:
    requests: int = 0
    served: int = 0
    exhausted: int = 0
    rotations: int = 0
    health_checks: int = 0
    status: dict[int, int] = field(default_factory=dict)


class Rotator:
    """Chooses upstreams and relays requests through them."""

    def __init__(
        self,
        members: list[Member],
        strategy: str,
        *,
        chunks: int = 0,
        timeout: float = 2.0,
        seed: int = 7,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {', '.join(STRATEGIES)}, got {strategy!r}")
        self.members = members
        self.strategy = strategy
        self.chunks = chunks  # extra entries per request, one per relayed chunk (load tests)
        self.timeout = timeout
        self.counters = Counters()
        self._cycle = itertools.count()
        self._random = random.Random(seed)
        self.server: asyncio.Server | None = None
        self.port = 0

    # -- choosing ------------------------------------------------------------------

    def choose(self, exclude: set[str]) -> Member | None:
        candidates = [m for m in self.members if m.healthy and m.id not in exclude]
        if not candidates:
            return None
        if self.strategy == "random":
            return self._random.choice(candidates)
        if self.strategy == "least_used":
            return min(candidates, key=lambda m: (m.uses, m.id))
        return candidates[next(self._cycle) % len(candidates)]

    # -- serving -------------------------------------------------------------------

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        log.info(
            "rotator listening",
            event="proxy.started",
            upstreams=len(self.members),
            **{
                "server.address": "127.0.0.1",
                "server.port": self.port,
                "proxy.strategy": self.strategy,
            },
        )

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_message(reader)
        except (HttpError, OSError):
            writer.close()
            return
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex[:12]
        meta = {
            "request_id": request_id,
            "proxy.strategy": self.strategy,
            "http.request.method": request.method,
            "url.full": request.target,
        }
        with tapelog.context(**meta):
            answer = await self.relay(request, request_id)
        try:
            writer.write(answer)
            await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def relay(self, request: Message, request_id: str) -> bytes:
        """Try upstreams until one answers; 502 when none can."""
        started = time.perf_counter()
        self.counters.requests += 1
        log.debug("request received", event="proxy.request_received")
        tried: set[str] = set()
        while (member := self.choose(tried)) is not None:
            tried.add(member.id)
            member.uses += 1
            with tapelog.context(**member.meta):
                log.debug("upstream selected", event="proxy.selected", attempt=len(tried))
                try:
                    answer = await self._through(member, request, request_id)
                except (OSError, HttpError, TimeoutError) as exc:
                    self._failed(member, reason=f"{type(exc).__name__}: {exc}")
                    continue
                if answer.status >= 500 or answer.status == 407:
                    self._failed(member, reason=f"status {answer.status}", status=answer.status)
                    continue
                self._relay_chunks(answer.body)
                duration = (time.perf_counter() - started) * 1000
                member.latency_ms = duration
                self.counters.served += 1
                self.counters.status[answer.status] = self.counters.status.get(answer.status, 0) + 1
                log.info(
                    "request served",
                    event="proxy.request",
                    attempts=len(tried),
                    duration_ms=round(duration, 3),
                    **{"http.response.status_code": answer.status},
                )
                return encode(answer.start, {"Content-Type": "application/json"}, answer.body)
        self.counters.exhausted += 1
        log.error(
            "no upstream could serve the request",
            event="proxy.exhausted",
            tried=sorted(tried),
            **{"http.response.status_code": 502},
        )
        return response(502, b"no upstream available")

    async def _through(self, member: Member, request: Message, request_id: str) -> Message:
        headers = {"Host": request.headers.get("host", ""), "X-Request-Id": request_id}
        credentials = basic_credentials(member.url)
        if credentials is not None:
            headers["Proxy-Authorization"] = credentials
        host, port = host_port(member.url)
        data = encode(f"GET {request.target} HTTP/1.1", headers)
        return await exchange(host, port, data, self.timeout)

    def _relay_chunks(self, body: bytes) -> None:
        if not self.chunks:
            return
        size = max(1, len(body) // self.chunks)
        for index in range(self.chunks):
            log.debug("relayed chunk", event="proxy.chunk", chunk=index, bytes=size)

    def _failed(self, member: Member, *, reason: str, status: int | None = None) -> None:
        member.failures += 1
        self.counters.rotations += 1
        fields: dict[str, object] = {"reason": reason}
        if status is not None:
            fields["http.response.status_code"] = status
        log.warning(
            "upstream failed, rotating to the next",
            event="proxy.upstream_failed",
            **fields,
        )

    # -- health --------------------------------------------------------------------

    async def health_loop(self, origin_port: int, interval: float) -> None:
        """Check every upstream every ``interval`` seconds, the first time after one interval."""
        while True:
            await asyncio.sleep(interval)
            await asyncio.gather(*(self.check(m, origin_port) for m in self.members))

    async def check(self, member: Member, origin_port: int) -> None:
        self.counters.health_checks += 1
        started = time.perf_counter()
        request = Message(f"GET http://127.0.0.1:{origin_port}/health HTTP/1.1", {"host": "origin"})
        error: BaseException | None = None
        status = None
        try:
            status = (await self._through(member, request, f"health-{member.id}")).status
        except (OSError, HttpError, TimeoutError) as exc:
            error = exc
        healthy = status == 200
        latency = round((time.perf_counter() - started) * 1000, 3)
        with tapelog.context(**member.meta):
            health_log.debug(
                "health check",
                event="health.check",
                healthy=healthy,
                latency_ms=latency,
                **(
                    {"http.response.status_code": status}
                    if status
                    else {"reason": type(error).__name__}
                ),
            )
            if healthy != member.healthy:
                member.healthy = healthy
                if healthy:
                    health_log.info("upstream healthy again", event="health.changed", healthy=True)
                else:
                    health_log.warning(
                        "upstream unhealthy, out of rotation",
                        event="health.changed",
                        healthy=False,
                        exc_info=error,
                        **({"http.response.status_code": status} if status else {}),
                    )
