"""The http sink: NDJSON batches over HTTP POST, retried with backoff, spooled while undeliverable.

``DeliverySink`` is the engine the ``http`` and ``otlp`` sinks share; they differ only in
how a batch is encoded and how a response is read. On the sink's own thread (see
``_background``), one batch at a time:

1. ``Batcher`` collects entries until ``max_records``, ``max_bytes`` or ``max_delay``.
2. With nothing waiting and no backoff running, the batch is POSTed once. A 2xx counts it
   ``written``; a refusal for good (other 4xx) sets it aside (``poison/`` in the spool
   directory) and counts it ``failed``; a connection error, a timeout, 408, 429 or 5xx parks
   it in the spool (``spooled``) and starts a backoff.
3. While anything is parked, new batches are parked behind it, so order is kept; the
   oldest parked batch is retried when the backoff (or the receiver's ``Retry-After``)
   runs out, and the spool drains in order once the receiver answers again.

Every attempt of a batch carries the same ``Idempotency-Key`` header, also across
restarts (it is stored with the parked batch), so a receiver can drop the duplicates that
at-least-once delivery allows. Headers given in the configuration are sent and never
appear in a report: failure reasons are scrubbed of their values.
"""

from __future__ import annotations

import contextlib
import gzip
import http.client
import re
import socket
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Generic, Protocol, TypeVar, final
from urllib.parse import urlsplit

from tapelog._levels import INFO, WARNING
from tapelog._version import __version__
from tapelog.exceptions import SinkError
from tapelog.formats._json import JsonFormat
from tapelog.sinks._background import BackgroundSink
from tapelog.sinks._base import render_batch
from tapelog.sinks._batching import (
    Backlog,
    Batch,
    Batcher,
    DecodedBatch,
    MemorySpool,
    Outcome,
    Parked,
    RetryPolicy,
    parse_retry_after,
)
from tapelog.sinks._proxy import Proxy, proxy_for
from tapelog.sinks._spool import DiskSpool, close_spool, open_spool
from tapelog.sinks._tls import client_context


if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Mapping, Sequence

    from tapelog.config._model import SinkConfig
    from tapelog.typing import EventDict, Formatter


__all__ = ["IDEMPOTENCY_HEADER", "DeliverySink", "Encoder", "HttpSink", "HttpTransport", "Response"]

IDEMPOTENCY_HEADER: Final = "Idempotency-Key"
"""The header carrying a batch's key (IETF draft-ietf-httpapi-idempotency-key-header)."""

_USER_AGENT: Final = f"tapelog/{__version__}"
_MAX_RESPONSE: Final = 64 * 1024  # read at most this much of a response body
_EXCERPT: Final = 200  # characters of a response body quoted in a failure reason
_TOO_LARGE: Final = 413  # Content Too Large: the batch is sent again in halves
_MEMORY_SPOOL_MAX: Final = 16 * 1024 * 1024  # without spool_dir, retries wait in memory up to this
_DRAIN_BUDGET: Final = 1.0  # seconds of spool draining per turn, so new batches keep moving
_STALLED: Final = 0.1  # seconds to wait when another sink is attempting the oldest batch
_ADOPT_INTERVAL: Final = 60.0  # seconds between looks for spools of processes that exited
_MIN_SECRET: Final = 3  # header values shorter than this are not scrubbed (too common)
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]+")

T = TypeVar("T")


# -- transport ------------------------------------------------------------------------


@final
@dataclass(frozen=True, slots=True)
class Response:
    """What came back for one POST."""

    status: int
    reason: str
    headers: Mapping[str, str]
    """Header names in lowercase."""
    body: bytes
    """At most 64 KiB of the body."""
    resent: bool = False
    """The request went out twice: the kept-alive connection had been closed."""


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if type(exc).__name__ in text else f"{type(exc).__name__}: {text}"


@final
class HttpTransport:
    """One kept-alive HTTP/1.1 connection to one URL, reopened after any failure.

    Every network call (connect, send, each read) times out after ``timeout`` seconds.
    Name resolution is the exception: ``getaddrinfo`` has no timeout; use an IP address
    where a hung resolver matters.

    Args:
        url: an ``http://`` or ``https://`` URL (validated by the configuration).
        timeout: seconds per network call.
        context: for ``https://``; by default one verifying against the system's CAs.
        proxy: an HTTP proxy to go through: ``CONNECT`` for ``https://`` (TLS stays end
            to end), an absolute request line for ``http://``.
    """

    def __init__(
        self,
        url: str,
        timeout: float,
        context: ssl.SSLContext | None = None,
        proxy: Proxy | None = None,
    ) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if self.https else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None
        self.context = context
        self.proxy = proxy
        self._proxy_headers: dict[str, str] = {}
        if proxy is not None:
            if proxy.authorization is not None:
                self._proxy_headers["Proxy-Authorization"] = proxy.authorization
            if not self.https:  # the absolute form, which a proxy forwards
                netloc = f"[{self.host}]" if ":" in self.host else self.host
                self.target = f"http://{netloc}:{self.port}{self.target}"

    def _connect(self) -> http.client.HTTPConnection:
        proxy = self.proxy
        host, port = (self.host, self.port) if proxy is None else (proxy.host, proxy.port)
        if not self.https:
            return http.client.HTTPConnection(host, port, timeout=self.timeout)
        if self.context is None:
            self.context = client_context()
        conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self.context)
        if proxy is not None:
            conn.set_tunnel(self.host, self.port, headers=self._proxy_headers)
        return conn

    @property
    def where(self) -> str:
        """The receiver, and the proxy in between, for error messages."""
        where = f"{self.host}:{self.port}"
        proxy = self.proxy
        return where if proxy is None else f"{where} via proxy {proxy.host}:{proxy.port}"

    def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        """POST ``body`` and read the response.

        A request on a kept-alive connection that the server had closed meanwhile is sent
        once more on a new connection (``Response.resent``).

        Raises:
            SinkError: the connection failed or timed out, or the response was garbled.
        """
        resent = False
        while True:
            reused = self._conn is not None
            conn = self._conn if self._conn is not None else self._connect()
            self._conn = conn
            try:
                sent = dict(headers) if self.https else {**headers, **self._proxy_headers}
                conn.request("POST", self.target, body=body, headers=sent)
                response = conn.getresponse()
                data = response.read(_MAX_RESPONSE + 1)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                self.close()
                if reused and not resent:
                    resent = True
                    continue
                msg = f"{self.where}: {_describe(exc)}"
                raise SinkError(msg) from exc
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                msg = f"{self.where}: {_describe(exc)}"
                raise SinkError(msg) from exc
            except BaseException:
                self.close()  # half-used: the next attempt starts on a new connection
                raise
            if response.will_close or not response.isclosed():
                self.close()  # the server closes, or we left part of the body unread
            headers_in = {name.lower(): value for name, value in response.getheaders()}
            return Response(
                response.status, response.reason, headers_in, data[:_MAX_RESPONSE], resent
            )

    def close(self) -> None:
        """Close the connection; the next ``post`` opens a new one."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def abort(self) -> None:
        """From another thread: end a call in progress now (it fails with an error)."""
        conn = self._conn
        sock = conn.sock if conn is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# -- encoding -------------------------------------------------------------------------


class Encoder(Protocol[T]):
    """Turns entries into a request body: each entry once (``prepare``), then the batch."""

    @property
    def content_type(self) -> str:
        """The body's media type."""
        ...

    def prepare(self, entry: EventDict) -> tuple[T, int]:
        """Encode one entry; return it and its size in bytes. Never raises."""
        ...

    def encode(self, prepared: Sequence[T]) -> bytes:
        """Build the body of a batch from its prepared entries."""
        ...


@final
class NdjsonEncoder:
    """One formatted line per entry, the lines joined: NDJSON with the json format."""

    def __init__(self, formatter: Formatter) -> None:
        self.formatter = formatter
        json = isinstance(formatter, JsonFormat)
        self.content_type = "application/x-ndjson" if json else "text/plain; charset=utf-8"

    def prepare(self, entry: EventDict) -> tuple[bytes, int]:
        """Format the entry (a formatter that fails still gives one valid line)."""
        line = bytes(render_batch(self.formatter, (entry,)))
        return line, len(line)

    def encode(self, prepared: Sequence[bytes]) -> bytes:
        """Join the lines."""
        return b"".join(prepared)


# -- the engine -----------------------------------------------------------------------


class DeliverySink(BackgroundSink, Generic[T]):
    """Batches, sends, retries and spools; the base of ``HttpSink`` and ``OtlpSink``.

    Subclasses pass an ``Encoder`` and may override ``classify`` (how a response reads).

    Args:
        name: the sink's name.
        url: where batches are POSTed.
        encoder: builds request bodies.
        headers: sent with every request; their values never appear in a report.
        gzip: compress bodies (``Content-Encoding: gzip``).
        timeout: seconds per network call.
        max_records: entries per batch.
        max_bytes: bytes per batch before compression.
        max_delay: seconds the first entry of a batch waits for more.
        retry: the backoff policy.
        spool_dir: where undelivered batches wait on disk; None keeps them in memory
            (at most 16 MiB, and ``retry.max_attempts`` attempts each).
        spool_max_size: the cap on the spool, oldest batches dropped (counted failed).
        ca_file: for ``https://``: PEM certificates to trust instead of the system's CAs.
        cert_file: for ``https://``: a client certificate, for receivers that ask for one.
        key_file: the client certificate's key, when ``cert_file`` does not hold it.
        proxy: an ``http://`` proxy URL, ``"none"``, or None to follow ``HTTPS_PROXY``,
            ``HTTP_PROXY`` and ``NO_PROXY`` (loopback receivers are reached directly).
        clock: a monotonic clock; injected by tests.

    Raises:
        SinkError: the spool directory cannot be created or locked.
        OSError: a TLS file cannot be read.
        ssl.SSLError: a TLS file holds no usable certificate or key.
        ValueError: the proxy URL (given, or from the environment) cannot be read.
    """

    def __init__(
        self,
        name: str,
        url: str,
        encoder: Encoder[T],
        *,
        headers: Mapping[str, str] | None = None,
        gzip: bool = False,
        timeout: float = 10.0,
        max_records: int = 1000,
        max_bytes: int = 1 << 20,
        max_delay: float = 1.0,
        retry: RetryPolicy | None = None,
        spool_dir: str | None = None,
        spool_max_size: int = 100 << 20,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        proxy: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name)
        self.url = url
        self.encoder = encoder
        self.gzip = gzip
        self.retry = retry if retry is not None else RetryPolicy()
        self.spool_dir = spool_dir
        self.spool_max_size = spool_max_size
        context = None
        if urlsplit(url).scheme == "https" and (ca_file or cert_file):
            context = client_context(ca_file, cert_file, key_file)
        self._transport = HttpTransport(url, timeout, context, proxy_for(url, proxy))
        self._headers = dict(headers or {})
        self._secrets = sorted(
            (value for value in self._headers.values() if len(value) >= _MIN_SECRET),
            key=len,
            reverse=True,
        )
        self._clock = clock
        self._batcher: Batcher[T] = Batcher(max_records, max_bytes, max_delay, clock)
        self._ready: deque[Batch[T]] = deque()  # cut, not yet counted (see abandon)
        self._sending: Batch[T] | None = None  # being attempted, not yet counted
        self._closed_out = False  # shutdown stopped waiting for this sink's thread
        self._memory: MemorySpool | None = None
        self._disk: DiskSpool | None = None
        self._streak = 0  # consecutive failed attempts
        self._next_attempt = 0.0  # clock time before which nothing is attempted
        self._events: deque[tuple[int, str, dict[str, object]]] = deque()
        self._inherited = [0, 0, 0]  # batches left by earlier runs; entries delivered; failed
        self._last_adopt = clock()
        if spool_dir is None:
            self._memory = MemorySpool(min(spool_max_size, _MEMORY_SPOOL_MAX))
        else:
            self._open_disk()
            if self._backlog_batches():
                self.start()  # replay what an earlier run left, without waiting for a log call

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, url={self.url!r})"

    # -- the spool ----------------------------------------------------------------

    def _open_disk(self) -> DiskSpool:
        assert self.spool_dir is not None  # only called with a spool_dir
        disk = self._disk = open_spool(self.spool_dir, self.spool_max_size)
        self._report_recovered(disk)
        return disk

    def _report_recovered(self, disk: DiskSpool) -> None:
        batches, entries = disk.take_recovered()
        if batches:
            self._inherited[0] += batches
            fields: dict[str, object] = {
                "event": "tapelog.spool_recovered",
                "sink": self.name,
                "batches": batches,
                "entries": entries,
                "corrupt_files": disk.corrupt_files,
                "spool_dir": str(disk.directory),
            }
            message = f"sink {self.name!r}: {entries} entries left by an earlier run, resending"
            self._events.append((INFO, message, fields))

    @property
    def _spool(self) -> Backlog:
        if self._memory is not None:
            return self._memory
        return self._disk if self._disk is not None else self._open_disk()

    def _backlog_batches(self) -> int:
        # Lock-free reads of ints: called from next_tick, under the base's lock.
        if self._memory is not None:
            return self._memory.entries
        return self._disk.batches if self._disk is not None else 0

    @property
    def backlog(self) -> int:
        """Entries waiting in the spool now, including any an earlier run left."""
        spool = self._memory if self._memory is not None else self._disk
        return spool.entries if spool is not None else 0

    # -- the thread's work ----------------------------------------------------------

    def deliver(self, entries: list[EventDict]) -> None:
        """Batch the entries; send what is ready; retry the spool if its time has come."""
        prepare, add, ready = self.encoder.prepare, self._batcher.add, self._ready
        taken = 0
        try:
            for entry in entries:
                prepared, size = prepare(entry)
                ready.extend(add(entry, prepared, size))
                taken += 1
                self._send_ready()
            due = self._batcher.due_in()
            if due is not None and due <= 0:
                ready.append(self._batcher.cut())
                self._send_ready()
            self._drain(_DRAIN_BUDGET)
        except Exception as exc:  # whatever held is counted, never lost
            self.abandon(exc, entries[taken:])

    def _send_ready(self) -> None:
        """Send the batches cut so far; ``_sending`` holds each until it is counted."""
        ready = self._ready
        while ready and not self._closed_out:
            batch = self._sending = ready.popleft()
            self._send_new(batch)
            self._sending = None

    def abandon(self, exc: BaseException, rest: Sequence[EventDict] = ()) -> None:
        """Something raised on this sink's thread: give up what it held, uncounted.

        Every entry it held and had not counted yet is counted failed, reported and
        handed to the fallback, so none vanishes.
        """
        held = list(self._sending.entries) if self._sending is not None else []
        self._sending = None
        held.extend(entry for batch in self._ready for entry in batch.entries)
        self._ready.clear()
        held.extend(self._batcher.cut().entries)
        held.extend(rest)
        reason = f"sink error: {type(exc).__name__}: {self._scrub(str(exc))}"
        if held:
            self.give_up(held, reason)
        else:
            self.note_failure(reason)

    def next_tick(self) -> float | None:
        """When the held batch is due, or the spool's next attempt."""
        due = self._batcher.due_in()
        if self._backlog_batches():
            retry_in = self._next_attempt - self._clock()
            due = retry_in if due is None else min(due, retry_in)
        return due

    def tick(self, *, force: bool) -> None:
        """Send the held batch when due (or forced), then retry the spool if its time has come."""
        due = self._batcher.due_in()
        if due is not None and (force or due <= 0):
            self._ready.append(self._batcher.cut())
            self._send_ready()
        # Closing: the spool may drain for what is left of the close's time (the receiver
        # is up), at most half the flush timeout.
        self._drain(self.closing_budget() if self.stopping else _DRAIN_BUDGET)
        if self.stopping and self._memory is not None:
            for parked in self._memory.take_all():
                self._settle(parked, self._memory.load(parked), "closed before delivery")
        if self._disk is not None and self._clock() - self._last_adopt > _ADOPT_INTERVAL:
            self._last_adopt = self._clock()
            if self._disk.adopt_orphans():
                self._report_recovered(self._disk)

    def _in_backoff(self) -> bool:
        return self._next_attempt > 0 and self._clock() < self._next_attempt

    def _send_new(self, batch: Batch[T]) -> None:
        if not batch.entries:
            return
        if self._backlog_batches() or self._in_backoff():
            self._park(batch, attempts=0)  # behind what waits already: order is kept
            return
        if self.spool_dir is not None:
            self._send_spooled(batch)
            return
        outcome = self._attempt(batch.prepared, batch.key)
        if self._closed_out:
            return  # shutdown stopped waiting and counted this batch already
        if outcome.kind == "ok":
            self._sending = None
            self._delivered(outcome)
            self.counters.written += len(batch.entries) - outcome.rejected
            self.counters.failed += outcome.rejected
        elif outcome.kind == "poison":
            self._sending = None
            self.give_up(batch.entries, self._set_aside(batch.key, batch.entries, outcome))
        else:
            self._failed(outcome)
            self._park(batch, attempts=1)

    def _send_spooled(self, batch: Batch[T]) -> None:
        """With a disk spool: write the batch down (fsynced), then attempt it.

        So a process killed during the attempt (a receiver that never answers, then
        SIGKILL) leaves the batch on disk for the next one. The batch counts as
        ``spooled`` from the write, and moves to ``written`` once the receiver answers.
        The attempt uses the entries already encoded in memory; the file is only read
        back if this attempt fails.
        """
        parked = self._park(batch, attempts=1, hold=True, sync=False)
        if parked is None:
            return  # given up (spool full, or the disk refused): counted failed
        spool = self._spool
        try:
            outcome = self._attempt(batch.prepared, batch.key)
        except Exception as exc:  # on disk and counted: retried later, like a timeout
            outcome = Outcome("retry", self._scrub(f"{type(exc).__name__}: {exc}"))
        if self._closed_out:
            return  # shutdown gave up waiting for this attempt: the batch stays on disk
        decoded = DecodedBatch(batch.key, len(batch.entries), batch.entries)
        if not self._answered(parked, decoded, outcome):
            spool.sync(parked)  # it will wait: now make it survive a power loss too
            spool.release(parked)

    def _answered(self, parked: Parked, decoded: DecodedBatch, outcome: Outcome) -> bool:
        """Settle a parked batch the receiver took, or refused for good (set aside).

        Returns False, having counted the failure, for a batch to try again.
        """
        if outcome.kind == "ok":
            self._spool.ack(parked)
            self._delivered(outcome)
            self._settle(parked, decoded, outcome.reason, delivered=outcome)
        elif outcome.kind == "poison":
            self._spool.ack(parked)
            reason = self._set_aside(parked.key, decoded.entries, outcome)
            self._settle(parked, decoded, reason)
        else:
            self._failed(outcome)
            return False
        return True

    def _park(
        self, batch: Batch[T], attempts: int, *, hold: bool = False, sync: bool = True
    ) -> Parked | None:
        try:
            parked, dropped = self._spool.put(
                batch.key,
                batch.entries,
                self.counters,
                prepared=batch.prepared,
                size=batch.size,
                hold=hold,
                sync=sync,
            )
        except SinkError as exc:
            self._sending = None
            self.give_up(batch.entries, exc)
            return None
        for old in dropped:
            decoded = DecodedBatch(old.parked.key, old.parked.count, old.entries)
            self._settle(old.parked, decoded, "spool full: the oldest batch was dropped")
        self._sending = None  # counted below: spooled, or failed
        if parked is None:
            self.give_up(batch.entries, f"a batch of {batch.size} bytes exceeds the spool's cap")
            return None
        parked.attempts = attempts
        self.counters.spooled += len(batch.entries)
        return parked

    def _drain(self, budget: float) -> None:
        """Retry parked batches, oldest first, until one fails or ``budget`` seconds pass."""
        deadline = self._clock() + budget
        while self._backlog_batches() and not self._in_backoff() and self._clock() < deadline:
            spool = self._spool
            parked = spool.head()
            if parked is None:
                self._next_attempt = self._clock() + _STALLED  # another sink has it
                return
            decoded = spool.load(parked)
            if not decoded.entries:
                spool.ack(parked)
                self._settle(parked, decoded, "the spool file could not be read")
                continue
            if parked.attempts:
                self.counters.retried += 1
            parked.attempts += 1
            prepared = parked.prepared
            if prepared is None or len(prepared) != len(decoded.entries):
                prepared = [self.encoder.prepare(entry)[0] for entry in decoded.entries]
            try:
                outcome = self._attempt(prepared, decoded.key or parked.key)
            except BaseException:
                spool.release(parked)  # still parked and counted: tried again later
                raise
            if self._closed_out:
                return  # shutdown stopped waiting: it dealt with the spool
            if self._answered(parked, decoded, outcome):
                continue
            if not spool.durable and parked.attempts >= self.retry.max_attempts:
                spool.ack(parked)
                reason = f"gave up after {parked.attempts} attempts: {outcome.reason}"
                self._settle(parked, decoded, reason)
            else:
                spool.release(parked)

    def _attempt(self, prepared: Sequence[T], key: str) -> Outcome:
        """Send a batch; one the receiver refuses as too large (413) goes again in halves."""
        outcome = self._attempt_once(prepared, key)
        if outcome.kind != "poison" or outcome.status != _TOO_LARGE or len(prepared) < 2:  # noqa: PLR2004 - a batch of two or more can be halved
            return outcome
        return self._attempt_halves(prepared, key)

    def _attempt_halves(self, prepared: Sequence[T], key: str) -> Outcome:
        """Deliver a batch too large for the receiver as two halves, each halved again if needed.

        A half goes under the batch's idempotency key plus ``.a`` or ``.b``: a retry of the
        whole batch splits it the same way, so a receiver that deduplicates by key takes
        each half once. A half refused for good (an entry too large even alone, or another
        refusal) counts its entries as rejected; a half to be retried has the whole batch
        retried.
        """
        middle = len(prepared) // 2
        rejected = 0
        reason = ""
        for part, suffix in ((prepared[:middle], "a"), (prepared[middle:], "b")):
            outcome = self._attempt(part, f"{key}.{suffix}")
            if outcome.kind == "retry":
                return outcome
            refused = len(part) if outcome.kind == "poison" else outcome.rejected
            if refused:
                rejected += refused
                reason = reason or outcome.reason
        if rejected == len(prepared):
            return Outcome("poison", reason, _TOO_LARGE)
        if rejected:
            reason = f"{rejected} of {len(prepared)} entries refused: {reason}"
        return Outcome("ok", reason, rejected=rejected)

    def _attempt_once(self, prepared: Sequence[T], key: str) -> Outcome:
        try:
            body = self.encoder.encode(prepared)
        except Exception as exc:  # a batch that cannot be encoded never will be
            return Outcome("poison", f"cannot encode the batch: {type(exc).__name__}: {exc}")
        headers = {
            **self._headers,
            "Content-Type": self.encoder.content_type,
            IDEMPOTENCY_HEADER: key,
            "User-Agent": _USER_AGENT,
        }
        if self.gzip:
            # mtime=0: every attempt of a batch sends the same bytes.
            body = gzip.compress(body, compresslevel=6, mtime=0)
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._transport.post(body, headers)
        except SinkError as exc:
            return Outcome("retry", self._scrub(str(exc)))
        if response.resent:
            self.counters.retried += 1
        outcome = self.classify(response, len(prepared))
        return Outcome(
            outcome.kind,
            self._scrub(outcome.reason),
            outcome.status,
            outcome.retry_after,
            outcome.rejected,
            response.resent,
        )

    def classify(self, response: Response, count: int) -> Outcome:  # noqa: ARG002 - for OTLP
        """Read a response: 2xx delivered; 408, 429 and 5xx retried; anything else refused."""
        status = response.status
        if 200 <= status < 300:  # noqa: PLR2004 - the success range
            return Outcome("ok", status=status)
        reason = _status_text(response)
        if status in {408, 429} or status >= 500:  # noqa: PLR2004 - server errors
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return Outcome("retry", reason, status, retry_after)
        return Outcome("poison", reason, status)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[REDACTED]")
        return text

    # -- outcomes -------------------------------------------------------------------

    def _delivered(self, outcome: Outcome) -> None:
        self._streak = 0
        self._next_attempt = 0.0
        if outcome.rejected:
            self.note_failure(outcome.reason or "the receiver rejected entries", outcome.rejected)

    def _failed(self, outcome: Outcome) -> None:
        self._streak += 1
        wait = self.retry.delay(self._streak, outcome.retry_after)
        self._next_attempt = self._clock() + wait
        self.note_failure(f"{outcome.reason}; next attempt in {wait:.1f}s")

    def _set_aside(self, key: str, entries: Sequence[EventDict], outcome: Outcome) -> str:
        """Keep a refused batch in ``poison/`` (with a disk spool); return the reason to report."""
        reason = f"refused: {outcome.reason}"
        if self.spool_dir is not None:
            disk = self._disk if self._disk is not None else self._open_disk()
            details: dict[str, object] = {
                "status": outcome.status,
                "reason": outcome.reason,
                "url": self.url,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            path = disk.set_aside(key, entries, details)
            reason += f"; set aside in {path}"
        return reason

    def _settle(
        self,
        parked: Parked,
        decoded: DecodedBatch,
        reason: str,
        *,
        delivered: Outcome | None = None,
    ) -> None:
        """Move a parked batch out of ``spooled``: into ``written``, or ``failed`` with why."""
        read = len(decoded.entries)
        written = max(0, min(parked.count, read - delivered.rejected)) if delivered else 0
        owner = parked.owner
        if owner is not None:
            owner.spooled -= parked.count
            owner.written += written
            owner.failed += parked.count - written
        else:
            self._inherited[1] += written
            self._inherited[2] += max(read, decoded.count or 0) - written
        lost = decoded.lost
        if lost:
            self.note_failure(f"{lost} entries unreadable in a damaged spool file", lost)
        if delivered is None and decoded.entries:
            self.give_up(decoded.entries, reason, count=False)
        elif delivered is None:
            self.note_failure(reason, parked.count)
        if owner is None:
            self._inherited_settled()

    def _inherited_settled(self) -> None:
        batches, delivered, failed = self._inherited
        self._inherited[0] = batches = max(0, batches - 1)
        if batches == 0:
            fields: dict[str, object] = {
                "event": "tapelog.spool_replayed",
                "sink": self.name,
                "delivered": delivered,
                "failed": failed,
            }
            level = WARNING if failed else INFO
            message = f"sink {self.name!r}: resent what an earlier run left ({delivered} entries)"
            self._events.append((level, message, fields))
            self._inherited[1:] = [0, 0]

    # -- hooks for the pipeline -----------------------------------------------------

    def periodic(self) -> list[tuple[int, str, dict[str, object]]]:
        """Events for tapelog to log: a spool recovered at start, and when it was resent."""
        events: list[tuple[int, str, dict[str, object]]] = []
        while self._events:
            events.append(self._events.popleft())
        return events

    def close_out(self) -> None:
        """Shutdown's time ran out while this sink's thread was busy (an attempt hanging).

        Runs on the closing thread. Nothing this sink holds may vanish uncounted: with a
        disk spool, what it holds is written to the spool (``spooled``, sent by the next
        process; the batch being attempted is there already); without one, it is counted
        ``failed`` and handed to the fallback, the memory spool's batches too. The sink's
        thread, when its attempt returns, counts nothing more.
        """
        with self._cond:
            self._closed_out = True
            waiting = list(self._batches)
            self._batches.clear()
            self._pending -= sum(len(batch) for batch in waiting)
            self._cond.notify_all()
        held = [entry for batch in waiting for entry in batch]
        if self._sending is not None:
            held.extend(self._sending.entries)
            self._sending = None
        held.extend(entry for batch in self._ready for entry in batch.entries)
        self._ready.clear()
        held.extend(self._batcher.cut().entries)
        reason = "shutdown timed out before delivery"
        if self._memory is not None:
            for parked in self._memory.take_all():
                self._settle(parked, self._memory.load(parked), reason)
        if not held:
            return
        if self.spool_dir is None:
            self.give_up(held, reason)
            return
        prepared = [self.encoder.prepare(entry)[0] for entry in held]
        self._park(Batch(held, prepared, 0), attempts=0)

    def abort_attempt(self) -> None:
        """Wake the thread out of a network call (shutdown's time ran out)."""
        self._transport.abort()

    def close_transport(self) -> None:
        """Close the connection and release the spool directory (its files stay)."""
        self._transport.close()
        disk, self._disk = self._disk, None
        if disk is not None:
            close_spool(disk)

    def after_fork(self) -> None:
        """A child sends its own entries: it drops the parent's batch, connection and spool."""
        super().after_fork()
        old = self._transport
        self._transport = HttpTransport(self.url, old.timeout, old.context, old.proxy)
        # The child's copy of the parent's connection: closing it closes only the child's
        # descriptor (nothing is sent, so the parent's connection goes on); left to the
        # garbage collector, it would warn (ResourceWarning) in the child.
        with contextlib.suppress(OSError):
            old.close()
        self._batcher.clear()
        self._ready.clear()
        self._sending = None
        self._closed_out = False
        self._streak = 0
        self._next_attempt = 0.0
        self._events.clear()
        if self._memory is not None:
            self._memory = MemorySpool(self._memory.max_size)
        self._disk = None  # reopened on first need: a pid-N directory while the parent lives


def _status_text(response: Response) -> str:
    text = f"HTTP {response.status} {response.reason}".rstrip()
    content_type = response.headers.get("content-type", "")
    if response.body and ("text" in content_type or "json" in content_type or not content_type):
        excerpt = _CONTROL.sub(" ", response.body[:_EXCERPT].decode("utf-8", "replace")).strip()
        if excerpt:
            text += f": {excerpt}"
    return text


# -- the http sink --------------------------------------------------------------------


def delivery_options(config: SinkConfig) -> dict[str, Any]:
    """The keyword arguments of ``DeliverySink`` from a validated http or otlp table."""
    options = config.options
    batch = options["batch"]
    retry = options["retry"]
    return {
        "headers": dict(options["headers"]),
        "gzip": bool(options["gzip"]),
        "timeout": float(options["timeout"]),
        "max_records": int(batch["max_records"]),
        "max_bytes": int(batch["max_bytes"]),
        "max_delay": float(batch["max_delay"]),
        "retry": RetryPolicy(
            float(retry["initial_delay"]), float(retry["max_delay"]), int(retry["max_attempts"])
        ),
        "spool_dir": options["spool_dir"],
        "spool_max_size": int(options["spool_max_size"]),
        "ca_file": options["ca_file"],
        "cert_file": options["cert_file"],
        "key_file": options["key_file"],
        "proxy": options["proxy"],
    }


@final
class HttpSink(DeliverySink[bytes]):
    """POSTs batches of formatted entries (NDJSON with the json format) to ``url``.

    Example configuration::

        [[sinks]]
        type = "http"
        url = "https://logs.example.com/ingest"
        headers = { Authorization = "Bearer ..." }
        batch = { max_records = 500, max_delay = "1s" }
        spool_dir = "logs/spool"

    See ``DeliverySink`` for the arguments and ``docs/http.md`` for the guarantees.
    """

    def __init__(self, name: str, url: str, formatter: Formatter, **options: Any) -> None:
        super().__init__(name, url, NdjsonEncoder(formatter), **options)

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> HttpSink:
        """Build from a validated ``[[sinks]] type = "http"`` table.

        Raises:
            SinkError: the spool directory cannot be created or locked.
        """
        return cls(config.name, config.options["url"], formatter, **delivery_options(config))
