"""#11: what an http sink holds survives a SIGKILL (spool before the first attempt), and
shutdown(timeout) ends within its timeout with every entry spooled or counted.

Real processes, a real SIGKILL, real sockets on 127.0.0.1: a collector that accepts and
never answers (``HangingServer``), and the demo's collector to receive what is recovered.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from tests.integration.test_http_sink import HangingServer

from tapelog.cli._collector import Collector
from tapelog.sinks._spool import close_spool, decode_batch, encode_batch, open_spool


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BOUND = 30.0  # waiting for a child process to get going; not a timing assertion


@pytest.fixture(name="hang")
def _hang() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    collector = Collector()
    yield collector
    collector.close()


def sink(url: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": url,
        "timeout": "30s",
        "batch": {"max_records": 1000, "max_delay": "100ms"},
        "retry": {"initial_delay": "50ms", "max_delay": "200ms"},
        **options,
    }


def python(code: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


LOG_THEN_WAIT = """
    import json, sys, time, tapelog
    tapelog.configure({{"sinks": [json.loads(sys.argv[1])]}})
    log = tapelog.get_logger("loss")
    for i in range(1000):
        log.info("m", i=i)
    print("logged", flush=True)
    time.sleep(600)
"""

SEND_SPOOL = """
    import json, sys, tapelog
    tapelog.configure({{"sinks": [json.loads(sys.argv[1])]}})
    tapelog.shutdown(20)
"""


def recover(collector: Collector, spool: Path) -> list[int]:
    """Start a process on the spool with the collector up; return the ``i`` it delivered."""
    collector.up()
    proc = python(SEND_SPOOL.format(), json.dumps(sink(collector.url, spool_dir=str(spool))))
    _, err = proc.communicate(timeout=60)
    assert 0 == proc.returncode, err
    collector.wait_for(1000, timeout=BOUND)
    return sorted(r["i"] for r in collector.records if r.get("logger") == "loss")


class TestSpoolBeforeSend:
    def test_sigkill_during_the_first_attempt_loses_nothing(
        self, hang: HangingServer, collector: Collector, tmp_path: Path
    ) -> None:
        """A collector that accepts and never answers, then SIGKILL: the next process sends all
        1000 entries (it recovered 0 when the batch was only in memory during its attempt)."""
        spool = tmp_path / "spool"
        # The batch is cut by its 1000th record, never by its age: a loaded machine that
        # takes longer than max_delay to hand over the 1000 entries would otherwise cut a
        # first batch short, and SIGKILL would then take the rest from memory, which no
        # spool promises to keep.
        options = {"spool_dir": str(spool), "batch": {"max_records": 1000, "max_delay": "60s"}}
        proc = python(LOG_THEN_WAIT.format(), json.dumps(sink(hang.url, **options)))
        try:
            assert hang.requested.wait(BOUND)  # the first attempt is in progress, hanging
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(BOUND)
        finally:
            proc.kill()
            proc.communicate()
        assert -signal.SIGKILL == proc.returncode

        assert list(range(1000)) == recover(collector, spool)


SHUTDOWN = """
    import json, os, sys, time, tapelog
    tapelog.configure({{"sinks": [json.loads(sys.argv[1])]}})
    log = tapelog.get_logger("loss")
    for i in range(1000):
        log.info("m", i=i)
    time.sleep(float(sys.argv[2]))  # the batch is cut and its attempt hangs
    start = time.monotonic()
    tapelog.shutdown(2.0)
    took = time.monotonic() - start
    stats = tapelog.stats()
    print(json.dumps({{"took": took, "processed": stats.processed,
                       **stats.as_dict()["sinks"]["http"]}}), flush=True)
    os._exit(0)  # what an exit would do after the deadline: no more waiting
"""


def balanced(result: dict[str, Any]) -> bool:
    """processed == written + filtered + sampled_out + failed + spooled (tapelog's own
    last report of the failure, written after the sink closed, is filtered there)."""
    return result["processed"] == sum(
        result[k] for k in ("written", "filtered", "sampled_out", "failed", "spooled")
    )


def shutdown_against(hang: HangingServer, options: dict[str, Any]) -> dict[str, Any]:
    proc = python(SHUTDOWN.format(), json.dumps(sink(hang.url, **options)), "1.0")
    out, err = proc.communicate(timeout=120)
    assert 0 == proc.returncode, err
    assert hang.requested.is_set()
    return json.loads(out.splitlines()[-1])


class TestBoundedShutdown:
    def test_shutdown_ends_within_its_timeout_and_counts_the_batch_in_flight(
        self, hang: HangingServer
    ) -> None:
        """shutdown(2.0) against a hung collector with a 30 s request timeout: it took 22 s and
        lost the batch uncounted; now it ends in time and counts it failed (no spool)."""
        result = shutdown_against(hang, {})

        assert result["took"] < 10.0  # a bound, not a speed: the request timeout is 30 s
        assert (0, 1000, 0) == (result["written"], result["failed"], result["spooled"])
        assert balanced(result)

    def test_with_a_spool_the_batch_in_flight_stays_on_disk(
        self, hang: HangingServer, collector: Collector, tmp_path: Path
    ) -> None:
        """With spool_dir, shutdown(2.0) leaves the hung batch spooled; the next process sends it."""
        spool = tmp_path / "spool"
        result = shutdown_against(hang, {"spool_dir": str(spool)})

        assert result["took"] < 10.0
        assert (0, 0, 1000) == (result["written"], result["failed"], result["spooled"])
        assert balanced(result)
        assert list(range(1000)) == recover(collector, spool)


class TestStaleTemporaryFiles:
    def test_a_tmp_file_left_by_a_killed_writer_is_recovered_not_deleted(
        self, tmp_path: Path
    ) -> None:
        """A batch file caught between write and rename becomes a batch again at the next start;
        a torn one keeps its whole entries; one without a whole entry is removed."""
        spool_dir = tmp_path / "spool"
        spool_dir.mkdir()
        whole = encode_batch("key-whole", [{"i": i} for i in range(10)])
        torn = encode_batch("key-torn", [{"i": i} for i in range(10, 20)])
        (spool_dir / "0000000000000003.tmp").write_bytes(whole)
        (spool_dir / "0000000000000004.tmp").write_bytes(torn[: len(torn) - 5])
        (spool_dir / "0000000000000005.tmp").write_bytes(torn[:20])

        spool = open_spool(spool_dir, 1 << 20)
        try:
            batches = []
            while (parked := spool.head()) is not None:
                batches.append(spool.load(parked))
        finally:
            close_spool(spool)

        assert [("key-whole", list(range(10))), ("key-torn", list(range(10, 19)))] == [
            (b.key, [e["i"] for e in b.entries]) for b in batches
        ]
        assert all(b.complete for b in batches)
        assert [] == list(spool_dir.glob("*.tmp"))
        assert 2 == len(list(spool_dir.glob("*.batch")))
        assert decode_batch((spool_dir / "0000000000000003.batch").read_bytes()).complete


REPORTS = """
    import json, sys, time, tapelog
    tapelog.configure(json.loads(sys.argv[1]))
    log = tapelog.get_logger("loss")
    for burst in range(3):
        for i in range(100):
            log.info("m", burst=burst, i=i)
        tapelog.flush(10)
        time.sleep(0.3)
    tapelog.shutdown(10)
    print(json.dumps(tapelog.stats().as_dict()["sinks"]["http"]), flush=True)
"""


class TestReportsBeforeShutdown:
    def test_every_failure_is_reported_before_shutdown_ends(self, tmp_path: Path) -> None:
        """#11 (defect 10): failures in the last 5 s before shutdown() were never reported
        (the rate limit held them); those of closing a network sink neither. The reports
        written to the file now add up to the failed counter."""
        out = tmp_path / "app.jsonl"
        config = {
            "sinks": [
                {"type": "file", "path": str(out)},
                {
                    "type": "http",
                    "url": f"http://127.0.0.1:{closed_port()}/ingest",
                    "batch": {"max_records": 20, "max_delay": "10ms"},
                    "retry": {"initial_delay": "10ms", "max_delay": "20ms", "max_attempts": 2},
                },
            ]
        }
        proc = python(REPORTS.format(), json.dumps(config))
        stdout, err = proc.communicate(timeout=120)
        assert 0 == proc.returncode, err
        counters = json.loads(stdout.splitlines()[-1])
        entries = [json.loads(line) for line in out.read_text().splitlines()]
        reported = sum(
            e["failed"]
            for e in entries
            if e.get("event") == "tapelog.sink_failed" and e["sink"] == "http"
        )

        assert counters["failed"] >= 300
        assert counters["failed"] == reported


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
