r"""RFC 5424 syslog messages: one entry as ``HEADER SP STRUCTURED-DATA SP BOM MSG``.

How an entry maps onto the message (RFC 5424 §6):

======================  =================================================================
part                    from
======================  =================================================================
PRI                     ``facility * 8 + severity``; the severity from ``level``
                        (trace and debug 7, info 6, warning 4, error 3, critical 2)
VERSION                 ``1``
TIMESTAMP               ``timestamp`` (at most six fractional digits), else ``-``
HOSTNAME                ``host``, else the machine's name
APP-NAME                the configured ``app_name``, else ``service``, else the program
PROCID                  ``pid``, else this process's id
MSGID                   ``event`` when it fits (32 printable ASCII characters), else ``-``
STRUCTURED-DATA         one element ``[SD-ID name="value" ...]`` holding every top-level
                        field with a scalar value except ``timestamp`` and ``message``
MSG                     the BOM (unless ``bom=False``), then the entry rendered by the
                        ``body`` formatter (its final newline removed), or the plain
                        ``message`` without one
======================  =================================================================

Header fields are printable US-ASCII: other characters become ``_`` and long values are
cut to the RFC's lengths. Structured-data values escape ``"``, ``\`` and ``]``. A field
whose name is not a valid PARAM-NAME (printable US-ASCII but ``=``, ``]``, ``"`` and
space, at most 32 characters) is written under a repaired name: ``_`` for each other
character, cut at 32, and ``_`` appended while that name is taken, so two fields never
share one (``ключ`` and ``ключи`` give ``____`` and ``_____``, and a second ``____``
becomes ``_____`` only if that is free). A nested object or a list is left out of the
structured data (the JSON body keeps them all).
"""

from __future__ import annotations

import os
import re
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from ._text import safe_text


if TYPE_CHECKING:
    from tapelog.typing import EventDict, Formatter


__all__ = ["DEFAULT_SD_ID", "SEVERITIES", "Rfc5424Format"]

SEVERITIES: Final[dict[str, int]] = {
    "trace": 7,
    "debug": 7,
    "info": 6,
    "warning": 4,
    "error": 3,
    "critical": 2,
}
"""RFC 5424 severity for each tapelog level (there is nothing below debug, 7)."""

DEFAULT_SD_ID: Final = "tapelog@32473"
"""The default SD-ID. 32473 is the enterprise number RFC 5612 reserves for examples."""

_BOM: Final = b"\xef\xbb\xbf"
_NIL: Final = "-"
_UNKNOWN_SEVERITY: Final = 5  # notice: an entry whose level was renamed away or is unknown
_HOSTNAME_MAX: Final = 255
_APP_NAME_MAX: Final = 48
_PROCID_MAX: Final = 128
_MSGID_MAX: Final = 32
_NOT_PRINTABLE: Final = re.compile(r"[^!-~]")
_PARAM_NAME: Final = re.compile(r"[!#-<>-\\^-~]{1,32}")  # printable ASCII but = ] " and SP
_NOT_PARAM_CHAR: Final = re.compile(r"[^!#-<>-\\^-~]")
_SD_SPECIAL: Final = re.compile(r'["\\\]]')
_TIMESTAMP: Final = re.compile(
    r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", re.ASCII
)
_UTF8_TAIL_MASK: Final = 0xC0  # a UTF-8 continuation byte is 10xxxxxx
_UTF8_TAIL: Final = 0x80
_SKIPPED: Final = frozenset({"timestamp", "message"})


def _header_field(value: object, limit: int) -> str:
    """Printable ASCII, other characters as ``_``, at most ``limit`` long; ``-`` if empty."""
    text = safe_text(value)
    if not (text.isascii() and text.isprintable() and " " not in text):
        text = _NOT_PRINTABLE.sub("_", text)
    return text[:limit] or _NIL


def _utf8(text: str) -> bytes:
    """Encode as UTF-8; lone surrogates (from surrogateescape) become U+FFFD."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace").encode()


def _param_value(value: object) -> str | None:
    """The text of a scalar value; None for what structured data leaves out."""
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    if value is True:
        return "true"
    if value is False:
        return "false"
    text = safe_text(value)
    if _SD_SPECIAL.search(text) is None:
        return text
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _program_name() -> str:
    argv = getattr(sys, "argv", None)
    return Path(argv[0]).name if argv and argv[0] else ""


@final
class Rfc5424Format:
    r"""Renders an entry as one RFC 5424 syslog message (``SYSLOG-MSG``, without framing).

    ``render`` gives the message alone, as a transport sends it; calling the format gives
    the message and a newline, so it also works as an ordinary line formatter.

    Args:
        app_name: APP-NAME for every message; by default each entry's ``service``, else
            the program's name.
        facility: the syslog facility, 0..23 (1 is ``user``, 16..23 ``local0..7``).
        sd_id: the SD-ID of the structured-data element; name it after your own
            enterprise number (``myapp@12345``).
        body: the formatter whose output becomes MSG; None puts the plain ``message``
            there instead.
        hostname: HOSTNAME for entries without a ``host`` field; the machine's name
            by default.
        bom: start MSG with the UTF-8 byte order mark, as RFC 5424 §6.4 asks of UTF-8
            text. Without it MSG is the RFC's MSG-ANY, which receivers that parse MSG as
            JSON (rsyslog's mmjsonparse) need.

    Example:
        >>> fmt = Rfc5424Format(app_name="proxy", hostname="web1", facility=16)
        >>> entry = {"timestamp": "2026-11-23T07:01:02.123456Z", "level": "warning",
        ...          "logger": "proxy.pool", "message": "slow", "pid": 42}
        >>> print(fmt.render(entry).decode().replace(" [", "\n[").replace("\ufeff", "(BOM)"))
        <132>1 2026-11-23T07:01:02.123456Z web1 proxy 42 -
        [tapelog@32473 level="warning" logger="proxy.pool" pid="42"] (BOM)slow
    """

    __slots__ = (
        "_app_name",
        "_body",
        "_bom",
        "_hostname",
        "_pri",
        "_program",
        "_sd_id",
        "facility",
        "sd_id",
    )

    def __init__(
        self,
        *,
        app_name: str | None = None,
        facility: int = 1,
        sd_id: str = DEFAULT_SD_ID,
        body: Formatter | None = None,
        hostname: str | None = None,
        bom: bool = True,
    ) -> None:
        if not 0 <= facility <= 23:  # noqa: PLR2004 - RFC 5424 §6.2.1 numbers 24 facilities
            msg = f"facility: expected a number 0..23, got {facility!r}"
            raise ValueError(msg)
        if _PARAM_NAME.fullmatch(sd_id) is None:
            msg = f'sd_id: expected an SD-ID like "tapelog@32473", got {sd_id!r}'
            raise ValueError(msg)
        self.facility = facility
        self.sd_id = sd_id
        self._sd_id = "[" + sd_id
        self._app_name = _header_field(app_name, _APP_NAME_MAX) if app_name else None
        self._program = _header_field(_program_name(), _APP_NAME_MAX)
        self._hostname = _header_field(hostname or socket.gethostname(), _HOSTNAME_MAX)
        self._body = body
        self._bom = _BOM if bom else b""
        base = facility * 8
        self._pri = {name: f"<{base + severity}>1 " for name, severity in SEVERITIES.items()}

    def __call__(self, entry: EventDict) -> bytes:
        """Return the message and a newline (for use as a line formatter)."""
        return self.render(entry) + b"\n"

    def __repr__(self) -> str:
        return f"Rfc5424Format(facility={self.facility}, sd_id={self.sd_id!r})"

    def render(self, entry: EventDict, max_size: int | None = None) -> bytes:
        """Return the entry as one RFC 5424 message, at most ``max_size`` octets long.

        A message longer than ``max_size`` is shortened: its structured data keeps the
        parameters that fit and gains ``truncated="<octets of the whole message>"``, and
        MSG is cut at a character boundary. Only a header and SD-ID that are longer by
        themselves (hundreds of octets of hostname and procid) can exceed the limit.

        Args:
            entry: a normalised entry.
            max_size: the longest message wanted, in octets; None for no limit.

        Returns:
            The message as UTF-8 bytes, without framing or newline.
        """
        head = self._header(entry).encode("ascii")
        params = [f' {name}="{value}"' for name, value in self._params(entry)]
        text = self._message(entry)
        structured = _utf8(self._sd_id + "".join(params) + "]")
        whole = len(head) + len(structured) + 1 + len(self._bom) + len(text)
        if max_size is None or whole <= max_size:
            return head + structured + b" " + self._bom + text
        return self._shorten(head, params, text, whole, max_size)

    # -- the parts --------------------------------------------------------------------

    def _header(self, entry: EventDict) -> str:
        """``PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP``."""
        level = entry.get("level")
        pri = self._pri.get(level) if isinstance(level, str) else None
        if pri is None:
            pri = f"<{self.facility * 8 + _UNKNOWN_SEVERITY}>1 "
        host = entry.get("host")
        hostname = _header_field(host, _HOSTNAME_MAX) if host else self._hostname
        app_name = self._app_name
        if app_name is None:
            service = entry.get("service")
            app_name = _header_field(service, _APP_NAME_MAX) if service else self._program
        pid = entry.get("pid")
        procid = _header_field(pid if pid is not None else os.getpid(), _PROCID_MAX)
        event = entry.get("event")
        msgid = _NIL
        if isinstance(event, str) and 0 < len(event) <= _MSGID_MAX:
            msgid = _header_field(event, _MSGID_MAX)
        timestamp = _timestamp(entry.get("timestamp"))
        return f"{pri}{timestamp} {hostname} {app_name} {procid} {msgid} "

    def _params(self, entry: EventDict) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        taken: set[str] | None = None  # every name in use, once a name needs repair
        for name, value in entry.items():
            if name in _SKIPPED:
                continue
            text = _param_value(value)
            if text is None:
                continue
            if _PARAM_NAME.fullmatch(name) is None:
                if taken is None:
                    taken = set(entry)
                name = _param_name(name, taken)  # noqa: PLW2901 - the name written
            params.append((name, text))
        return params

    def _message(self, entry: EventDict) -> bytes:
        if self._body is not None:
            try:
                rendered = self._body(entry)
            except Exception:  # a broken formatter still leaves the message's text
                rendered = None
            if rendered is not None:
                return rendered[:-1] if rendered.endswith(b"\n") else rendered
        return _utf8(safe_text(entry.get("message", "")))

    def _shorten(
        self, head: bytes, params: list[str], text: bytes, whole: int, max_size: int
    ) -> bytes:
        """Fit into ``max_size``: the parameters that fit, a note, then as much MSG as fits."""
        tail = f' truncated="{whole}"]'
        room = max_size - len(head) - len(self._bom) - 1
        kept = [self._sd_id]
        used = len(self._sd_id) + len(tail)  # the SD-ID and the note are ASCII
        for param in params:
            size = len(_utf8(param))
            if used + size <= room:
                kept.append(param)
                used += size
        structured = _utf8("".join(kept) + tail)
        room -= len(structured)
        cut = max(room, 0)
        if cut < len(text):
            # Step back over UTF-8 continuation bytes (10xxxxxx) to a character boundary.
            while cut > 0 and (text[cut] & _UTF8_TAIL_MASK) == _UTF8_TAIL:
                cut -= 1
        return head + structured + b" " + self._bom + text[:cut]


def _param_name(name: str, taken: set[str]) -> str:
    """A PARAM-NAME for a field whose own is not one, distinct from every name in ``taken``."""
    repaired = _NOT_PARAM_CHAR.sub("_", name)[:_MSGID_MAX] or "_"
    count = 1
    candidate = repaired
    while candidate in taken:
        suffix = "_" * count if count <= 3 else f"_{count}"  # noqa: PLR2004 - then numbered
        candidate = repaired[: _MSGID_MAX - len(suffix)] + suffix
        count += 1
    taken.add(candidate)
    return candidate


def _timestamp(value: object) -> str:
    """The entry's RFC 3339 time with at most six fractional digits, or ``-``."""
    if not isinstance(value, str):
        return _NIL
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return _NIL
    seconds, fraction, zone = match.groups()
    return f"{seconds}.{fraction[:6]}{zone}" if fraction else f"{seconds}{zone}"
