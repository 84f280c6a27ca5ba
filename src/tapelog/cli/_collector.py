"""A tiny log collector on 127.0.0.1, for the demo and the tests of the http and otlp sinks.

It stores what it receives, drops batches whose ``Idempotency-Key`` it has seen (and counts
them), and can misbehave on cue: go down (connections refused) and come back on the same
port, answer the next requests with an error status and a ``Retry-After``, or store a batch
and then hang up without answering (a lost acknowledgement, which makes the sender retry a
batch that already arrived), or refuse bodies over a size with 413.

Example:
    >>> with Collector() as collector:
    ...     url = collector.url  # http://127.0.0.1:<port>/ingest
    ...     collector.down()  # connection refused until up()
    ...     _ = collector.up()  # returns the collector, serving again
"""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import sys
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Final, TypeAlias, final


if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping
    from types import TracebackType
    from typing import Self


__all__ = ["Collector", "parse_ndjson"]

_HOST: Final = "127.0.0.1"
_POLL: Final = 0.05  # seconds between the server loop's checks for shutdown
_IDLE: Final = 5.0  # seconds a kept-alive connection may sit idle
_OK: Final = ("ok", 200, None, b"")
_Action: TypeAlias = tuple[str, int, float | None, bytes]  # what, status, Retry-After, body


def parse_ndjson(body: bytes, headers: Mapping[str, str]) -> list[Any]:  # noqa: ARG001 - a parser gets both
    """Every non-empty line of an NDJSON body, parsed."""
    return [json.loads(line) for line in body.split(b"\n") if line.strip()]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        return int(probe.getsockname()[1])


@final
class _QuietServer(ThreadingHTTPServer):
    """An HTTP server that does not print a traceback when a sender hangs up.

    A sender timing out, a connection cut by ``down()`` or ``lose_replies()``: broken pipes
    and resets are what this server is for, and socketserver would print each one to
    stderr (into the demo's output and the test run's). Any other error still prints.
    """

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class Collector:
    """Receives POSTed batches on ``url``; see the module docstring.

    Thread-safe. Created down (a port is reserved by number, nothing listens): call
    ``up()``, or use it as a context manager, which brings it up and closes it.

    Args:
        path: the path batches are POSTed to; other paths get 404.
        parse: turns a (decompressed) body and its headers into records.
        port: the port; 0 picks a free one.
        tls: a server-side context: listen for ``https://`` (its settings decide whether
            a client certificate is required).
    """

    def __init__(
        self,
        *,
        path: str = "/ingest",
        parse: Callable[[bytes, Mapping[str, str]], list[Any]] = parse_ndjson,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.path = path
        self.tls = tls
        self.parse = parse
        self.port = port or _free_port()
        self.records: list[Any] = []
        """What arrived, in order, each batch once (duplicates by idempotency key dropped)."""
        self.requests: list[dict[str, str]] = []
        """The headers of every request, in order (names in lowercase)."""
        self.duplicates = 0
        """Batches that arrived again under a key already seen."""
        self.duplicate_records = 0
        self.errors_sent = 0
        """Requests answered with a scripted error status."""
        self.arrivals: list[float] = []
        """``time.monotonic()`` at each request, in order."""
        self.reply = b""
        """The body of a successful answer."""
        self.reply_type = "application/json"
        self.max_body: int | None = None
        """Bodies longer than this (as sent, before gunzip) get 413 Content Too Large."""
        self.too_large = 0
        """Requests answered 413 for their size."""
        self._keys: set[str] = set()
        self._script: deque[_Action] = deque()
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    @property
    def url(self) -> str:
        """Where to POST."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{_HOST}:{self.port}{self.path}"

    @property
    def is_up(self) -> bool:
        """True while it accepts connections."""
        return self._server is not None

    # -- up and down --------------------------------------------------------------

    def up(self) -> Self:
        """Listen on the port (again)."""
        if self._server is not None:
            return self
        server = _QuietServer((_HOST, self.port), self._handler_class())
        server.daemon_threads = True
        if self.tls is not None:
            # The handshake runs on accept; one that fails is an OSError the server skips.
            server.socket = self.tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(_POLL,), name="tapelog-collector", daemon=True
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening and cut open connections: senders get "connection refused"."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._cond:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        """Go down for good."""
        self.down()

    def __enter__(self) -> Self:
        return self.up()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- misbehaving on cue -------------------------------------------------------

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: float | None = None,
        body: bytes = b"unavailable",
        after: int = 0,
    ) -> None:
        """Answer ``times`` requests with ``status`` (and a Retry-After), storing nothing.

        ``after`` requests are answered normally first. Requests refused for their size
        (``max_body``) do not count.
        """
        with self._cond:
            self._script.extend([_OK] * after)
            self._script.extend([("fail", status, retry_after, body)] * times)

    def lose_replies(self, times: int = 1) -> None:
        """Store the next ``times`` batches, then hang up without answering."""
        with self._cond:
            self._script.extend([("lose", 0, None, b"")] * times)

    # -- reading what came --------------------------------------------------------

    def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until ``count`` records arrived; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.records) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stats(self) -> dict[str, int]:
        """Counts, for a summary: records, batches, duplicates, errors sent."""
        with self._cond:
            return {
                "records": len(self.records),
                "requests": len(self.requests),
                "batches": len(self._keys),
                "duplicate_batches": self.duplicates,
                "duplicate_records": self.duplicate_records,
                "errors_sent": self.errors_sent,
            }

    # -- the server side ----------------------------------------------------------

    def _receive(self, headers: dict[str, str], body: bytes) -> _Action:
        """Account for one request; return what to do: ``ok``, ``fail`` or ``lose``."""
        with self._cond:
            self.requests.append(headers)
            self.arrivals.append(time.monotonic())
            action = self._script.popleft() if self._script else _OK
            if action[0] == "fail":
                self.errors_sent += 1
                return action
        records = self.parse(body, headers)
        key = headers.get("idempotency-key")
        with self._cond:
            if key is not None and key in self._keys:
                self.duplicates += 1
                self.duplicate_records += len(records)
            else:
                if key is not None:
                    self._keys.add(key)
                self.records.extend(records)
            self._cond.notify_all()
        return action

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = _IDLE

            def setup(self) -> None:
                super().setup()
                with collector._cond:
                    collector._connections.add(self.connection)

            def finish(self) -> None:
                with collector._cond:
                    collector._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if self.path != collector.path:
                    self._answer(404, b"no such path")
                    return
                limit = collector.max_body
                if limit is not None and length > limit:
                    with collector._cond:
                        collector.too_large += 1
                    self._answer(413, b"content too large", {"Content-Type": "text/plain"})
                    return
                headers = {name.lower(): value for name, value in self.headers.items()}
                if headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                action, status, retry_after, reply = collector._receive(headers, body)
                if action == "fail":
                    extra = {"Content-Type": "text/plain"}
                    if retry_after is not None:
                        extra["Retry-After"] = f"{retry_after:g}"
                    self._answer(status, reply, extra)
                elif action == "lose":
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                else:
                    self._answer(200, collector.reply, {"Content-Type": collector.reply_type})

            def _answer(
                self, status: int, body: bytes, headers: Mapping[str, str] | None = None
            ) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                """Stay quiet: the demo and the tests read the counts instead."""

        return Handler
