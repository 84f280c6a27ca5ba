"""The syslog sink: RFC 5424 messages over UDP, TCP, TLS or a unix socket.

Transports (RFC 5426, RFC 6587, RFC 5425):

- ``udp``: one datagram per message. Loss is silent, except that a refusal the kernel
  learns of (ICMP port unreachable on a connected socket) fails the next send, which is
  then retried.
- ``tcp`` and ``tls``: octet-counted frames, ``MSG-LEN SP SYSLOG-MSG`` (RFC 6587 §3.4.1),
  so a newline inside a message never splits it. TLS is 1.2 or newer, verifying the
  server's certificate against ``ca_file`` (else the system's CAs) and its name.
- ``unix``: a datagram socket (``/dev/log``), or a stream socket with octet-counted
  frames when the path is one.

Every socket call has the sink's timeout. A failed batch is retried on a new connection
after an exponential backoff with jitter, resuming after the messages that went out;
after ``max_attempts`` attempts, or when the sink is closing, the rest is given up
(counted ``failed`` and handed to the fallback sink). Everything runs on the sink's own
thread (``BackgroundSink``), so none of it delays tapelog's worker or the other sinks.
"""

from __future__ import annotations

import bisect
import errno
import itertools
import random
import select
import socket
import threading
import time
from typing import TYPE_CHECKING, Final, Literal, final

from tapelog._levels import WARNING
from tapelog.formats._rfc5424 import DEFAULT_SD_ID, Rfc5424Format
from tapelog.sinks._background import BackgroundSink
from tapelog.sinks._tls import client_context


if TYPE_CHECKING:
    import ssl
    from collections.abc import Sequence

    from tapelog.config._model import SinkConfig
    from tapelog.typing import EventDict, Formatter


__all__ = ["SyslogSink", "Transport"]

Transport = Literal["udp", "tcp", "tls", "unix"]
"""How messages travel: ``udp``, ``tcp`` and ``tls`` to a host and port, ``unix`` to a path."""

_TRANSPORTS: Final = ("udp", "tcp", "tls", "unix")
_DATAGRAM_MAX: Final = 65507  # the most one UDP datagram holds; unix datagrams get the same
_CHUNK: Final = 16 * 1024  # bytes per send(): one TLS record, and little to resend on a failure
_TLS_CLOSE_TIMEOUT: Final = 1.0
_REPORT_INTERVAL: Final = 60.0  # seconds between reports of truncated messages


class _SendError(Exception):
    """A send stopped early: ``sent`` messages had gone out when ``cause`` happened."""

    def __init__(self, sent: int, cause: OSError) -> None:
        super().__init__(sent, cause)
        self.sent = sent
        self.cause = cause


@final
class SyslogSink(BackgroundSink):
    """Sends entries to a syslog receiver as RFC 5424 messages, on its own thread.

    Args:
        transport: ``"udp"``, ``"tcp"``, ``"tls"`` or ``"unix"``.
        address: ``(host, port)``, or a socket path for ``unix``.
        format: renders each entry; by default JSON in MSG, facility ``user``.
        name: the sink's name in ``stats()``.
        timeout: seconds allowed for every connect, handshake and send.
        max_message_size: longer messages are shortened (``Rfc5424Format.render``).
        initial_delay: the first backoff, in seconds; it doubles per failed attempt.
        max_delay: the longest backoff, in seconds.
        max_attempts: attempts per batch before it is given up.
        ssl_context: for ``tls``; by default one that verifies against the system's CAs.

    Raises:
        ValueError: an unknown transport, or an address that does not fit it.
    """

    def __init__(
        self,
        transport: Transport,
        address: str | tuple[str, int],
        *,
        format: Rfc5424Format | None = None,  # noqa: A002 - the word the configuration uses
        name: str = "syslog",
        timeout: float = 5.0,
        max_message_size: int = 8192,
        initial_delay: float = 0.5,
        max_delay: float = 30.0,
        max_attempts: int = 5,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if transport not in _TRANSPORTS:
            msg = f"transport: expected one of {', '.join(_TRANSPORTS)}, got {transport!r}"
            raise ValueError(msg)
        if (transport == "unix") != isinstance(address, str):
            expected = "a socket path" if transport == "unix" else "a (host, port) pair"
            msg = f"address: expected {expected} for {transport}, got {address!r}"
            raise ValueError(msg)
        super().__init__(name)
        self.transport: Transport = transport
        self.address = address
        self.format = format or Rfc5424Format()
        self.timeout = timeout
        self.max_message_size = max_message_size
        if transport in {"udp", "unix"}:
            self.max_message_size = min(max_message_size, _DATAGRAM_MAX)
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.max_attempts = max_attempts
        self._would_block: tuple[type[OSError], ...] = (BlockingIOError,)
        self._ssl_context = ssl_context
        if transport == "tls":
            import ssl

            self._ssl_context = ssl_context or client_context()
            self._would_block = (BlockingIOError, ssl.SSLWantReadError)
        self.where = (
            f"unix://{address}"
            if isinstance(address, str)
            else f"{transport}://{_netloc(*address)}"
        )
        self._sock: socket.socket | None = None
        self._sock_lock = threading.Lock()
        self._down = False  # the last attempt failed: closing gives up without trying again
        self._truncated = 0  # written by the sink's thread only
        self._truncated_reported = 0  # read and written by tapelog's worker only
        self._next_report = 0.0

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> SyslogSink:
        """Build from a validated ``[[sinks]]`` table; ``formatter`` renders MSG.

        Raises:
            OSError: a TLS file cannot be read.
            ssl.SSLError: a TLS file is not a certificate or key.
        """
        options = config.options
        format_ = Rfc5424Format(
            app_name=options["app_name"],
            facility=options["facility"],
            sd_id=options["sd_id"] or DEFAULT_SD_ID,
            body=formatter if options["msg"] == "entry" else None,
            bom=options["bom"],
        )
        transport: Transport = options["transport"]
        address: str | tuple[str, int] = (
            options["socket_path"] if transport == "unix" else (options["host"], options["port"])
        )
        context = None
        if transport == "tls":
            context = client_context(options["ca_file"], options["cert_file"], options["key_file"])
        reconnect = options["reconnect"]
        return cls(
            transport,
            address,
            format=format_,
            name=config.name,
            timeout=options["timeout"],
            max_message_size=options["max_message_size"],
            initial_delay=reconnect["initial_delay"],
            max_delay=reconnect["max_delay"],
            max_attempts=reconnect["max_attempts"],
            ssl_context=context,
        )

    def __repr__(self) -> str:
        return f"SyslogSink({self.where!r}, name={self.name!r})"

    # -- delivery (the sink's thread) -------------------------------------------------

    def deliver(self, entries: list[EventDict]) -> None:
        """Send the batch, reconnecting with backoff; give up what is left at the end."""
        if not entries:
            return
        if self.stopping and self._down:
            self.give_up(entries, f"{self.name}: closing while {self.where} is unreachable")
            return
        messages = [self._render(entry) for entry in entries]
        start = 0
        failures = 0
        while True:
            try:
                self._send(self._connection(), messages, start)
            except (OSError, _SendError) as error:
                sent, cause = (
                    (error.sent, error.cause) if isinstance(error, _SendError) else (0, error)
                )
                self.counters.written += sent
                start += sent
                self._disconnect(graceful=False)
                self._down = True
                # Progress means the connection worked for a while: start the count again.
                failures = 1 if sent else failures + 1
                reason = f"{self.name}: {self.where}: {type(cause).__name__}: {cause}"
                if failures >= self.max_attempts or self.stopping:
                    self.give_up(entries[start:], reason)
                    return
                self.note_failure(reason)
                if self._sleep(self._backoff(failures)):
                    self.give_up(entries[start:], f"{reason} (closing)")
                    return
                self.counters.retried += 1
            else:
                self._down = False
                self.counters.written += len(messages) - start
                return

    def _render(self, entry: EventDict) -> bytes:
        message = self.format.render(entry)
        if len(message) > self.max_message_size:
            self._truncated += 1
            message = self.format.render(entry, self.max_message_size)
        return message

    def _backoff(self, failures: int) -> float:
        """Exponential, capped, with jitter: half to all of the nominal delay."""
        delay = min(self.max_delay, self.initial_delay * 2 ** (failures - 1))
        return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def _sleep(self, seconds: float) -> bool:
        """Wait out a backoff; True as soon as the sink is closing.

        ``wait_or_stop`` also returns early whenever a new batch or a flush wakes the
        thread, which would turn the backoff into a busy retry while entries keep coming.
        """
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self.wait_or_stop(remaining):
                return True
        return self.stopping

    def _send(self, sock: socket.socket, messages: Sequence[bytes], start: int) -> None:
        """Send ``messages[start:]``; raise ``_SendError`` saying how many went out."""
        if sock.type == socket.SOCK_DGRAM:
            for index in range(start, len(messages)):
                try:
                    sock.send(messages[index])
                except OSError as exc:
                    raise _SendError(index - start, exc) from exc
            return
        # RFC 6587 §3.4.1 octet counting: "MSG-LEN SP SYSLOG-MSG", no trailer.
        frames = [b"%d %b" % (len(message), message) for message in messages[start:]]
        ends = list(itertools.accumulate(len(frame) for frame in frames))
        data = b"".join(frames)
        done = 0
        with memoryview(data) as view:
            try:
                while done < len(data):
                    done += sock.send(view[done : done + _CHUNK])
            except OSError as exc:
                # Frames wholly handed to the kernel count as sent; a partial one is sent
                # again, whole, on the next connection (the receiver drops the stub).
                raise _SendError(bisect.bisect_right(ends, done), exc) from exc

    # -- the connection (the sink's thread, and close) ------------------------------------

    def _connection(self) -> socket.socket:
        """The open socket, after checking that a stream's receiver has not closed it."""
        sock = self._sock
        if sock is not None and sock.type == socket.SOCK_STREAM and self._peer_closed(sock):
            self._disconnect(graceful=False)
            sock = None
        if sock is None:
            sock = self._connect()
            with self._sock_lock:
                self._sock = sock
        return sock

    def _connect(self) -> socket.socket:
        if isinstance(self.address, str):
            return self._connect_unix(self.address)
        host, port = self.address
        if self.transport == "udp":
            family, kind, proto, _, sockaddr = socket.getaddrinfo(
                host, port, type=socket.SOCK_DGRAM
            )[0]
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(self.timeout)
                sock.connect(sockaddr)  # a connected socket learns of refusals (ICMP)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((host, port), timeout=self.timeout)
        try:
            _refuse_self_connection(sock)
            if self._ssl_context is None:
                return sock
            # The handshake runs under the socket's timeout too.
            return self._ssl_context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise

    def _connect_unix(self, path: str) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(path)
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EPROTOTYPE:
                raise
        else:
            return sock
        # The path is a stream socket (syslog-ng's unix-stream, say).
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.timeout)
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        return sock

    def _peer_closed(self, sock: socket.socket) -> bool:
        """Whether the receiver closed the stream (a syslog receiver never sends).

        Without this check, the first batch after a receiver restarts would be written
        into a dead connection and lost: only the send after it would fail.
        """
        try:
            if not _readable(sock):
                return False
            sock.settimeout(0.0)  # non-blocking
            try:
                data = sock.recv(4096)
            finally:
                sock.settimeout(self.timeout)
        except self._would_block:  # TLS: a post-handshake message, not application data
            return False
        except (OSError, ValueError):
            return True
        return not data

    def _disconnect(self, *, graceful: bool) -> None:
        with self._sock_lock:
            sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            if graceful and self.transport == "tls":
                import ssl  # loaded already: this sink made a TLS context

                if isinstance(sock, ssl.SSLSocket):
                    # Send close_notify, so the receiver sees a proper end of the stream.
                    sock.settimeout(_TLS_CLOSE_TIMEOUT)
                    sock.unwrap().close()
        except (OSError, ValueError):
            pass  # the receiver closed first, or the shutdown timed out: close anyway
        finally:
            sock.close()

    # -- BackgroundSink hooks ---------------------------------------------------------

    def close_transport(self) -> None:
        """Close the connection (TLS: with close_notify first)."""
        self._disconnect(graceful=True)
        self._down = False

    def after_fork(self) -> None:
        """Let go of the parent's socket; the child connects on its first batch."""
        super().after_fork()
        self._sock_lock = threading.Lock()
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()  # closes the child's descriptor only; the parent's stays open
        self._down = False

    def periodic(self) -> list[tuple[int, str, dict[str, object]]]:
        """Report messages shortened to ``max_message_size`` (at most once a minute)."""
        truncated = self._truncated - self._truncated_reported
        now = time.monotonic()
        if not truncated or now < self._next_report:
            return []
        self._truncated_reported += truncated
        self._next_report = now + _REPORT_INTERVAL
        message = f"{truncated} syslog messages shortened to {self.max_message_size} octets"
        fields: dict[str, object] = {
            "event": "tapelog.syslog_truncated",
            "sink": self.name,
            "truncated": truncated,
            "max_message_size": self.max_message_size,
        }
        return [(WARNING, message, fields)]


def _refuse_self_connection(sock: socket.socket) -> None:
    """Raise if a TCP socket connected to itself.

    With nothing listening on a local port in the ephemeral range, a retry can draw that
    very port as its source and connect to itself (TCP simultaneous open); everything sent
    would count as delivered and vanish.
    """
    if sock.getsockname() == sock.getpeername():
        raise ConnectionRefusedError(errno.ECONNREFUSED, "connected to itself")


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _readable(sock: socket.socket) -> bool:
    """Whether reading would not block; poll() where it exists (select() stops at 1024 fds)."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
