"""Just enough HTTP/1.1 over asyncio streams for a forward proxy: one request per connection.

Every server and client in this example speaks it; bodies are sized by Content-Length.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


MAX_HEAD = 64 * 1024


class HttpError(Exception):
    """A malformed message, or a peer that went away mid-message."""


@dataclass
class Message:
    """A request (``method``, ``target``) or a response (``status``), with headers and body."""

    start: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0]

    @property
    def target(self) -> str:
        return self.start.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.start.split(" ")[1])


async def read_message(reader: asyncio.StreamReader) -> Message:
    """Read one message: the start line, the headers (names lowercased) and the body."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        raise HttpError("connection closed before a complete message") from exc
    except asyncio.LimitOverrunError as exc:
        raise HttpError("message head too large") from exc
    lines = head.decode("utf-8", "replace").split("\r\n")
    message = Message(lines[0])
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            message.headers[name.strip().lower()] = value.strip()
    length = int(message.headers.get("content-length", "0") or 0)
    if length:
        try:
            message.body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise HttpError("connection closed inside the body") from exc
    return message


def encode(start: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    """One message as bytes, with Content-Length and ``Connection: close``."""
    lines = [start, *(f"{name}: {value}" for name, value in headers.items())]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body  # UTF-8 targets: the logs show them as sent


def response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    reasons = {
        200: "OK",
        400: "Bad Request",
        404: "Not Found",
        407: "Proxy Authentication Required",
    }
    reasons |= {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
    return encode(f"HTTP/1.1 {status} {reasons.get(status, 'Status')}", headers or {}, body)


async def exchange(host: str, port: int, data: bytes, timeout: float) -> Message:  # noqa: ASYNC109 - one bound for connect, send and read
    """Connect, send ``data``, read the answer; every step bounded by ``timeout``."""
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(data)
            await writer.drain()
            return await read_message(reader)
        finally:
            writer.close()


def basic_credentials(url: str) -> str | None:
    """The ``Proxy-Authorization`` value for a proxy URL with ``user:password@``, or None."""
    parts = urlsplit(url)
    if parts.username is None:
        return None
    pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return "Basic " + base64.b64encode(pair.encode()).decode("ascii")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80
