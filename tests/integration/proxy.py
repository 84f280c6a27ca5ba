"""A small HTTP proxy on 127.0.0.1 for the http sink's tests: CONNECT tunnels and forwarding.

It records each request it is asked for (method, target, ``Proxy-Authorization``) and, when
given credentials, answers 407 to requests without them. Forwarded requests are sent on
with ``http.client``; tunnels copy bytes both ways until either side closes.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import socketserver
import threading
from typing import Any
from urllib.parse import urlsplit


_IDLE = 5.0  # seconds a connection may sit idle before the proxy closes it


class Proxy:
    """A forwarding and tunnelling proxy; ``url`` is what a sink's ``proxy`` option takes.

    Listening from creation; ``close()`` stops it (``contextlib.closing`` suits it).
    """

    def __init__(self, authorization: str | None = None) -> None:
        self.authorization = authorization
        self.requests: list[tuple[str, str, str | None]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = _IDLE

            def handle(self) -> None:
                with contextlib.suppress(OSError, ValueError):
                    while proxy._serve_one(self):
                        pass

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- one request --------------------------------------------------------------

    def _serve_one(self, handler: socketserver.StreamRequestHandler) -> bool:
        """Answer one request on a client connection; False when the connection is done."""
        line = handler.rfile.readline(65537).decode("latin-1").strip()
        if not line:
            return False
        method, target, _ = line.split(" ", 2)
        headers: dict[str, str] = {}
        while (header := handler.rfile.readline(65537).decode("latin-1").strip()) != "":
            name, _, value = header.partition(":")
            headers[name.strip().lower()] = value.strip()
        given = headers.pop("proxy-authorization", None)
        with self._lock:
            self.requests.append((method, target, given))
        body = handler.rfile.read(int(headers.get("content-length", "0") or 0))
        if self.authorization is not None and given != self.authorization:
            handler.wfile.write(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
            )
            return method != "CONNECT"
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=_IDLE)
            handler.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            _pipe(handler.connection, upstream)
            return False
        parts = urlsplit(target)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=_IDLE)
        try:
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
        finally:
            conn.close()
        head = [f"HTTP/1.1 {response.status} {response.reason}"]
        for name, value in response.getheaders():
            if name.lower() not in {"connection", "content-length", "transfer-encoding"}:
                head.append(f"{name}: {value}")
        head.append(f"Content-Length: {len(data)}")
        handler.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        return True


def _pipe(client: Any, upstream: socket.socket) -> None:
    """Copy bytes both ways until either side closes or stays quiet for ``_IDLE`` seconds."""
    with upstream:
        sockets = [client, upstream]
        while True:
            readable, _, _ = select.select(sockets, [], [], _IDLE)
            if not readable:
                return
            for source in readable:
                data = source.recv(65536)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
