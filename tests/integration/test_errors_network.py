"""Seed scenario: a failed API call logs connection details, an error code and the stack trace.

Against real sockets on 127.0.0.1: a port nobody listens on, and a local HTTP server that
answers 503.
"""

from __future__ import annotations

import contextlib
import errno
import http.client
import http.server
import json
import socket
import threading
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need

import tapelog
from tapelog.errors import ErrorInfo, capture
from tapelog.testing import capture as capture_entries


if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(name="closed_port")
def _closed_port() -> int:
    """A port on 127.0.0.1 that was just bound and closed: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class _Unavailable(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"error": "maintenance"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        del format, args


@pytest.fixture(name="unavailable")
def _unavailable() -> Iterator[int]:
    """A real HTTP server on 127.0.0.1 that answers every GET with 503."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _logged(call: Any, validator: Any) -> dict[str, Any]:
    log = tapelog.get_logger("exchange.api").bind(venue="binance")
    with capture_entries() as entries:
        try:
            call()
        except Exception:
            log.exception("order submission failed", cl_ord_id="c-1")
        tapelog.flush()
    (entry,) = entries
    assert [] == [str(e) for e in validator.iter_errors(entry)]
    # The stack trace is there, and the object renders it again.
    assert entry["error"]["stack_trace"] == ErrorInfo.from_dict(entry["error"]).render()
    assert entry["error"]["stack_trace"].startswith("Traceback (most recent call last):\n")
    return entry


def test_refused_socket_connection(closed_port: int, validator: Any) -> None:
    """socket.create_connection refused: the code, errno and the address it was given."""
    entry = _logged(
        lambda: socket.create_connection(("127.0.0.1", closed_port), timeout=5), validator
    )
    error = entry["error"]

    assert ("ConnectionRefusedError", "ECONNREFUSED", errno.ECONNREFUSED) == (
        error["type"],
        error["code"],
        error["errno"],
    )
    assert ("127.0.0.1", closed_port) == (error["server.address"], error["server.port"])
    assert ("binance", "c-1") == (entry["venue"], entry["cl_ord_id"])


def test_refused_urllib_request(closed_port: int, validator: Any) -> None:
    """urllib wraps the refusal in URLError: the facts still come out, the token redacted."""
    url = f"http://127.0.0.1:{closed_port}/api/v3/order?symbol=BTCUSDT&token=s3cr3t"
    entry = _logged(lambda: urllib.request.urlopen(url, timeout=5), validator)
    error = entry["error"]

    assert ("urllib.error.URLError", "ECONNREFUSED") == (error["type"], error["code"])
    assert ("127.0.0.1", closed_port) == (error["server.address"], error["server.port"])
    assert error["url.full"].startswith(f"http://127.0.0.1:{closed_port}/api/v3/order?")
    assert "s3cr3t" not in json.dumps(entry)


def test_refused_http_client(closed_port: int, validator: Any) -> None:
    def call() -> None:
        with contextlib.closing(
            http.client.HTTPConnection("127.0.0.1", closed_port, timeout=5)
        ) as conn:
            conn.request("GET", "/health")

    error = _logged(call, validator)["error"]

    assert ("ECONNREFUSED", "127.0.0.1", closed_port) == (
        error["code"],
        error["server.address"],
        error["server.port"],
    )


def test_http_503_from_a_local_server(unavailable: int, validator: Any) -> None:
    """An HTTP error status: the status code, the URL (redacted) and the server."""
    url = f"http://127.0.0.1:{unavailable}/api/v3/order?api_key=k-123"
    entry = _logged(lambda: urllib.request.urlopen(url, timeout=5), validator)
    error = entry["error"]

    assert ("urllib.error.HTTPError", "503", 503) == (
        error["type"],
        error["code"],
        error["http.response.status_code"],
    )
    assert ("127.0.0.1", unavailable) == (error["server.address"], error["server.port"])
    assert "k-123" not in json.dumps(entry)
    assert "HTTP Error 503: Service Unavailable" == error["message"]


def test_timeout_gets_its_code() -> None:
    """A read that times out says ETIMEDOUT (a listening socket that never answers)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=0.05) as client:
            try:
                client.recv(1)
            except TimeoutError as exc:
                info = capture(exc)

    assert "ETIMEDOUT" == info.network["code"]


def test_name_resolution_failure_code() -> None:
    """A name that cannot resolve gives the resolver's code (EAI_NONAME and kin)."""
    try:
        socket.getaddrinfo("name.invalid", 80)
    except socket.gaierror as exc:
        info = capture(exc)
    else:  # pragma: no cover - a resolver that answers for .invalid
        need(False, "this resolver answers for .invalid")
        return

    assert str(info.network["code"]).startswith("EAI_")


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status


class _Request:
    def __init__(self, url: str) -> None:
        self.url = url


class HTTPStatusError(Exception):
    """Shaped as httpx's and requests' HTTP errors: request and response on the exception."""

    def __init__(self, url: str, status: int) -> None:
        super().__init__(f"Server error '{status}' for url '{url}'")
        self.request = _Request(url)
        self.response = _Response(status)


class ClientConnectorError(OSError):
    """Shaped as aiohttp's connector error: host and port on the exception."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(errno.ECONNREFUSED, "Connect call failed")
        self.host = host
        self.port = port


def test_http_client_exceptions_are_read_by_shape() -> None:
    """httpx, requests and aiohttp are not dependencies: their errors are read by shape."""
    status = capture(HTTPStatusError("https://api.example:8443/v1/orders?token=abc", 502))
    connector = capture(ClientConnectorError("exchange.example", 443))

    assert {
        "http.response.status_code": 502,
        "code": "502",
        "url.full": "https://api.example:8443/v1/orders?token=[REDACTED]",
        "server.address": "api.example",
        "server.port": 8443,
    } == dict(status.network)
    assert ("ECONNREFUSED", "exchange.example", 443) == (
        connector.network["code"],
        connector.network["server.address"],
        connector.network["server.port"],
    )
