"""A real rsyslog on 127.0.0.1 for the syslog tests, run unprivileged in a temp directory.

The set-up: ``rsyslogd -n`` (in the foreground) with its own config and pid file; imtcp
on port 0 reporting its port through ``listenPortFileName``; imudp on a port picked here; a TLS imtcp (gtls, anonymous client
authentication) with a self-signed certificate for ``IP:127.0.0.1``; imuxsock on a socket
in the directory. Every message goes to ``received.jsonl`` as rsyslog's ``%jsonmesg%``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = ["Rsyslog", "gtls_available", "rsyslog_missing", "running_rsyslog"]

START_TIMEOUT = 5.0
PROBE_APP = "fixture-probe"

_GTLS_PATTERNS = (
    "/usr/lib/*/rsyslog/lmnsd_gtls.so",
    "/usr/lib/rsyslog/lmnsd_gtls.so",
    "/usr/lib64/rsyslog/lmnsd_gtls.so",
)


def rsyslog_missing() -> str | None:
    """Why the fixture cannot run here, or None."""
    for tool, package in (("rsyslogd", "rsyslog"), ("openssl", "openssl")):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install {package})"
    return None


def gtls_available() -> bool:
    """Whether rsyslog's GnuTLS driver (Debian's rsyslog-gnutls) is installed."""
    root = Path("/")
    return any(any(root.glob(pattern.lstrip("/"))) for pattern in _GTLS_PATTERNS)


@dataclass
class Rsyslog:
    """A running rsyslogd and what it received."""

    directory: Path
    process: subprocess.Popen[bytes]
    tcp_port: int | None = None
    tls_port: int | None = None
    udp_port: int | None = None
    socket_path: Path | None = None
    ca_file: Path | None = None
    _log: Any = field(default=None, repr=False)

    @property
    def output(self) -> Path:
        return self.directory / "received.jsonl"

    def received(self) -> list[dict[str, Any]]:
        """Every complete line rsyslog wrote so far, parsed."""
        try:
            text = self.output.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in text.splitlines(keepends=True) if line[-1] == "\n"]

    def wait_for(
        self,
        count: int,
        where: Callable[[dict[str, Any]], bool] = lambda _message: True,
        timeout: float = 10.0,
    ) -> list[dict[str, Any]]:
        """Poll until ``count`` received messages match ``where``; return the matches."""
        deadline = time.monotonic() + timeout
        while True:
            matches = [message for message in self.received() if where(message)]
            if len(matches) >= count or time.monotonic() > deadline:
                return matches
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop rsyslogd (SIGTERM, then SIGKILL after 5 s) and release its log file."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def errors(self) -> str:
        """What rsyslogd wrote to stderr (its own complaints), for failure messages."""
        path = self.directory / "rsyslogd.err"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def self_signed(directory: Path, name: str, *, ip: bool = True) -> tuple[Path, Path]:
    """A throwaway certificate (its own CA) and key, made by openssl.

    With ``ip``, it names ``127.0.0.1`` (a server's); otherwise it is a client's, ``CN=name``.
    """
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subject = ["-subj", f"/CN={name}"]
    if ip:
        subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", *subject,
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _config(
    directory: Path,
    *,
    tcp_port: int,
    tls: tuple[Path, Path] | None,
    udp_port: int | None,
    socket_path: Path | None,
) -> str:
    work = directory / "work"
    work.mkdir(exist_ok=True)
    global_params = [f'workDirectory="{work}"', 'maxMessageSize="64k"']
    if tls is not None:
        cert, key = tls
        global_params += [
            f'defaultNetstreamDriverCAFile="{cert}"',
            f'defaultNetstreamDriverCertFile="{cert}"',
            f'defaultNetstreamDriverKeyFile="{key}"',
        ]
    lines = [
        f"global({' '.join(global_params)})",
        'module(load="imtcp")',
        'template(name="tjson" type="string" string="%jsonmesg%\\n")',
        'ruleset(name="capture") {',
        f'  action(type="omfile" file="{directory / "received.jsonl"}" template="tjson")',
        "}",
    ]
    port_file = f' listenPortFileName="{directory / "tcp.port"}"' if tcp_port == 0 else ""
    lines.append(
        f'input(type="imtcp" name="tcp" address="127.0.0.1" port="{tcp_port}"{port_file}'
        ' ruleset="capture")'
    )
    if tls is not None:
        lines.append(
            'input(type="imtcp" name="tls" address="127.0.0.1" port="0"'
            f' listenPortFileName="{directory / "tls.port"}" ruleset="capture"'
            ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")'
        )
    if udp_port is not None:
        lines += [
            'module(load="imudp")',
            (
                f'input(type="imudp" name="udp" address="127.0.0.1" port="{udp_port}"'
                ' ruleset="capture")'
            ),
        ]
    if socket_path is not None:
        # The regular parser chain (not the syslog(3) one), so RFC 5424 is parsed as sent.
        lines += [
            'module(load="imuxsock" sysSock.use="off")',
            (
                f'input(type="imuxsock" socket="{socket_path}" useSpecialParser="off"'
                ' parseHostname="on" ignoreTimestamp="off" rateLimit.interval="0"'
                ' ruleset="capture")'
            ),
        ]
    return "\n".join(lines) + "\n"


def _read_port(path: Path, deadline: float, server: Rsyslog) -> int:
    while True:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(path.read_text(encoding="ascii"))
        _check_alive(server, deadline, f"{path.name} to appear")
        time.sleep(0.02)


def _check_alive(server: Rsyslog, deadline: float, waiting_for: str) -> None:
    if server.process.poll() is not None or time.monotonic() > deadline:
        server.stop()
        state = "exited" if server.process.returncode is not None else "timed out"
        msg = f"rsyslogd {state} waiting for {waiting_for}:\n{server.errors()}"
        raise RuntimeError(msg)


def _wait_listening(port: int, deadline: float, server: Rsyslog) -> None:
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        _check_alive(server, deadline, f"port {port}")
        time.sleep(0.02)


def _probe(server: Rsyslog, deadline: float) -> None:
    """Send one message per datagram input until it arrives: imudp and imuxsock are up."""
    targets: list[tuple[int, object, str]] = []
    if server.udp_port is not None:
        targets.append((socket.AF_INET, ("127.0.0.1", server.udp_port), "udp"))
    if server.socket_path is not None:
        targets.append((socket.AF_UNIX, str(server.socket_path), "unix"))
    for family, address, label in targets:
        message = f"<14>1 - - {PROBE_APP} - {label} - probe".encode()

        def arrived(entry: dict[str, Any], label: str = label) -> bool:
            return entry.get("app-name") == PROBE_APP and entry.get("msgid") == label

        while not any(arrived(entry) for entry in server.received()):
            with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.sendto(message, address)
            _check_alive(server, deadline, f"the {label} probe")
            time.sleep(0.05)


@contextlib.contextmanager
def running_rsyslog(
    directory: Path,
    *,
    tcp_port: int = 0,
    tls: bool = True,
    udp: bool = True,
    unix: bool = True,
) -> Iterator[Rsyslog]:
    """Run rsyslogd with the inputs asked for; stop it on exit.

    Args:
        directory: a fresh directory for its config, certificate, socket and output.
        tcp_port: the plain TCP port, or 0 for one rsyslog picks.
        tls: add a TLS input (when rsyslog-gnutls is installed).
        udp: add a UDP input, on a port picked here.
        unix: add a unix datagram socket input, ``directory / "log.sock"``.
    """
    tls_files = self_signed(directory, "rsyslog") if tls and gtls_available() else None
    udp_port = free_port(socket.SOCK_DGRAM) if udp else None
    socket_path = directory / "log.sock" if unix else None
    config = directory / "rsyslog.conf"
    config.write_text(
        _config(
            directory, tcp_port=tcp_port, tls=tls_files, udp_port=udp_port, socket_path=socket_path
        ),
        encoding="utf-8",
    )
    log = (directory / "rsyslogd.err").open("wb")
    process = subprocess.Popen(
        ["rsyslogd", "-n", "-f", str(config), "-i", str(directory / "rsyslogd.pid")],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Rsyslog(directory, process, udp_port=udp_port, socket_path=socket_path, _log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        if tcp_port == 0:
            server.tcp_port = _read_port(directory / "tcp.port", deadline, server)
        else:
            server.tcp_port = tcp_port
            _wait_listening(tcp_port, deadline, server)
        if tls_files is not None:
            server.tls_port = _read_port(directory / "tls.port", deadline, server)
            server.ca_file = tls_files[0]
        _probe(server, deadline)
        yield server
    finally:
        server.stop()
