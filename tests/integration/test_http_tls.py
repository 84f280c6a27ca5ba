"""The http sink over TLS against a real HTTPS receiver on 127.0.0.1: a private CA, mTLS."""

from __future__ import annotations

import shutil
import ssl
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need, read_jsonl
from tests.integration.rsyslog import self_signed
from tests.integration.test_http_sink import balanced, configure, http_sink, sink_stats, wait_until

import tapelog
from tapelog.cli._collector import Collector
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(name="certs")
def _certs(tmp_path: Path) -> dict[str, tuple[Path, Path]]:
    need(shutil.which("openssl") is not None, "openssl is not installed (apt-get install openssl)")
    return {
        "server": self_signed(tmp_path, "server"),
        "client": self_signed(tmp_path, "client", ip=False),
        "stranger": self_signed(tmp_path, "stranger", ip=False),
    }


def _server_context(
    certs: dict[str, tuple[Path, Path]], *, client_ca: Path | None = None
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certs["server"])
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    return context


@pytest.fixture(name="receiver")
def _receiver(certs: dict[str, tuple[Path, Path]]) -> Iterator[Collector]:
    with Collector(tls=_server_context(certs)) as collector:
        yield collector


@pytest.fixture(name="strict_receiver")
def _strict_receiver(certs: dict[str, tuple[Path, Path]]) -> Iterator[Collector]:
    context = _server_context(certs, client_ca=certs["client"][0])
    with Collector(tls=context) as collector:
        yield collector


def _failure_reasons(path: Path) -> list[str]:
    return [
        str(e.get("reason"))
        for e in read_jsonl(path)
        if e.get("event") == "tapelog.sink_failed" and e.get("sink") == "http"
    ]


def _with_report_file(tmp_path: Path, sink: dict[str, Any]) -> Path:
    report = tmp_path / "tapelog.jsonl"
    configure(sink, {"type": "file", "path": str(report), "filter": {"loggers": ["tapelog"]}})
    return report


class TestPrivateCa:
    def test_delivered_when_the_ca_file_names_the_receivers_issuer(
        self, receiver: Collector, certs: dict[str, tuple[Path, Path]]
    ) -> None:
        """An https:// receiver with a private certificate: ca_file makes it trusted."""
        configure(http_sink(receiver.url, ca_file=str(certs["server"][0])))
        for i in range(20):
            tapelog.get_logger("tls").info("m", i=i)
        assert tapelog.flush(10)

        assert receiver.wait_for(20)
        assert list(range(20)) == [r["i"] for r in receiver.records if r.get("logger") == "tls"]
        assert balanced()

    def test_refused_without_it_and_the_reason_says_why(
        self, receiver: Collector, tmp_path: Path
    ) -> None:
        """Against the system's CAs the certificate does not verify: nothing is sent, and the
        failure report names the certificate check."""
        report = _with_report_file(tmp_path, http_sink(receiver.url))
        tapelog.get_logger("tls").info("never sent")
        assert tapelog.flush(10)
        assert wait_until(lambda: sink_stats().failed == 1)
        assert wait_until(lambda: report.exists() and bool(_failure_reasons(report)))

        assert [] == receiver.records
        assert "CERTIFICATE_VERIFY_FAILED" in _failure_reasons(report)[0]


def _configure_as(receiver: Collector, certs: dict[str, tuple[Path, Path]], who: str) -> None:
    """An https sink to ``receiver`` presenting the certificate ``who``."""
    cert, key = certs[who]
    sink = http_sink(
        receiver.url, ca_file=str(certs["server"][0]), cert_file=str(cert), key_file=str(key)
    )
    configure(sink)


class TestClientCertificate:
    def test_delivered_with_the_certificate_the_receiver_asks_for(
        self, strict_receiver: Collector, certs: dict[str, tuple[Path, Path]]
    ) -> None:
        """mTLS: cert_file and key_file identify the sender."""
        _configure_as(strict_receiver, certs, "client")
        tapelog.get_logger("mtls").info("hello")
        assert tapelog.flush(10)

        assert strict_receiver.wait_for(1)
        assert ["hello"] == [r["message"] for r in strict_receiver.records]

    def test_another_certificate_is_refused(
        self, strict_receiver: Collector, certs: dict[str, tuple[Path, Path]]
    ) -> None:
        """A certificate the receiver does not trust gets nothing through."""
        _configure_as(strict_receiver, certs, "stranger")
        tapelog.get_logger("mtls").info("refused")
        assert tapelog.flush(10)
        assert wait_until(lambda: sink_stats().failed == 1)

        assert [] == strict_receiver.records


class TestTlsOptions:
    def test_tls_files_need_an_https_url(self) -> None:
        """ca_file with an http:// URL is an error naming the key."""
        with pytest.raises(ConfigError, match=r"sinks\[0\]\.ca_file: expected ca_file only with"):
            tapelog.configure(sinks=[http_sink("http://127.0.0.1:9/x", ca_file="ca.pem")])

    def test_key_file_needs_cert_file(self) -> None:
        """key_file alone is an error naming the key."""
        with pytest.raises(ConfigError, match=r"sinks\[0\]\.key_file: expected cert_file"):
            tapelog.configure(sinks=[http_sink("https://127.0.0.1:9/x", key_file="k.pem")])

    def test_unreadable_file_keeps_the_old_configuration(self, tmp_path: Path) -> None:
        """A ca_file that is not there fails configure() and changes nothing."""
        missing = tmp_path / "missing.pem"
        with pytest.raises(ConfigError, match="a sink that can be built"):
            tapelog.configure(sinks=[http_sink("https://127.0.0.1:9/x", ca_file=str(missing))])
