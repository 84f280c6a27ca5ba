"""Batching, backoff and the delivery engine, driven on the test's thread with a fake clock."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections import deque
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need

from tapelog.exceptions import SinkError
from tapelog.formats import JsonFormat, LogfmtFormat
from tapelog.sinks._batching import MAX_RETRY_AFTER, Batcher, RetryPolicy, parse_retry_after
from tapelog.sinks._http import IDEMPOTENCY_HEADER, HttpSink, NdjsonEncoder, Response
from tapelog.sinks._spool import close_spool


if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Answer = int | tuple[int, dict[str, str], bytes] | Exception


class FakeTransport:
    """Answers POSTs from a script (default 200) and keeps what was sent."""

    timeout = 1.0
    context = None
    proxy = None

    def __init__(self, *answers: Answer) -> None:
        self.answers: deque[Answer] = deque(answers)
        self.sent: list[tuple[bytes, dict[str, str]]] = []

    def post(self, body: bytes, headers: Mapping[str, str]) -> Response:
        self.sent.append((body, dict(headers)))
        answer = self.answers.popleft() if self.answers else 200
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, int):
            return Response(answer, "", {}, b"")
        status, headers_in, body_in = answer
        return Response(status, "", headers_in, body_in)

    def close(self) -> None:
        pass

    def lines(self, index: int) -> list[int]:
        body, headers = self.sent[index]
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return [json.loads(line)["i"] for line in body.splitlines()]


def entries(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "timestamp": "2026-01-02T03:04:05.000006Z",
            "level": "info",
            "logger": "t",
            "message": "m",
            "i": start + n,
        }
        for n in range(count)
    ]


@pytest.fixture(name="clock")
def _clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    # The tests drive deliver() and tick() themselves: no sink thread may run alongside
    # (a sink with a spool to replay would start one at once).
    monkeypatch.setattr(HttpSink, "start", lambda self: None)
    return Clock()


def make_sink(clock: Clock, *answers: Answer, **options: Any) -> tuple[HttpSink, FakeTransport]:
    options.setdefault("retry", RetryPolicy(1.0, 8.0, 3, jitter=lambda: 0.0))
    options.setdefault("max_delay", 0.5)
    sink = HttpSink("http", "http://127.0.0.1:9/in", JsonFormat(), clock=clock, **options)
    transport = FakeTransport(*answers)
    sink._transport = transport
    return sink, transport


def accounted(sink: HttpSink) -> int:
    counters = sink.counters
    return counters.written + counters.failed + counters.spooled


class TestBatcher:
    def test_max_records(self) -> None:
        """A batch is ready when it holds max_records entries."""
        batcher: Batcher[None] = Batcher(3, 1000, 1.0)
        ready = [batch for e in entries(7) for batch in batcher.add(e, None, 1)]

        assert ([3, 3], 1) == ([len(b.entries) for b in ready], len(batcher))

    def test_max_bytes_cuts_before_overflowing(self) -> None:
        """An entry that would push a batch over max_bytes starts the next one."""
        batcher: Batcher[None] = Batcher(100, 10, 1.0)
        ready = [batch for e in entries(5) for batch in batcher.add(e, None, 4)]

        assert ([2, 2], [8, 8]) == ([len(b.entries) for b in ready], [b.size for b in ready])

    def test_an_oversized_entry_goes_alone(self) -> None:
        """An entry larger than max_bytes is a batch of its own."""
        batcher: Batcher[None] = Batcher(100, 10, 1.0)
        batcher.add(entries(1)[0], None, 2)
        ready = batcher.add(entries(1, 1)[0], None, 50)

        assert [[0], [1]] == [[e["i"] for e in b.entries] for b in ready]

    def test_max_delay_counts_from_the_first_entry(self, clock: Clock) -> None:
        """due_in counts down from the first entry of the batch."""
        batcher: Batcher[None] = Batcher(100, 1000, 2.0, clock)
        assert batcher.due_in() is None
        batcher.add(entries(1)[0], None, 1)
        clock.advance(1.5)
        batcher.add(entries(1, 1)[0], None, 1)

        assert 0.5 == batcher.due_in()

    def test_every_batch_has_its_own_key(self) -> None:
        """Each batch gets a fresh idempotency key."""
        batcher: Batcher[None] = Batcher(1, 1000, 1.0)
        keys = {batch.key for e in entries(20) for batch in batcher.add(e, None, 1)}

        assert 20 == len(keys)


class TestRetryPolicy:
    @pytest.mark.parametrize(
        ("failures", "low", "high"), [(1, 0.5, 1.0), (2, 1.0, 2.0), (3, 2.0, 4.0), (9, 4.0, 8.0)]
    )
    def test_exponential_with_equal_jitter(self, failures: int, low: float, high: float) -> None:
        """The n-th failure waits between half and all of min(max, initial * 2**(n-1))."""
        policy_low = RetryPolicy(1.0, 8.0, jitter=lambda: 0.0)
        policy_high = RetryPolicy(1.0, 8.0, jitter=lambda: 0.999999)

        assert (low, high) == (
            policy_low.delay(failures),
            pytest.approx(policy_high.delay(failures), rel=1e-5),
        )

    def test_retry_after_wins_when_longer(self) -> None:
        """A receiver's Retry-After longer than the backoff is honoured."""
        policy = RetryPolicy(1.0, 8.0, jitter=lambda: 0.0)

        assert (7.0, 0.5) == (policy.delay(1, 7.0), policy.delay(1, 0.1))

    def test_no_overflow_after_many_failures(self) -> None:
        """Thousands of failures in a row still give max_delay, not an error."""
        assert 4.0 == RetryPolicy(1.0, 8.0, jitter=lambda: 0.0).delay(5000)


class TestParseRetryAfter:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("120", 120.0),
            (" 3 ", 3.0),
            ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
            ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past: now
            ("99999999", MAX_RETRY_AFTER),
            ("soon", None),
            ("-5", None),
            (None, None),
        ],
    )
    def test_forms(self, value: str | None, expected: float | None) -> None:
        """Both RFC 9110 forms are read; anything else is ignored."""
        assert expected == parse_retry_after(value, now=1445412470.0)


class TestNdjsonEncoder:
    def test_content_type_follows_the_format(self) -> None:
        """JSON lines are sent as NDJSON; other formats as plain text."""
        assert ("application/x-ndjson", "text/plain; charset=utf-8") == (
            NdjsonEncoder(JsonFormat()).content_type,
            NdjsonEncoder(LogfmtFormat()).content_type,
        )


class TestClassify:
    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (200, "ok"),
            (202, "ok"),
            (204, "ok"),
            (408, "retry"),
            (429, "retry"),
            (500, "retry"),
            (503, "retry"),
            (400, "poison"),
            (401, "poison"),
            (413, "poison"),
            (301, "poison"),
        ],
    )
    def test_http(self, clock: Clock, status: int, kind: str) -> None:
        """2xx delivered; 408, 429 and 5xx retried; other statuses refused for good."""
        sink, _ = make_sink(clock)

        assert kind == sink.classify(Response(status, "", {}, b""), 1).kind

    @pytest.mark.parametrize(
        ("status", "kind"),
        [
            (200, "ok"),
            (429, "retry"),
            (502, "retry"),
            (503, "retry"),
            (504, "retry"),
            (500, "poison"),
            (400, "poison"),
        ],
    )
    def test_otlp(self, status: int, kind: str) -> None:
        """OTLP retries exactly 429, 502, 503 and 504, as its specification says."""
        need(importlib.util.find_spec("opentelemetry.proto") is not None, "opentelemetry-proto")
        from tapelog.sinks._otlp import OtlpSink

        sink = OtlpSink("otlp", "http://127.0.0.1:9/v1/logs")

        assert kind == sink.classify(Response(status, "", {}, b""), 1).kind

    def test_otlp_partial_success(self) -> None:
        """Records an OTLP receiver reports rejected are counted, with its message."""
        need(importlib.util.find_spec("opentelemetry.proto") is not None, "opentelemetry-proto")
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsPartialSuccess,
            ExportLogsServiceResponse,
        )

        from tapelog.sinks._otlp import OtlpSink

        body = ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=2, error_message="too old"
            )
        ).SerializeToString()
        outcome = OtlpSink("otlp", "http://127.0.0.1:9/v1/logs").classify(
            Response(200, "", {}, body), 5
        )

        assert ("ok", 2, "partial success: 2 rejected: too old") == (
            outcome.kind,
            outcome.rejected,
            outcome.reason,
        )


class TestDelivery:
    def test_a_partial_batch_waits_for_max_delay(self, clock: Clock) -> None:
        """Fewer than max_records entries go out when max_delay has passed, in one request."""
        sink, transport = make_sink(clock, max_records=10)
        sink.deliver(entries(3))
        assert ([], 0.5) == (transport.sent, sink.next_tick())
        clock.advance(0.5)
        sink.tick(force=False)

        assert ([0, 1, 2], 3) == (transport.lines(0), sink.counters.written)

    def test_a_forced_tick_sends_at_once(self, clock: Clock) -> None:
        """flush() (a forced tick) does not wait for max_delay."""
        sink, transport = make_sink(clock, max_records=10)
        sink.deliver(entries(2))
        sink.tick(force=True)

        assert [0, 1] == transport.lines(0)

    def test_batches_split_by_records(self, clock: Clock) -> None:
        """A burst is sent as full batches, in order."""
        sink, transport = make_sink(clock, max_records=4)
        sink.deliver(entries(10))
        sink.tick(force=True)

        assert [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]] == [transport.lines(n) for n in range(3)]

    def test_headers_key_and_gzip(self, clock: Clock) -> None:
        """Custom headers, an idempotency key, the content type and gzip go with each request."""
        sink, transport = make_sink(clock, headers={"Authorization": "Bearer t0ken"}, gzip=True)
        sink.deliver(entries(2))
        sink.tick(force=True)
        _, headers = transport.sent[0]

        assert ("Bearer t0ken", "gzip", "application/x-ndjson", [0, 1], 36) == (
            headers["Authorization"],
            headers["Content-Encoding"],
            headers["Content-Type"],
            transport.lines(0),
            len(headers[IDEMPOTENCY_HEADER]),
        )

    def test_retry_after_backoff_with_the_same_key(self, clock: Clock) -> None:
        """A 503 parks the batch; it is resent with the same key when the backoff ends."""
        sink, transport = make_sink(clock, 503)
        sink.deliver(entries(3))
        sink.tick(force=True)
        assert (0, 3, 0.5) == (sink.counters.written, sink.counters.spooled, sink.next_tick())
        sink.tick(force=False)  # too early: nothing is sent
        assert 1 == len(transport.sent)
        clock.advance(0.5)
        sink.tick(force=False)

        assert (3, 0, 1) == (sink.counters.written, sink.counters.spooled, sink.counters.retried)
        assert transport.sent[0][1][IDEMPOTENCY_HEADER] == transport.sent[1][1][IDEMPOTENCY_HEADER]

    def test_retry_after_header_is_honoured(self, clock: Clock) -> None:
        """A Retry-After longer than the backoff sets the next attempt."""
        sink, _ = make_sink(clock, (429, {"retry-after": "6"}, b""))
        sink.deliver(entries(1))
        sink.tick(force=True)

        assert 6.0 == sink.next_tick()

    def test_order_is_kept_behind_a_backlog(self, clock: Clock) -> None:
        """Batches arriving while one waits are queued behind it and sent in order."""
        sink, transport = make_sink(clock, SinkError("refused"), max_records=2)
        sink.deliver(entries(2))
        sink.deliver(entries(2, 2))
        sink.deliver(entries(2, 4))
        assert 1 == len(transport.sent)  # in backoff: no further attempts
        clock.advance(1.0)
        sink.tick(force=False)

        assert [[0, 1], [2, 3], [4, 5]] == [transport.lines(n) for n in range(1, 4)]
        assert (6, 0) == (sink.counters.written, sink.counters.spooled)

    def test_memory_spool_gives_up_after_max_attempts(self, clock: Clock) -> None:
        """Without a spool_dir, a batch is given up after max_attempts and handed to the fallback."""
        fallback: list[dict[str, Any]] = []
        sink, transport = make_sink(clock, *[SinkError("refused")] * 5)
        sink.set_fallback(fallback.extend)
        sink.deliver(entries(4))
        sink.tick(force=True)
        for _ in range(5):
            clock.advance(10)
            sink.tick(force=False)

        assert (3, 4, 0, 0, list(range(4))) == (
            len(transport.sent),
            sink.counters.failed,
            sink.counters.spooled,
            sink.counters.written,
            [e["i"] for e in fallback],
        )

    def test_closing_gives_up_what_waits_in_memory(self, clock: Clock) -> None:
        """A closing sink without a spool_dir counts what it could not send as failed."""
        sink, _ = make_sink(clock, SinkError("refused"))
        sink.deliver(entries(3))
        sink.tick(force=True)
        sink._stopping = True
        sink.tick(force=True)

        assert (3, 0) == (sink.counters.failed, sink.counters.spooled)

    def test_poison_is_counted_and_handed_to_the_fallback(self, clock: Clock) -> None:
        """A 400 is not retried: the batch is failed and goes to the fallback."""
        fallback: list[dict[str, Any]] = []
        sink, transport = make_sink(clock, 400)
        sink.set_fallback(fallback.extend)
        sink.deliver(entries(2))
        sink.tick(force=True)
        clock.advance(100)
        sink.tick(force=False)

        assert (1, 2, [0, 1]) == (
            len(transport.sent),
            sink.counters.failed,
            [e["i"] for e in fallback],
        )

    def test_poison_is_set_aside_in_the_spool(self, clock: Clock, tmp_path: Path) -> None:
        """With a spool_dir, a refused batch is kept in poison/ for inspection."""
        sink, _ = make_sink(
            clock, (400, {"content-type": "text/plain"}, b"bad field"), spool_dir=str(tmp_path)
        )
        sink.deliver(entries(2))
        sink.tick(force=True)
        kept = list((tmp_path / "poison").glob("*.ndjson"))
        sink.close_transport()

        assert (1, 2) == (len(kept), sink.counters.failed)
        assert "bad field" in kept[0].with_suffix(".reason.json").read_text()

    def test_a_stale_connection_resend_counts_as_a_retry(self, clock: Clock) -> None:
        """A request resent on a fresh connection is counted in retried."""
        sink, transport = make_sink(clock)
        transport.post = lambda body, headers: Response(200, "", {}, b"", resent=True)
        sink.deliver(entries(1))
        sink.tick(force=True)

        assert (1, 1) == (sink.counters.written, sink.counters.retried)

    def test_header_values_never_reach_a_report(self, clock: Clock) -> None:
        """A failure reason quoting a header value is scrubbed before it is reported."""
        sink, _ = make_sink(
            clock,
            (401, {"content-type": "text/plain"}, b"token Bearer s3cret-t0ken is not valid"),
            headers={"Authorization": "Bearer s3cret-t0ken"},
        )
        sink.deliver(entries(1))
        sink.tick(force=True)
        taken = sink.take_failures()

        assert taken is not None
        assert "s3cret" not in taken[1]
        assert "[REDACTED]" in taken[1]
        assert "s3cret" not in repr(sink)


class TestDiskSpoolDelivery:
    def test_undelivered_batches_survive_a_new_sink(self, clock: Clock, tmp_path: Path) -> None:
        """Batches parked by one sink are sent by the next on the same directory, uncounted there."""
        first, _ = make_sink(clock, SinkError("refused"), spool_dir=str(tmp_path), max_records=2)
        first.deliver(entries(6))
        first.tick(force=True)
        assert (6, 0) == (first.counters.spooled, first.counters.written)
        first.close_transport()

        second, transport = make_sink(clock, spool_dir=str(tmp_path))
        events = second.periodic()
        second.tick(force=True)
        events += second.periodic()
        second.close_transport()

        assert [[0, 1], [2, 3], [4, 5]] == [transport.lines(n) for n in range(3)]
        assert (0, 0) == (second.counters.written, second.counters.spooled)
        assert ["tapelog.spool_recovered", "tapelog.spool_replayed"] == [
            e[2]["event"] for e in events
        ]
        assert (3, 6) == (events[0][2]["batches"], events[1][2]["delivered"])
        assert [] == list(tmp_path.glob("*.batch"))

    def test_the_spool_retries_without_a_limit(self, clock: Clock, tmp_path: Path) -> None:
        """With a spool_dir, max_attempts does not apply: the batch waits until delivered."""
        sink, transport = make_sink(clock, *[SinkError("refused")] * 8, spool_dir=str(tmp_path))
        sink.deliver(entries(2))
        sink.tick(force=True)
        for _ in range(9):
            clock.advance(10)
            sink.tick(force=False)
        sink.close_transport()

        assert (9, 2, 0, 0, 8) == (
            len(transport.sent),
            sink.counters.written,
            sink.counters.failed,
            sink.counters.spooled,
            sink.counters.retried,
        )

    def test_a_full_spool_drops_the_oldest(self, clock: Clock, tmp_path: Path) -> None:
        """At the size cap the oldest batch is dropped, counted failed, and given to the fallback."""
        fallback: list[dict[str, Any]] = []
        sink, _ = make_sink(
            clock, SinkError("refused"), spool_dir=str(tmp_path), spool_max_size=1200, max_records=5
        )
        sink.set_fallback(fallback.extend)
        for start in range(0, 25, 5):
            sink.deliver(entries(5, start))
        sink.tick(force=True)
        sink.close_transport()

        assert 25 == accounted(sink)
        assert sink.counters.failed > 0
        assert [e["i"] for e in fallback] == list(range(sink.counters.failed))

    def test_a_parked_batch_refused_later_is_set_aside(self, clock: Clock, tmp_path: Path) -> None:
        """A batch that waited in the spool and is then refused goes to poison/, counted failed."""
        sink, _ = make_sink(clock, SinkError("refused"), 400, spool_dir=str(tmp_path))
        sink.deliver(entries(3))
        sink.tick(force=True)
        clock.advance(10)
        sink.tick(force=False)
        sink.close_transport()

        assert (3, 0, 1) == (
            sink.counters.failed,
            sink.counters.spooled,
            len(list((tmp_path / "poison").glob("*.ndjson"))),
        )

    def test_a_damaged_spool_file_delivers_what_is_intact(
        self, clock: Clock, tmp_path: Path
    ) -> None:
        """Entries lost to a damaged file are reported; the intact ones are still delivered."""
        first, _ = make_sink(clock, SinkError("refused"), spool_dir=str(tmp_path))
        first.deliver(entries(4))
        first.tick(force=True)
        first.close_transport()
        (path,) = tmp_path.glob("*.batch")
        path.write_bytes(path.read_bytes()[:-5])  # the last entry is cut short
        second, transport = make_sink(clock, spool_dir=str(tmp_path))
        second.tick(force=True)
        failures = second.take_failures()
        events = second.periodic()
        second.close_transport()

        assert [0, 1, 2] == transport.lines(0)
        assert failures is not None
        assert "damaged spool file" in failures[1]
        assert (3, 1) == (events[-1][2]["delivered"], events[-1][2]["failed"])

    def test_a_batch_larger_than_the_spool_is_given_up(self, clock: Clock, tmp_path: Path) -> None:
        """A batch that cannot fit in the spool even alone is failed at once."""
        sink, _ = make_sink(
            clock, SinkError("refused"), spool_dir=str(tmp_path), spool_max_size=100
        )
        sink.deliver(entries(5))
        sink.tick(force=True)
        sink.close_transport()

        assert (5, 0) == (sink.counters.failed, sink.counters.spooled)

    def test_a_forked_child_drops_the_parents_batch(self, clock: Clock, tmp_path: Path) -> None:
        """After a fork the child holds nothing of the parent's: no batch, no backoff, no spool."""
        sink, _ = make_sink(clock, SinkError("refused"), spool_dir=str(tmp_path), max_records=10)
        sink.deliver(entries(2))
        sink.deliver(entries(2, 2))
        parents = sink._disk
        sink.after_fork()

        assert (0, None, None) == (len(sink._batcher), sink._disk, sink.next_tick())
        assert parents is not None
        close_spool(parents)  # in a real child the at-fork hook forgets it
