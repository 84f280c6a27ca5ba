"""The world around the rotator, all on 127.0.0.1: an origin web server and upstream proxies.

Upstream proxies are real forward proxies: they take ``GET http://host:port/path`` requests,
check ``Proxy-Authorization`` when their URL carries credentials, and fetch from the origin.
One can be told to break (answer 502 to everything) and one to be dead (nothing listens).
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Literal

from httpio import HttpError, Message, basic_credentials, encode, exchange, read_message, response

import tapelog


Mode = Literal["ok", "broken", "dead"]

log = tapelog.get_logger("proxy.upstream", component="upstream")


async def _serve(handler, port: int = 0) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", port, limit=1 << 16)


class Origin:
    """The web: ``/health`` answers ``ok``; any other path answers JSON naming it."""

    def __init__(self, body_size: int = 512) -> None:
        self.body_size = body_size
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await _serve(self._handle)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_message(reader)
            path = request.target.split("/", 3)[-1] if "://" in request.target else request.target
            if path.endswith("health"):
                writer.write(response(200, b"ok"))
            else:
                body = json.dumps({"path": path, "pad": "x" * self.body_size}).encode()
                writer.write(response(200, body, {"Content-Type": "application/json"}))
            await writer.drain()
        except (HttpError, OSError):
            pass
        finally:
            writer.close()


class UpstreamProxy:
    """A forward proxy on 127.0.0.1 that the rotator sends requests through."""

    def __init__(self, ident: str, mode: Mode, credentials: tuple[str, str] | None) -> None:
        self.ident = ident
        self.mode: Mode = mode
        self.credentials = credentials
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        userinfo = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    async def start(self) -> None:
        if self.mode == "dead":  # a port nobody listens on: connections are refused
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            return
        self.server = await _serve(self._handle)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await read_message(reader)
            # The request id travels in a header: this hop logs under the same id.
            with tapelog.context(request_id=request.headers.get("x-request-id", "-")):
                writer.write(await self._answer(request))
                await writer.drain()
        except (HttpError, OSError):
            pass
        finally:
            writer.close()

    async def _answer(self, request: Message) -> bytes:
        expected = basic_credentials(self.url)
        if expected is not None and request.headers.get("proxy-authorization") != expected:
            log.warning("proxy authentication failed", event="upstream.auth_failed")
            return response(407, b"", {"Proxy-Authenticate": 'Basic realm="upstream"'})
        if self.mode == "broken":
            log.debug("refusing to forward (broken)", event="upstream.broken")
            return response(502, b"upstream is broken")
        host, _, rest = request.target.removeprefix("http://").partition("/")
        origin_host, _, origin_port = host.partition(":")
        forwarded = encode(f"GET /{rest} HTTP/1.1", {"Host": host})
        answer = await exchange(origin_host, int(origin_port or 80), forwarded, timeout=5)
        log.debug(
            "forwarded",
            event="upstream.forwarded",
            upstream=self.ident,
            **{"http.response.status_code": answer.status, "url.full": request.target},
        )
        return encode(answer.start, {"Content-Type": "application/json"}, answer.body)


async def start_world(count_ok: int = 3) -> tuple[Origin, list[UpstreamProxy]]:
    """Start the origin and the upstream pool: healthy ones (two with credentials), one
    broken (502 to everything) and one dead (connection refused)."""
    origin = Origin()
    await origin.start()
    credentials = [None, ("alice", "s3cret-pw"), ("bob", "hunter2-pw")]
    pool = [
        UpstreamProxy(f"up-{n + 1}", "ok", credentials[n % len(credentials)])
        for n in range(count_ok)
    ]
    pool.append(UpstreamProxy(f"up-{count_ok + 1}", "broken", ("carol", "b4d-pw")))
    pool.append(UpstreamProxy(f"up-{count_ok + 2}", "dead", None))
    for upstream in pool:
        await upstream.start()
    return origin, pool
