"""The syslog sink against a real rsyslog: what rsyslog received, per transport.

rsyslog writes each message it parsed as ``%jsonmesg%``; the tests read those lines back
and compare them with the same entries written by a file sink beside the syslog one.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need, read_jsonl
from tests.integration.rsyslog import free_port, running_rsyslog

import tapelog
from tapelog._stats import SinkStats


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.integration.rsyslog import Rsyslog

BOM = "\ufeff"


def app_name() -> str:
    """An APP-NAME of this test's own, to tell its messages from the others'."""
    return f"proxy-rotator-{uuid.uuid4().hex[:8]}"


def address(rsyslog: Rsyslog, transport: str) -> dict[str, Any]:
    """The syslog sink options that reach ``rsyslog`` over ``transport``."""
    if transport == "tls":
        need(rsyslog.tls_port is not None, "rsyslog's TLS driver is not installed (rsyslog-gnutls)")
        return {"address": f"tls://127.0.0.1:{rsyslog.tls_port}", "ca_file": str(rsyslog.ca_file)}
    if transport == "unix":
        return {"address": f"unix://{rsyslog.socket_path}"}
    port = rsyslog.udp_port if transport == "udp" else rsyslog.tcp_port
    return {"address": f"{transport}://127.0.0.1:{port}"}


def poll(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Wait until ``condition()`` holds, at most ``timeout`` seconds; return whether it did."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def sink_stats(name: str) -> SinkStats:
    """The named sink's counters (zero before the worker first saw it)."""
    return tapelog.stats().sinks.get(name, SinkStats())


def by_app(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda message: message.get("app-name") == name


class TestReceived:
    @pytest.mark.parametrize("transport", ["tcp", "udp", "tls", "unix"])
    def test_well_formed_rfc5424(self, rsyslog: Rsyslog, tmp_path: Path, transport: str) -> None:
        """rsyslog parses every header field, the structured data and the UTF-8 message."""
        app = app_name()
        path = tmp_path / "app.jsonl"
        tapelog.configure(
            sinks=[
                {
                    "type": "syslog",
                    "app_name": app,
                    "facility": "local3",
                    **address(rsyslog, transport),
                },
                {"type": "file", "path": str(path)},
            ]
        )
        log = tapelog.get_logger("proxy.pool")
        log.warning(
            "upstream slow: Zürich → 東京",
            event="proxy.upstream_slow",
            upstream="10.0.0.7:3128",
            note='say "hi" \\ [ok]',
            latency_ms=812,
        )
        assert tapelog.flush(10)
        received = rsyslog.wait_for(1, by_app(app))
        (written,) = read_jsonl(path)

        assert 1 == len(received), rsyslog.errors()
        message = received[0]
        assert {
            "pri": str(19 * 8 + 4),
            "syslogfacility": "19",
            "syslogseverity": "4",
            "protocol-version": "1",
            "timereported": written["timestamp"],
            "hostname": socket.gethostname(),
            "app-name": app,
            "procid": str(os.getpid()),
            "msgid": "proxy.upstream_slow",
            "structured-data": (
                '[tapelog@32473 level="warning" logger="proxy.pool" event="proxy.upstream_slow"'
                f' seq="{written["seq"]}" upstream="10.0.0.7:3128"'
                ' note="say \\"hi\\" \\\\ [ok\\]" latency_ms="812"]'
            ),
        } == {key: message[key] for key in (
            "pri", "syslogfacility", "syslogseverity", "protocol-version", "timereported",
            "hostname", "app-name", "procid", "msgid", "structured-data",
        )}  # fmt: skip
        assert message["msg"].startswith(BOM)
        assert written == json.loads(message["msg"].removeprefix(BOM))

    def test_levels_map_to_severities(self, rsyslog: Rsyslog) -> None:
        """Each tapelog level arrives with its RFC 5424 severity."""
        app = app_name()
        tapelog.configure(
            level="trace",
            sinks=[{"type": "syslog", "app_name": app, **address(rsyslog, "tcp")}],
        )
        log = tapelog.get_logger("levels")
        for name in ("trace", "debug", "info", "warning", "error", "critical"):
            getattr(log, name)(name)
        assert tapelog.flush(10)
        received = rsyslog.wait_for(6, by_app(app))

        assert {
            "trace": "7",
            "debug": "7",
            "info": "6",
            "warning": "4",
            "error": "3",
            "critical": "2",
        } == {
            json.loads(m["msg"].removeprefix(BOM))["message"]: m["syslogseverity"] for m in received
        }

    @pytest.mark.parametrize("transport", ["tcp", "tls"])
    def test_newline_does_not_split_a_message(self, rsyslog: Rsyslog, transport: str) -> None:
        """With msg = "message", an LF arrives escaped inside its own message, not as two."""
        app = app_name()
        tapelog.configure(
            sinks=[
                {"type": "syslog", "app_name": app, "msg": "message", **address(rsyslog, transport)}
            ]
        )
        log = tapelog.get_logger("multi")
        log.error("first line\nforged: <14>1 fake entry")
        log.error("plain 日本")
        assert tapelog.flush(10)
        received = rsyslog.wait_for(2, by_app(app))

        assert [
            BOM + "first line#012forged: <14>1 fake entry",
            BOM + "plain 日本",
        ] == [m["msg"] for m in received]

    def test_tls_client_certificate_and_batches(self, rsyslog: Rsyslog) -> None:
        """A TLS sink offering a client certificate delivers batch after batch."""
        app = app_name()
        tls = address(rsyslog, "tls")
        assert rsyslog.ca_file is not None
        tapelog.configure(
            sinks=[
                {
                    "type": "syslog",
                    "app_name": app,
                    "cert_file": str(rsyslog.ca_file),
                    "key_file": str(rsyslog.ca_file.with_suffix(".key")),
                    **tls,
                }
            ]
        )
        log = tapelog.get_logger("tls")
        for text in ("first", "second", "third"):
            log.info(text)
            assert tapelog.flush(10)
        received = rsyslog.wait_for(3, by_app(app))

        assert ["first", "second", "third"] == [
            json.loads(m["msg"].removeprefix(BOM))["message"] for m in received
        ]


class TestReliability:
    def test_receiver_down_at_start_then_up(self, tmp_path: Path) -> None:
        """Entries logged while rsyslog is down arrive once it is up, each once."""
        from tests.integration.rsyslog import rsyslog_missing

        missing = rsyslog_missing()
        need(missing is None, str(missing))
        port = free_port()
        app = app_name()
        tapelog.configure(
            sinks=[
                {
                    "type": "syslog",
                    "name": "late-syslog",
                    "address": f"tcp://127.0.0.1:{port}",
                    "app_name": app,
                    "reconnect": {
                        "initial_delay": "50ms",
                        "max_delay": "200ms",
                        "max_attempts": 100,
                    },
                }
            ]
        )
        log = tapelog.get_logger("proxy")
        for number in range(5):
            log.info("while down", number=number)
        assert poll(lambda: sink_stats("late-syslog").retried >= 2)
        with running_rsyslog(tmp_path, tcp_port=port, tls=False, udp=False, unix=False) as late:
            assert tapelog.flush(10)
            received = late.wait_for(5, by_app(app))
        stats = sink_stats("late-syslog")

        assert list(range(5)) == sorted(
            json.loads(m["msg"].removeprefix(BOM))["number"] for m in received
        )
        assert (5, 0) == (stats.written, stats.failed)

    def test_unreachable_syslog_never_delays_a_file_sink(self, tmp_path: Path) -> None:
        """A syslog sink at a closed port retries and fails on its own; the file gets all."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(
            sinks=[
                {
                    "type": "syslog",
                    "name": "unreachable",
                    "address": f"tcp://127.0.0.1:{free_port()}",
                    "reconnect": {"initial_delay": "1s", "max_attempts": 2},
                },
                {"type": "file", "name": "beside", "path": str(path)},
            ]
        )
        log = tapelog.get_logger("proxy")
        for number in range(50):
            log.info("entry", number=number)

        def logged() -> list[dict[str, Any]]:
            entries = read_jsonl(path) if path.exists() else []
            return [entry for entry in entries if entry["logger"] == "proxy"]

        def reported() -> bool:
            return any(
                entry.get("event") == "tapelog.sink_failed" and entry["sink"] == "unreachable"
                for entry in read_jsonl(path)
            )

        assert poll(lambda: len(logged()) >= 50, timeout=5.0)
        assert 0 == sink_stats("unreachable").written
        assert list(range(50)) == [entry["number"] for entry in logged()]
        assert tapelog.flush(15)
        assert poll(reported)
        assert tapelog.flush(5)
        beside, unreachable = sink_stats("beside"), sink_stats("unreachable")

        assert (len(read_jsonl(path)), 0) == (beside.written, beside.failed)
        assert (0, 50) == (unreachable.written, unreachable.failed)
        assert unreachable.retried >= 1
