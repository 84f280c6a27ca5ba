"""The http sink through a real HTTP proxy on 127.0.0.1: forwarding, CONNECT, credentials."""

from __future__ import annotations

import base64
import contextlib
import shutil
from typing import TYPE_CHECKING

import pytest
from tests.conftest import need, read_jsonl
from tests.integration.proxy import Proxy
from tests.integration.rsyslog import free_port, self_signed
from tests.integration.test_http_sink import balanced, configure, http_sink, sink_stats, wait_until
from tests.integration.test_http_tls import _server_context, _with_report_file

import tapelog
from tapelog.cli._collector import Collector


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

BASIC = "Basic " + base64.b64encode(b"logs:s3cret-pw").decode()


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    with Collector() as collector:
        yield collector


@pytest.fixture(name="proxy")
def _proxy() -> Iterator[Proxy]:
    with contextlib.closing(Proxy()) as proxy:
        yield proxy


def _log(logger: str, count: int) -> None:
    log = tapelog.get_logger(logger)
    for i in range(count):
        log.info("m", i=i)
    assert tapelog.flush(10)


class TestThroughAProxy:
    def test_http_receiver_gets_the_entries_forwarded(
        self, collector: Collector, proxy: Proxy
    ) -> None:
        """An http:// receiver: the proxy is asked for the absolute URL and forwards it."""
        configure(http_sink(collector.url, proxy=proxy.url))
        _log("fwd", 30)

        assert collector.wait_for(30)
        assert list(range(30)) == [r["i"] for r in collector.records if r.get("logger") == "fwd"]
        assert {("POST", collector.url)} == {(m, t) for m, t, _ in proxy.requests}
        assert balanced()

    def test_https_receiver_is_reached_through_a_tunnel(self, proxy: Proxy, tmp_path: Path) -> None:
        """An https:// receiver: CONNECT, then TLS end to end, checked against ca_file."""
        need(shutil.which("openssl") is not None, "openssl is not installed")
        certs = {"server": self_signed(tmp_path, "server")}
        with Collector(tls=_server_context(certs)) as receiver:
            configure(http_sink(receiver.url, proxy=proxy.url, ca_file=str(certs["server"][0])))
            _log("tunnel", 20)

            assert receiver.wait_for(20)
            assert [("CONNECT", f"127.0.0.1:{receiver.port}", None)] == proxy.requests[:1]
            assert {"CONNECT"} == {m for m, _, _ in proxy.requests}

    def test_credentials_in_the_proxy_url_are_sent_and_never_reported(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """user:password in the proxy URL becomes Proxy-Authorization; a wrong password is
        refused (407) and the report names the status, not the password."""
        with contextlib.closing(Proxy(authorization=BASIC)) as proxy:
            good = proxy.url.replace("http://", "http://logs:s3cret-pw@")
            configure(http_sink(collector.url, proxy=good))
            _log("auth", 5)
            assert collector.wait_for(5)
            assert {BASIC} == {auth for _, _, auth in proxy.requests}

            bad = proxy.url.replace("http://", "http://logs:wrong-pw@")
            report = _with_report_file(tmp_path, http_sink(collector.url, proxy=bad))
            _log("auth", 1)
            assert wait_until(lambda: sink_stats().failed == 1)
            assert wait_until(lambda: report.exists() and "407" in report.read_text())

        text = report.read_text()
        assert "wrong-pw" not in text
        assert "s3cret-pw" not in text
        assert any("407" in str(e.get("reason")) for e in read_jsonl(report))

    def test_a_proxy_that_is_down_is_named_in_the_failure(
        self, collector: Collector, tmp_path: Path
    ) -> None:
        """Nothing listens at the proxy's address: retried, and the reason says "via proxy"."""
        dead = f"http://127.0.0.1:{free_port()}"
        report = _with_report_file(tmp_path, http_sink(collector.url, proxy=dead))
        _log("dead", 1)
        assert wait_until(lambda: sink_stats().failed == 1)
        assert wait_until(lambda: report.exists() and "via proxy" in report.read_text())

        assert [] == collector.records


class TestEnvironment:
    def test_loopback_receivers_skip_the_environments_proxy(
        self, collector: Collector, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """HTTP_PROXY is set, but a receiver on 127.0.0.1 is reached directly."""
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        configure(http_sink(collector.url))
        _log("env", 3)

        assert collector.wait_for(3)
        assert [] == proxy.requests

    def test_an_explicit_proxy_applies_even_to_loopback(
        self, collector: Collector, proxy: Proxy, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The sink's own proxy option wins over the environment, loopback or not."""
        monkeypatch.setenv("NO_PROXY", "*")
        configure(http_sink(collector.url, proxy=proxy.url))
        _log("explicit", 3)

        assert collector.wait_for(3)
        assert 1 <= len(proxy.requests)
