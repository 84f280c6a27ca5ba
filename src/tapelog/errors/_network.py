"""What a network failure tells: error code, errno, server address and port, URL, HTTP status.

Read from the standard library's exceptions (``OSError`` and its socket, ssl and timeout
kinds, ``urllib.error``, ``http.client``) and duck-typed from the HTTP clients' (httpx,
requests and aiohttp keep the request and the response on the exception), never by
importing them. Where the exception does not carry the address (a refused
``socket.create_connection``), the failing call's frame does: its ``address`` argument,
or ``host`` and ``port``, or the connection object it works for.
"""

from __future__ import annotations

import errno as errno_module
import socket
from typing import TYPE_CHECKING, Final, cast
from urllib.parse import urlsplit


if TYPE_CHECKING:
    import types


__all__ = ["network_facts"]

_MAX_LINKS: Final = 8  # exceptions looked at along the chain
_FRAMES_LOOKED_AT: Final = 6  # innermost frames searched for the address
_MAX_FRAMES: Final = 50  # innermost frames searched for the request's URL
_EAI_NAMES: Final = {
    value: name
    for name, value in vars(socket).items()
    if name.startswith("EAI_") and isinstance(value, int)
}


def _attribute(obj: object, name: str) -> object:
    """``getattr`` that survives properties which raise (httpx's ``.request`` does)."""
    try:
        return getattr(obj, name, None)
    except Exception:
        return None


def _status(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:  # noqa: PLR2004 - HTTP
        return value
    return None


def _port(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 65535:  # noqa: PLR2004 - ports
        return value
    if isinstance(value, str) and value.isdigit() and int(value) <= 65535:  # noqa: PLR2004
        return int(value)
    return None


def _url(value: object) -> str | None:
    if value is None:
        return None
    try:
        text = str(value)
    except Exception:
        return None
    return text if "://" in text else None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its reasons, causes and contexts: the most specific facts come later."""
    found: list[BaseException] = []
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(found) < _MAX_LINKS:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        for name in ("reason", "os_error", "__cause__", "__context__"):
            linked = _attribute(current, name)
            if isinstance(linked, BaseException):
                todo.append(linked)
        args = _attribute(current, "args")
        if isinstance(args, tuple):
            # urllib3 wraps the OSError in args
            todo.extend(
                arg
                for arg in cast("tuple[object, ...]", args)[:3]
                if isinstance(arg, BaseException)
            )
    return found


def _from_exception(exc: BaseException, facts: dict[str, str | int]) -> None:
    """Add what ``exc`` itself carries; keys already found by an outer exception stay."""
    response = _attribute(exc, "response")
    status = None
    if response is not None:  # requests, httpx
        status = _status(_attribute(response, "status_code")) or _status(
            _attribute(response, "status")
        )
    if status is None:  # aiohttp's ClientResponseError
        status = _status(_attribute(exc, "status"))
    if status is None and _attribute(exc, "hdrs") is not None:  # urllib's HTTPError
        status = _status(_attribute(exc, "code"))
    if status is not None:
        facts.setdefault("http.response.status_code", status)
        facts.setdefault("code", str(status))
    url = None
    for holder in (response, _attribute(exc, "request"), _attribute(exc, "request_info"), exc):
        if holder is None:
            continue
        url = _url(_attribute(holder, "real_url")) or _url(_attribute(holder, "url"))
        if url is None and holder is exc:
            url = _url(_attribute(exc, "filename"))  # urllib's HTTPError keeps it there
        if url is not None:
            break
    if url is not None:
        facts.setdefault("url.full", url)
    host = _attribute(exc, "host")
    port = _port(_attribute(exc, "port"))
    if isinstance(host, str) and host and port is not None:  # aiohttp's connector errors
        facts.setdefault("server.address", host)
        facts.setdefault("server.port", port)
    if isinstance(exc, OSError):
        number = exc.errno
        if isinstance(number, int) and not isinstance(number, bool):
            facts.setdefault("errno", number)
            if isinstance(exc, socket.gaierror) and number in _EAI_NAMES:
                facts.setdefault("code", _EAI_NAMES[number])
            elif number in errno_module.errorcode and not _attribute(exc, "reason"):
                facts.setdefault("code", errno_module.errorcode[number])
        reason = _attribute(exc, "reason")
        if (
            isinstance(reason, str) and reason and reason.isupper()
        ):  # ssl: CERTIFICATE_VERIFY_FAILED
            facts.setdefault("code", reason)
        if isinstance(exc, TimeoutError) and "code" not in facts:
            facts.setdefault("code", "ETIMEDOUT")


_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _from_url(facts: dict[str, str | int]) -> None:
    """``server.address`` and ``server.port`` from ``url.full`` when nothing else said."""
    url = facts.get("url.full")
    if not isinstance(url, str) or "server.address" in facts:
        return
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return
    if host and port is not None:
        facts["server.address"] = host
        facts["server.port"] = port


def _from_frames(exc: BaseException, facts: dict[str, str | int]) -> None:
    """The address (and URL) the failing call was given, from its innermost frames."""
    frames: list[types.FrameType] = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for depth, frame in enumerate(reversed(frames[-_MAX_FRAMES:])):
        variables = frame.f_locals
        if "url.full" not in facts:
            request = variables.get("req") or variables.get("request")
            url = _url(_attribute(request, "full_url")) if request is not None else None
            if url is not None:  # urllib's opener keeps the Request in ``req``
                facts["url.full"] = url
        if depth >= _FRAMES_LOOKED_AT or "server.address" in facts:
            continue
        address = variables.get("address")
        if isinstance(address, tuple) and len(cast("tuple[object, ...]", address)) >= 2:  # noqa: PLR2004
            host, port = cast("tuple[object, ...]", address)[:2]
        else:
            host, port = variables.get("host"), variables.get("port")
            owner = variables.get("self")
            if (not isinstance(host, str) or _port(port) is None) and owner is not None:
                host, port = _attribute(owner, "host"), _attribute(owner, "port")
        number = _port(port)
        if isinstance(host, str) and host and number is not None:
            facts["server.address"] = host
            facts["server.port"] = number


def network_facts(exc: BaseException) -> dict[str, str | int]:
    """The network keys of ``error`` for ``exc`` (empty when it is no network failure)."""
    facts: dict[str, str | int] = {}
    try:
        chain = _chain(exc)
        for link in chain:
            _from_exception(link, facts)
        if "server.address" not in facts and (
            facts or any(isinstance(link, OSError) for link in chain)
        ):
            for link in reversed(chain):
                _from_frames(link, facts)
        _from_url(facts)
    except Exception:  # pragma: no cover - duck typing met something stranger still
        return facts
    return facts
