"""Which HTTP proxy a network sink goes through: the configured one, or the environment's.

``proxy = "http://[user:password@]host:port"`` in a sink's table is used as given, even for
a loopback receiver. Without it, the conventional variables apply as curl and most HTTP
clients read them: ``HTTPS_PROXY`` for ``https://`` URLs, ``HTTP_PROXY`` for ``http://``
(lowercase first), and ``NO_PROXY`` (comma-separated host names, domain suffixes such as
``.example.com``, or ``*``) lists what to reach directly. Loopback receivers (``localhost``,
``127.0.0.0/8``, ``::1``) are always reached directly from the environment's settings.
``proxy = "none"`` turns proxying off whatever the environment says.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote, urlsplit


if TYPE_CHECKING:
    from collections.abc import Mapping


__all__ = ["NO_PROXY", "Proxy", "parse_proxy", "proxy_for"]

NO_PROXY: Final = "none"
"""The ``proxy`` value that means: connect directly, whatever the environment says."""


@dataclass(frozen=True, slots=True)
class Proxy:
    """An HTTP proxy: where it listens, and the ``Proxy-Authorization`` value, if any."""

    host: str
    port: int
    authorization: str | None = None

    def __repr__(self) -> str:  # never the credentials
        return f"Proxy({self.host}:{self.port})"


def parse_proxy(url: str) -> Proxy:
    """Read ``http://[user:password@]host[:port]`` (port 80 by default; a bare host:port too).

    Raises:
        ValueError: not an http:// proxy URL with a host.
    """
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme.lower() != "http" or not parts.hostname:
        msg = f"an http:// proxy URL with a host, got {url!r}"
        raise ValueError(msg)
    try:
        port = parts.port or 80
    except ValueError as exc:
        msg = f"a proxy URL with a valid port, got {url!r}"
        raise ValueError(msg) from exc
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        authorization = "Basic " + base64.b64encode(pair.encode()).decode("ascii")
    return Proxy(parts.hostname, port, authorization)


def proxy_for(
    url: str, configured: str | None, environ: Mapping[str, str] | None = None
) -> Proxy | None:
    """The proxy to reach ``url`` through, or None to connect directly.

    Args:
        url: the receiver's URL.
        configured: the sink's ``proxy`` option: a URL, ``"none"``, or None for the
            environment's settings.
        environ: the environment to read (the process's by default).

    Raises:
        ValueError: the proxy URL (configured or from the environment) cannot be read.
    """
    if configured is not None:
        return None if configured == NO_PROXY else parse_proxy(configured)
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if _is_loopback(host) or _bypassed(host, port, _variable(env, "no_proxy")):
        return None
    found = _variable(env, "https_proxy" if parts.scheme == "https" else "http_proxy")
    return parse_proxy(found) if found else None


def _variable(env: Mapping[str, str], name: str) -> str:
    return (env.get(name) or env.get(name.upper()) or "").strip()


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bypassed(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` names the host: exactly, as a domain suffix, or ``*``."""
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip("*")
        if host == name.lstrip(".") or (name.startswith(".") and host.endswith(name)):
            return True
        if not name.startswith(".") and host.endswith("." + name):
            return True
    return False
