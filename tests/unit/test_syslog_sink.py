"""Tests for tapelog.sinks._syslog.SyslogSink against sockets the test holds itself.

A real rsyslog is in tests/integration/test_syslog.py; these cover what a well-behaved
receiver never shows: closed ports, dropped connections, partial sends, stream sockets.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

import pytest

import tapelog
from tapelog.config import validate
from tapelog.exceptions import ConfigError
from tapelog.formats import JsonFormat, Rfc5424Format
from tapelog.sinks._syslog import SyslogSink, _SendError


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def entry(message: str = "hello", **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": "2026-11-23T07:01:02.123456Z",
        "level": "info",
        "logger": "proxy",
        "message": message,
        **fields,
    }


def read_frames(conn: socket.socket, count: int) -> list[bytes]:
    """Read ``count`` octet-counted frames (RFC 6587) from a stream."""
    conn.settimeout(5)
    buffer = b""
    frames: list[bytes] = []
    while len(frames) < count:
        length, space, rest = buffer.partition(b" ")
        if space and len(rest) >= int(length):
            frames.append(rest[: int(length)])
            buffer = rest[int(length) :]
            continue
        chunk = conn.recv(65536)
        assert chunk, f"stream ended after {len(frames)} frames"
        buffer += chunk
    assert b"" == buffer
    return frames


@pytest.fixture(name="listener")
def _listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(5)
        yield server


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def make_sink(transport: Any, address: Any, **options: Any) -> SyslogSink:
    options.setdefault("format", Rfc5424Format(app_name="test", hostname="h"))
    return SyslogSink(transport, address, **options)


class TestSyslogSink:
    def test_tcp_octet_counting(self, listener: socket.socket) -> None:
        """TCP frames are MSG-LEN SP MSG, and a newline inside a message stays inside it."""
        sink = make_sink("tcp", listener.getsockname())
        sink.write_batch([entry("one\ntwo"), entry("日本")])
        sink.flush()
        conn, _ = listener.accept()
        with conn:
            frames = read_frames(conn, 2)
        sink.close()

        assert [b"one\ntwo", "日本".encode()] == [
            frame.split(b"\xef\xbb\xbf")[1] for frame in frames
        ]
        assert (2, 0, 0) == (sink.counters.written, sink.counters.retried, sink.counters.failed)

    def test_reconnects_when_the_receiver_closed(self, listener: socket.socket) -> None:
        """A connection the receiver closed is noticed before sending, so nothing is lost."""
        sink = make_sink("tcp", listener.getsockname())
        sink.write_batch([entry("first")])
        sink.flush()
        conn, _ = listener.accept()
        with conn:
            read_frames(conn, 1)
        sink.write_batch([entry("second")])
        sink.flush()
        conn, _ = listener.accept()
        with conn:
            frames = read_frames(conn, 1)
        sink.close()

        assert frames[0].endswith(b"second")
        assert (2, 0, 0) == (sink.counters.written, sink.counters.retried, sink.counters.failed)

    def test_gives_up_after_max_attempts(self) -> None:
        """A closed port is retried with backoff, then the batch goes to the fallback."""
        sink = make_sink("tcp", ("127.0.0.1", closed_port()), initial_delay=0.01, max_attempts=3)
        fallback: list[dict[str, Any]] = []
        sink.set_fallback(fallback.extend)
        batch = [entry("a"), entry("b")]
        sink.write_batch(batch)
        sink.flush()
        sink.close()
        failures = sink.take_failures()

        assert (0, 2, 2) == (sink.counters.written, sink.counters.retried, sink.counters.failed)
        assert batch == fallback
        assert failures is not None
        assert 2 == failures[0]
        assert "ConnectionRefusedError" in failures[1]

    def test_closing_stops_the_backoff(self) -> None:
        """Closing gives up a batch waiting out a long backoff instead of waiting."""
        sink = make_sink("tcp", ("127.0.0.1", closed_port()), initial_delay=60, max_attempts=9)
        sink.flush_timeout = 0.1
        sink.write_batch([entry()])
        sink.close()
        sink.write_batch([entry(), entry()])  # after close: a new thread, still unreachable
        sink.flush_timeout = 0.1
        sink.close()

        assert (0, 3) == (sink.counters.written, sink.counters.failed)

    def test_partial_send_resumes_after_the_last_whole_frame(self) -> None:
        """Frames the kernel took count as sent; the one cut short is sent again whole."""

        class Stalls:
            type = socket.SOCK_STREAM

            def __init__(self) -> None:
                self.taken = b""

            def send(self, data: memoryview) -> int:
                if len(self.taken) >= 10:
                    raise TimeoutError("stalled")
                self.taken += bytes(data[:4])
                return 4

        sink = make_sink("tcp", ("127.0.0.1", 1))
        with pytest.raises(_SendError) as caught:
            sink._send(Stalls(), [b"abc", b"defg", b"h", b"ij"], 1)  # type: ignore[arg-type]

        assert 2 == caught.value.sent  # "4 defg" and "1 h" went out, "2 ij" did not
        assert isinstance(caught.value.cause, TimeoutError)

    def test_unix_stream_fallback(self, tmp_path: Path) -> None:
        """A unix path that is a stream socket gets octet-counted frames."""
        path = tmp_path / "log.sock"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
            server.bind(str(path))
            server.listen()
            server.settimeout(5)
            sink = make_sink("unix", str(path))
            sink.write_batch([entry("over a stream")])
            sink.flush()
            conn, _ = server.accept()
            with conn:
                frames = read_frames(conn, 1)
            sink.close()

        assert frames[0].endswith(b"over a stream")

    def test_udp_datagrams_and_truncation(self) -> None:
        """UDP sends one datagram per message, shortened to max_message_size, reported once."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
            server.bind(("127.0.0.1", 0))
            server.settimeout(5)
            sink = make_sink("udp", server.getsockname(), max_message_size=480)
            sink.write_batch([entry("short"), entry("x" * 2000)])
            sink.flush()
            datagrams = [server.recv(65536), server.recv(65536)]
            sink.close()
        reports = sink.periodic()

        assert datagrams[0].endswith(b"short")
        assert 480 == len(datagrams[1])
        assert b'truncated="' in datagrams[1]
        assert [1] == [fields["truncated"] for _, _, fields in reports]
        assert [] == sink.periodic()

    def test_after_fork_reconnects(self, listener: socket.socket) -> None:
        """A forked child drops the parent's connection and opens its own."""
        sink = make_sink("tcp", listener.getsockname())
        sink.write_batch([entry("parent")])
        sink.flush()
        first, _ = listener.accept()
        sink.after_fork()
        sink.write_batch([entry("child")])
        sink.flush()
        second, _ = listener.accept()
        with first, second:
            frames = read_frames(second, 1)
        sink.close()

        assert frames[0].endswith(b"child")

    @pytest.mark.parametrize(
        ("transport", "address", "match"),
        [
            ("sctp", ("h", 1), "transport"),
            ("unix", ("h", 1), "socket path"),
            ("tcp", "/dev/log", "host, port"),
        ],
    )
    def test_bad_arguments(self, transport: Any, address: Any, match: str) -> None:
        """The constructor checks the transport and the address form."""
        with pytest.raises(ValueError, match=match):
            SyslogSink(transport, address)

    def test_repr(self) -> None:
        """The repr shows where messages go."""

        assert "SyslogSink('tcp://[::1]:601', name='syslog')" == repr(
            SyslogSink("tcp", ("::1", 601))
        )


class TestFromConfig:
    def test_options(self) -> None:
        """The validated table becomes the sink: address, format, limits, reconnect."""
        (config,) = validate(
            {
                "sinks": [
                    {
                        "type": "syslog",
                        "name": "relay",
                        "address": "udp://[::1]:5514",
                        "app_name": "proxy-rotator",
                        "facility": "local4",
                        "sd_id": "proxy@32473",
                        "max_message_size": "1 KiB",
                        "timeout": "250ms",
                        "reconnect": {"initial_delay": "10ms", "max_attempts": 3},
                    }
                ]
            }
        ).sinks
        sink = SyslogSink.from_config(config, JsonFormat())

        assert (
            "udp://[::1]:5514",
            "relay",
            1024,
            0.25,
            (0.01, 30.0, 3),
            (20, "proxy@32473"),
        ) == (
            sink.where,
            sink.name,
            sink.max_message_size,
            sink.timeout,
            (sink.initial_delay, sink.max_delay, sink.max_attempts),
            (sink.format.facility, sink.format.sd_id),
        )

    @pytest.mark.parametrize(
        ("msg", "body"), [("entry", b'"message":"hello"'), ("message", b"\xef\xbb\xbfhello")]
    )
    def test_msg(self, msg: str, body: bytes) -> None:
        """msg = "entry" puts the formatted entry in MSG; "message" only its text."""
        (config,) = validate(
            {"sinks": [{"type": "syslog", "address": "unix:///dev/log", "msg": msg}]}
        ).sinks

        assert body in SyslogSink.from_config(config, JsonFormat()).format.render(entry())

    @pytest.mark.parametrize(
        ("table", "path"),
        [
            ({"address": "udp://h", "max_message_size": 65508}, "sinks[0].max_message_size"),
            ({"address": "tcp://h", "max_message_size": 479}, "sinks[0].max_message_size"),
            ({"address": "tcp://h", "msg": "json"}, "sinks[0].msg"),
            (
                {"address": "tcp://h", "reconnect": {"max_attempts": 0}},
                "sinks[0].reconnect.max_attempts",
            ),
            (
                {"address": "tcp://h", "reconnect": {"initial_delay": "0s"}},
                "sinks[0].reconnect.initial_delay",
            ),
        ],
    )
    def test_bad_options(self, table: dict[str, Any], path: str) -> None:
        """Limits that cannot work are refused, naming the key."""
        with pytest.raises(ConfigError) as caught:
            validate({"sinks": [{"type": "syslog", **table}]})

        assert path == caught.value.path

    def test_unreadable_ca_file(self, tmp_path: Path) -> None:
        """A CA file that cannot be read fails configure() with a ConfigError."""
        missing = tmp_path / "missing.pem"
        with pytest.raises(ConfigError, match="No such file"):
            tapelog.configure(
                sinks=[{"type": "syslog", "address": "tls://127.0.0.1", "ca_file": str(missing)}]
            )
