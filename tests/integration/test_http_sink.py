"""The http sink against a real collector on 127.0.0.1: outages, refusals, restarts, isolation."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog._runtime import RUNTIME
from tapelog.cli._collector import Collector
from tapelog.formats import JsonFormat
from tapelog.sinks import HttpSink
from tapelog.sinks._batching import RetryPolicy
from tapelog.testing import check_sink


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

FAST_RETRY = {"initial_delay": "50ms", "max_delay": "200ms", "max_attempts": 3}


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``condition`` until it holds; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def http_sink(url: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": url,
        "batch": {"max_records": 50, "max_delay": "50ms"},
        "retry": FAST_RETRY,
        "timeout": "2s",
        **options,
    }


def configure(*sinks: dict[str, Any]) -> None:
    """Install these sinks and start every counter from zero."""
    tapelog.configure(sinks=list(sinks))
    tapelog.flush(5)
    RUNTIME.dispatcher.reset_counters()


def sink_stats(name: str = "http") -> Any:
    return tapelog.stats().sinks[name]


def balanced(name: str = "http") -> bool:
    """processed == written + filtered + sampled_out + failed + spooled for the sink."""
    stats = tapelog.stats()
    sink = stats.sinks[name]
    return (
        stats.processed
        == sink.written + sink.filtered + sink.sampled_out + sink.failed + sink.spooled
    )


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()


class TestOutage:
    def test_down_then_503_then_lost_replies_then_up(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """Refused, then 503 with Retry-After, then lost acks: every entry arrives once, in order."""
        configure(http_sink(collector.url, spool_dir=str(tmp_path / "spool")))
        log = tapelog.get_logger("outage")
        for i in range(150):  # the collector is down: connection refused
            log.info("m", i=i)
        assert tapelog.flush(10)
        assert wait_until(lambda: sink_stats().spooled == 150)
        collector.fail(503, times=3, retry_after=0.2)
        collector.lose_replies(2)
        collector.up()
        for i in range(150, 300):
            log.info("m", i=i)
            if i % 50 == 0:
                time.sleep(0.05)

        assert collector.wait_for(300)
        assert wait_until(lambda: sink_stats().spooled == 0 and sink_stats().written == 300)
        assert list(range(300)) == [
            r["i"] for r in collector.records if r.get("logger") == "outage"
        ]
        assert collector.duplicates >= 1  # lost acknowledgements made the sink resend
        assert 3 == collector.errors_sent
        stats = sink_stats()
        assert (0, 0) == (stats.failed, stats.spooled)
        assert stats.retried >= 4
        assert balanced()
        assert [] == list((tmp_path / "spool").glob("*.batch"))

    def test_retry_after_is_honoured(self, collector: Collector) -> None:
        """After a 503 with Retry-After: 1, the next attempt waits at least that long."""
        collector.up()
        collector.fail(503, times=1, retry_after=1)
        configure(http_sink(collector.url))
        tapelog.get_logger("ra").info("once")
        assert collector.wait_for(1)
        first, second = collector.requests[0], collector.requests[1]

        assert first["idempotency-key"] == second["idempotency-key"]
        assert collector.arrivals[1] - collector.arrivals[0] >= 0.95


class TestPoison:
    def test_refused_batch_is_set_aside_and_counted(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """A 400 is not retried: the batch lands in poison/ with its reason and counts as failed."""
        collector.up()
        collector.fail(400, times=1, body=b'{"error": "bad field"}')
        spool = tmp_path / "spool"
        configure(http_sink(collector.url, spool_dir=str(spool)))
        log = tapelog.get_logger("poison")
        log.info("refused")
        assert tapelog.flush(10)
        for i in range(5):
            log.info("fine", i=i)
        assert collector.wait_for(5)
        assert wait_until(lambda: sink_stats().written == 5)
        kept = list((spool / "poison").glob("*.ndjson"))

        assert (1, 0) == (sink_stats().failed, sink_stats().spooled)
        assert ["refused"] == [
            json.loads(line)["message"] for line in kept[0].read_text().splitlines()
        ]
        reason = json.loads(kept[0].with_suffix(".reason.json").read_text())
        assert (400, True) == (reason["status"], "bad field" in reason["reason"])
        assert balanced()

    def test_refused_batch_goes_to_the_fallback(self, collector: Collector, tmp_path: Path) -> None:
        """Without a spool_dir, a refused batch goes to the fallback sink."""
        collector.up()
        collector.fail(422, times=1)
        path = tmp_path / "fallback.jsonl"
        configure(
            http_sink(collector.url, fallback="rescue"),
            {"type": "file", "path": str(path), "name": "rescue", "filter": {"loggers": ["none"]}},
        )
        tapelog.get_logger("poison").info("refused")
        assert tapelog.flush(10)
        assert wait_until(lambda: path.exists() and bool(path.read_text()))

        assert ["refused"] == [e["message"] for e in read_jsonl(path)]
        assert 1 == sink_stats().failed


class TestTooLarge:
    def test_a_batch_refused_as_too_large_is_sent_in_halves(self, collector: Collector) -> None:
        """413: the batch goes again in halves until each fits; an entry too large alone is
        counted as failed, and everything else arrives once, in order."""
        collector.up()
        collector.max_body = 3000  # about a dozen of these entries
        configure(http_sink(collector.url))
        log = tapelog.get_logger("large")
        for i in range(100):
            log.info("m", i=i)
            if i == 60:
                log.info("huge", blob="x" * 5000)
        assert tapelog.flush(10)

        assert collector.wait_for(100)
        assert wait_until(lambda: sink_stats().written == 100 and sink_stats().failed == 1)
        assert list(range(100)) == [r["i"] for r in collector.records if r.get("logger") == "large"]
        assert collector.too_large >= 2
        assert 0 == collector.duplicates
        assert balanced()

    def test_halves_keep_their_keys_across_a_retry(self, collector: Collector) -> None:
        """A half that must be retried has the whole batch retried; halves delivered before go
        under the same keys again, so a receiver that deduplicates takes each entry once."""
        collector.up()
        collector.max_body = 6000
        configure(http_sink(collector.url, batch={"max_records": 40, "max_delay": "1s"}))
        log = tapelog.get_logger("retry")
        collector.fail(503, times=1, after=1)  # the first half is taken, the second is not
        for i in range(40):
            log.info("m", i=i, pad="p" * 100)
        assert tapelog.flush(10)

        assert collector.wait_for(40)
        assert wait_until(lambda: sink_stats().written == 40)
        assert list(range(40)) == [r["i"] for r in collector.records if r.get("logger") == "retry"]
        assert collector.duplicates >= 1  # the first half, sent again under its own key
        assert 1 == collector.errors_sent
        assert balanced()


class TestHeaders:
    def test_gzip_and_headers_and_no_secret_in_any_output(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """Custom headers and gzip are sent; a secret header value never appears in a log."""
        collector.up()
        collector.fail(401, times=1, body=b"token Bearer s3cret-value rejected")
        path = tmp_path / "app.jsonl"
        configure(
            http_sink(
                collector.url,
                gzip=True,
                headers={"Authorization": "Bearer s3cret-value", "X-Tenant": "acme"},
            ),
            {"type": "file", "path": str(path)},
        )
        log = tapelog.get_logger("headers")
        log.info("first")  # refused with 401; the reason quotes the token
        assert tapelog.flush(10)
        time.sleep(0.1)
        log.info("second")
        assert collector.wait_for(1)
        assert wait_until(lambda: "sink_failed" in path.read_text())
        assert tapelog.flush(10)

        headers = collector.requests[-1]
        assert ("Bearer s3cret-value", "acme", "gzip") == (
            headers["authorization"],
            headers["x-tenant"],
            headers["content-encoding"],
        )
        assert ["second"] == [r["message"] for r in collector.records if r["logger"] == "headers"]
        written = path.read_text()
        assert "s3cret" not in written
        assert "[REDACTED]" in written
        assert all("s3cret" not in json.dumps(record) for record in collector.records)


class TestIsolation:
    def test_a_dead_sink_does_not_cost_the_file_sink_anything(self, tmp_path: Path) -> None:
        """With the http sink refused throughout, the file gets every entry; counters explain the rest."""
        closed = Collector()  # never up: connection refused
        path = tmp_path / "app.jsonl"
        rescue = tmp_path / "rescue.jsonl"
        configure(
            {"type": "file", "path": str(path), "name": "main"},
            http_sink(
                closed.url, fallback="rescue", batch={"max_records": 200, "max_delay": "50ms"}
            ),
            {
                "type": "file",
                "path": str(rescue),
                "name": "rescue",
                "filter": {"loggers": ["none"]},
            },
        )
        log = tapelog.get_logger("iso")
        for i in range(400):
            log.info("m", i=i)
        assert tapelog.flush(10)

        assert list(range(400)) == [e["i"] for e in read_jsonl(path) if e["logger"] == "iso"]
        assert wait_until(lambda: sink_stats().failed >= 400 and sink_stats().spooled == 0)
        stats = sink_stats()
        assert 0 == stats.written
        assert balanced()
        # The sink counts a batch failed, then hands it to the fallback, on its own thread.
        rescued = lambda: [e["i"] for e in read_jsonl(rescue) if e["logger"] == "iso"]  # noqa: E731
        assert wait_until(lambda: len(rescued()) >= 400)
        assert list(range(400)) == rescued()
        assert any(e.get("event") == "tapelog.sink_failed" for e in read_jsonl(path))

    def test_a_hung_receiver_does_not_delay_the_file_sink(self, tmp_path: Path) -> None:
        """While the http sink waits on a receiver that never answers, the file sink keeps up."""
        hang = HangingServer()
        path = tmp_path / "app.jsonl"
        try:
            configure(
                {"type": "file", "path": str(path)},
                http_sink(hang.url, timeout="5s"),
            )
            log = tapelog.get_logger("hang")
            log.info("first")
            assert hang.requested.wait(10)  # the http sink is now stuck in its first request
            for i in range(500):
                log.info("m", i=i)

            assert wait_until(
                lambda: len([e for e in read_jsonl(path) if e["logger"] == "hang"]) == 501
            )
            assert hang.holding  # the http sink was still waiting all along
        finally:
            hang.close()


class TestRestart:
    def test_a_restarted_process_delivers_the_spool(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """A process that exits with the collector down leaves a spool; the next one delivers it."""
        spool = tmp_path / "spool"
        out = tmp_path / "app.jsonl"
        config = json.dumps(
            {
                "sinks": [
                    http_sink(collector.url, spool_dir=str(spool)),
                    {"type": "file", "path": str(out)},
                ]
            }
        )
        script = textwrap.dedent(
            f"""
            import json, sys, tapelog
            tapelog.configure(json.loads({config!r}))
            log = tapelog.get_logger("restart")
            first = int(sys.argv[1])
            for i in range(first, first + int(sys.argv[2])):
                log.info("m", i=i)
            tapelog.shutdown(20)
            stats = tapelog.stats()
            print(json.dumps({{"processed": stats.processed, **stats.as_dict()["sinks"]["http"]}}))
            """
        )

        def run(first: int, count: int) -> dict[str, int]:
            result = subprocess.run(
                [sys.executable, "-c", script, str(first), str(count)],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert 0 == result.returncode, result.stderr
            return json.loads(result.stdout.splitlines()[-1])

        first = run(0, 200)
        assert (200, 0, 0) == (first["spooled"], first["written"], first["failed"])
        assert list(spool.glob("*.batch"))

        collector.up()
        second = run(200, 20)

        assert collector.wait_for(220)
        assert list(range(220)) == [r["i"] for r in collector.records if r["logger"] == "restart"]
        # The second run's own entries (its 20, and tapelog's notes about the spool) only:
        # what the first run left is reported in events, not counted twice.
        assert (second["processed"], 0, 0) == (
            second["written"] + second["filtered"],
            second["spooled"],
            second["failed"],
        )
        assert [] == list(spool.glob("*.batch"))
        events = [e.get("event") for e in read_jsonl(out)]
        assert "tapelog.spool_recovered" in events

    def test_a_forked_child_spools_apart_and_is_adopted(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """A forked child spools in its own pid-N directory; the next owner adopts and sends it."""
        spool = tmp_path / "spool"
        config = json.dumps({"sinks": [http_sink(collector.url, spool_dir=str(spool))]})
        forking = textwrap.dedent(
            f"""
            import json, os, tapelog
            tapelog.configure(json.loads({config!r}))
            log = tapelog.get_logger("fork")
            log.info("parent", i=0)
            tapelog.flush(10)
            pid = os.fork()
            if pid == 0:
                for i in range(100, 110):
                    log.info("child", i=i)
                tapelog.shutdown(10)
                os._exit(0)
            os.waitpid(pid, 0)
            log.info("parent", i=1)
            tapelog.shutdown(10)
            print(pid)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", forking], capture_output=True, text=True, timeout=60, check=False
        )
        assert 0 == result.returncode, result.stderr
        child = int(result.stdout.split()[-1])
        assert list((spool / f"pid-{child}").glob("*.batch"))

        collector.up()
        adopting = textwrap.dedent(
            f"""
            import json, tapelog
            tapelog.configure(json.loads({config!r}))
            tapelog.shutdown(20)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", adopting],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert 0 == result.returncode, result.stderr

        assert collector.wait_for(12)
        assert [0, 1, *range(100, 110)] == sorted(
            r["i"] for r in collector.records if r["logger"] == "fork"
        )
        assert not (spool / f"pid-{child}").exists()


class HangingServer:
    """Accepts connections and reads requests, but never answers until closed."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/ingest"
        self.requested = threading.Event()
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def holding(self) -> bool:
        with self._lock:
            return bool(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._held.append(connection)
            connection.settimeout(5)
            try:
                connection.recv(65536)
            except OSError:
                continue
            self.requested.set()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()
        with self._lock:
            held, self._held = self._held, []
        for connection in held:
            connection.close()


class TestSinkThreadSurvives:
    """#11 (defect 8): a value that makes an attempt raise must not lose the batch uncounted."""

    # socket.create_connection leaks the socket whose settimeout() raised: not ours to fix.
    @pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
    def test_a_failing_tick_counts_the_batch_it_held(self, collector: Collector) -> None:
        """Built in code past validation, timeout = 1e308 makes every attempt raise
        (OverflowError from the socket): each batch is counted failed and goes to the
        fallback; the thread lives on and the next sink call is served."""
        collector.up()
        rescued: list[dict[str, Any]] = []
        sink = HttpSink(
            "extreme", collector.url, JsonFormat(), timeout=1e308, max_records=1000, max_delay=0.05
        )
        sink.set_fallback(rescued.extend)
        try:
            for n in range(3):
                sink.write_batch([{"message": "m", "i": n * 10 + i} for i in range(10)])
                assert sink.wait_delivered(10)  # a forced tick: the held batch is sent
            counters = sink.counters
            assert (30, 0, 0) == (counters.failed, counters.written, counters.spooled)
            assert list(range(30)) == [e["i"] for e in rescued]
            taken = sink.take_failures()
            assert taken is not None
            assert "OverflowError" in taken[1]
        finally:
            sink.close()

    def test_a_retry_delay_of_1e308_keeps_the_thread_alive(self) -> None:
        """A backoff too long for a wait (built in code past validation) is waited in steps."""
        sink = HttpSink(
            "extreme",
            "http://127.0.0.1:9/ingest",
            JsonFormat(),
            timeout=2.0,
            max_delay=0.01,
            retry=RetryPolicy(initial_delay=1e308, max_delay=1e308),
        )
        try:
            sink.write_batch([{"message": "first"}])
            assert sink.wait_delivered(10)
            sink.write_batch([{"message": "second"}])
            assert sink.wait_delivered(10)  # answered: the thread did not die in its wait
            assert 2 == sink.counters.spooled
        finally:
            sink.close()
        assert 2 == sink.counters.failed  # given up at close, counted


class TestConformance:
    def test_passes_the_sink_kit_forks_included(self, collector: Collector) -> None:
        """HttpSink keeps the sink contract; a forked child delivers its own batch through a
        connection of its own, and the parent's sink goes on after it."""
        collector.up()
        check_sink(HttpSink("kit", collector.url, JsonFormat()), lambda: list(collector.records))
