"""Tests for tapelog.formats.Rfc5424Format: every message parses back per RFC 5424's grammar."""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapelog.formats import JsonFormat, Rfc5424Format


BOM = b"\xef\xbb\xbf"
ENTRY: dict[str, Any] = {
    "timestamp": "2026-11-23T07:01:02.123456Z",
    "level": "info",
    "logger": "proxy.pool",
    "message": "rotated",
}

# -- a parser written from RFC 5424 §6's ABNF, independent of the formatter -------------

_HEADER = re.compile(
    rb"<(?P<pri>\d{1,3})>(?P<version>[1-9]\d{0,2}) (?P<timestamp>\S+)"
    rb" (?P<hostname>[!-~]{1,255}) (?P<app_name>[!-~]{1,48})"
    rb" (?P<procid>[!-~]{1,128}) (?P<msgid>[!-~]{1,32}) "
)
_TIMESTAMP = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
    r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)
_SD_NAME = re.compile(rb"[!#-<>-\\^-~]{1,32}")  # PRINTUSASCII except = SP ] "


@dataclass
class Parsed:
    """One message, taken apart."""

    pri: int
    version: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    elements: list[tuple[str, list[tuple[str, str]]]]
    msg: bytes | None


def parse(message: bytes) -> Parsed:
    """Parse ``SYSLOG-MSG``; raise AssertionError where it breaks the grammar."""
    header = _HEADER.match(message)
    assert header is not None, message[:80]
    pri = int(header["pri"])
    assert 0 <= pri <= 191
    timestamp = header["timestamp"].decode()
    assert timestamp == "-" or _TIMESTAMP.fullmatch(timestamp), timestamp
    position = header.end()
    elements: list[tuple[str, list[tuple[str, str]]]] = []
    if message[position : position + 1] == b"-":
        position += 1
    else:
        while message[position : position + 1] == b"[":
            position, element = _element(message, position + 1)
            elements.append(element)
        assert elements, "STRUCTURED-DATA is neither - nor an element"
    msg = None
    if position < len(message):
        assert message[position : position + 1] == b" "
        msg = message[position + 1 :]
        if msg.startswith(BOM):
            msg[len(BOM) :].decode("utf-8")  # MSG-UTF8 must be valid UTF-8
    return Parsed(
        pri,
        int(header["version"]),
        timestamp,
        header["hostname"].decode(),
        header["app_name"].decode(),
        header["procid"].decode(),
        header["msgid"].decode(),
        elements,
        msg,
    )


def _element(message: bytes, position: int) -> tuple[int, tuple[str, list[tuple[str, str]]]]:
    sd_id = _SD_NAME.match(message, position)
    assert sd_id is not None, message[position : position + 40]
    position = sd_id.end()
    params: list[tuple[str, str]] = []
    while message[position : position + 1] == b" ":
        name = _SD_NAME.match(message, position + 1)
        assert name is not None
        position = name.end()
        assert message[position : position + 2] == b'="'
        position += 2
        value = bytearray()
        while True:
            char = message[position : position + 1]
            assert char, "unterminated PARAM-VALUE"
            assert char != b"]", "an unescaped ] inside PARAM-VALUE"
            if char == b"\\" and message[position + 1 : position + 2] in (b'"', b"\\", b"]"):
                value += message[position + 1 : position + 2]
                position += 2
            elif char == b'"':
                position += 1
                break
            else:
                value += char
                position += 1
        params.append((name.group().decode(), value.decode("utf-8")))
    assert message[position : position + 1] == b"]"
    return position + 1, (sd_id.group().decode(), params)


# -- entries ---------------------------------------------------------------------------

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8"))
    | st.sampled_from(['"', "\\", "]", '\\"]', "a]b\\c", "\n", "日本", ""])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)
KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,40}", fullmatch=True).filter(
    lambda key: (
        key not in {"timestamp", "level", "logger", "message", "event", "host", "service", "pid"}
    )
)
ANY_TEXT = st.text(st.characters(exclude_categories=()))  # lone surrogates too
TIMESTAMPS = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")) | ANY_TEXT


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    """Entries as the pipeline builds them, and some it never would."""
    entry: dict[str, Any] = {
        "timestamp": draw(TIMESTAMPS),
        "level": draw(
            st.sampled_from(["trace", "debug", "info", "warning", "error", "critical"]) | ANY_TEXT
        ),
        "logger": draw(st.text()),
        "message": draw(ANY_TEXT),
    }
    for key in ("event", "host", "service", "pid"):
        if draw(st.booleans()):
            entry[key] = draw(ANY_TEXT if key != "pid" else st.integers(0, 2**22) | ANY_TEXT)
    entry.update(draw(st.dictionaries(KEYS, VALUES, max_size=6)))
    return entry


def expected_params(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """What the structured data should hold: scalars, by the rules in the module docs."""
    params = []
    taken = set(entry)
    for key, value in entry.items():
        if key in {"timestamp", "message"}:
            continue
        if value is None or isinstance(value, (dict, list)):
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        params.append((key if len(key) <= 32 else cut_name(key, taken), surrogate_free(text)))
    return params


def cut_name(key: str, taken: set[str]) -> str:
    """A name over 32 characters is cut to 32, then marked with _ while another has it."""
    name, count = key[:32], 1
    while name in taken:
        suffix = "_" * count if count <= 3 else f"_{count}"
        name, count = key[: 32 - len(suffix)] + suffix, count + 1
    taken.add(name)
    return name


def surrogate_free(text: str) -> str:
    """Text as it survives UTF-8: a lone surrogate becomes U+FFFD."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


class TestGrammar:
    @given(entry=entries(), body=st.sampled_from([None, JsonFormat()]), bom=st.booleans())
    def test_any_entry_parses(self, entry: dict[str, Any], body: Any, bom: bool) -> None:
        """Any entry renders to a message that parses back, fields and MSG intact."""
        fmt = Rfc5424Format(facility=16, body=body, hostname="web1", bom=bom)
        parsed = parse(fmt.render(entry))
        assert parsed.msg is not None
        text = parsed.msg.removeprefix(BOM) if bom else parsed.msg

        assert [("tapelog@32473", expected_params(entry))] == parsed.elements
        assert 1 == parsed.version
        assert bom == parsed.msg.startswith(BOM)
        if body is None:
            assert surrogate_free(entry["message"]) == text.decode()
        else:
            assert surrogate_free(entry["message"]) == orjson.loads(text)["message"]

    @given(entry=entries(), max_size=st.integers(600, 4000))
    def test_shortened_message_parses(self, entry: dict[str, Any], max_size: int) -> None:
        """A shortened message fits, still parses, and its MSG is a prefix of the whole."""
        fmt = Rfc5424Format(body=JsonFormat())
        whole = parse(fmt.render(entry))
        message = fmt.render(entry, max_size)
        parsed = parse(message)

        assert len(message) <= max_size
        assert parsed.msg is not None
        assert whole.msg is not None
        assert whole.msg.startswith(parsed.msg)
        assert (message == fmt.render(entry)) == (parsed.msg == whole.msg)


class TestHeader:
    @pytest.mark.parametrize(
        ("level", "severity"),
        [
            ("trace", 7),
            ("debug", 7),
            ("info", 6),
            ("warning", 4),
            ("error", 3),
            ("critical", 2),
            ("bogus", 5),
        ],
    )
    def test_pri(self, level: str, severity: int) -> None:
        """PRI is facility * 8 plus the level's severity (notice for unknown levels)."""
        message = Rfc5424Format(facility=16).render({**ENTRY, "level": level})

        assert f"<{16 * 8 + severity}>1 ".encode() == message[: message.index(b" ") + 1]

    def test_no_level(self) -> None:
        """An entry without a level (renamed away) is a notice."""
        entry = {k: v for k, v in ENTRY.items() if k != "level"}

        assert 13 == parse(Rfc5424Format().render(entry)).pri

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            ("2026-11-23T07:01:02.123456Z", "2026-11-23T07:01:02.123456Z"),
            ("2026-11-23T07:01:02.123456789Z", "2026-11-23T07:01:02.123456Z"),
            ("2026-11-23T07:01:02Z", "2026-11-23T07:01:02Z"),
            ("2026-11-23T07:01:02.5+02:00", "2026-11-23T07:01:02.5+02:00"),
            ("yesterday", "-"),
            ("2026-11-23 07:01:02Z", "-"),
            (1700000000, "-"),
        ],
    )
    def test_timestamp(self, timestamp: object, expected: str) -> None:
        """TIMESTAMP is the entry's, cut to six fractional digits, or - when unusable."""

        assert (
            expected == parse(Rfc5424Format().render({**ENTRY, "timestamp": timestamp})).timestamp
        )

    def test_hostname(self) -> None:
        """HOSTNAME is the entry's host, else the one given, else the machine's."""
        given_host = Rfc5424Format(hostname="web1")

        assert "db2" == parse(given_host.render({**ENTRY, "host": "db2"})).hostname
        assert "web1" == parse(given_host.render(ENTRY)).hostname
        assert socket.gethostname()[:255] == parse(Rfc5424Format().render(ENTRY)).hostname

    def test_app_name(self) -> None:
        """APP-NAME is the configured name, else the entry's service, else the program."""
        entry = {**ENTRY, "service": "checkout api"}

        assert (
            "proxy-rotator" == parse(Rfc5424Format(app_name="proxy-rotator").render(entry)).app_name
        )
        assert "checkout_api" == parse(Rfc5424Format().render(entry)).app_name
        assert parse(Rfc5424Format().render(ENTRY)).app_name not in {"", "-"}

    def test_procid(self) -> None:
        """PROCID is the entry's pid, else this process's."""

        assert "42" == parse(Rfc5424Format().render({**ENTRY, "pid": 42})).procid
        assert str(os.getpid()) == parse(Rfc5424Format().render(ENTRY)).procid

    @pytest.mark.parametrize(
        ("event", "expected"),
        [
            ("order.filled", "order.filled"),
            ("a" * 32, "a" * 32),
            ("a" * 33, "-"),
            ("", "-"),
            (7, "-"),
        ],
    )
    def test_msgid(self, event: object, expected: str) -> None:
        """MSGID is the event when it fits in 32 characters, else -."""

        assert expected == parse(Rfc5424Format().render({**ENTRY, "event": event})).msgid

    def test_header_fields_are_printable_ascii(self) -> None:
        """Spaces and non-ASCII in header fields become _ and long ones are cut."""
        entry = {**ENTRY, "host": "h\u00f6st name", "service": "s" * 60, "pid": "1 2"}
        parsed = parse(Rfc5424Format().render(entry))

        assert ("h_st_name", "s" * 48, "1_2") == (parsed.hostname, parsed.app_name, parsed.procid)


class TestStructuredData:
    def test_names_that_are_not_param_names_are_repaired_and_kept_apart(self) -> None:
        """Non-ASCII, spaces and over-long names are rewritten, and two never become one."""
        entry = {**ENTRY, "ключ": 1, "ключи": 2, "____": 3, "a b": 4, "n" * 40: 5}

        params = parse(Rfc5424Format().render(entry)).elements[0][1]

        assert [
            ("_____", "1"),
            ("______", "2"),
            ("____", "3"),
            ("a_b", "4"),
            ("n" * 32, "5"),
        ] == params[-5:]

    def test_escaping(self) -> None:
        """Quote, backslash and ] are escaped in values; nothing else is."""
        message = Rfc5424Format(sd_id="proxy@32473").render({**ENTRY, "path": 'C:\\a "b" [c]'})

        assert b' path="C:\\\\a \\"b\\" [c\\]"]' in message
        assert (
            "proxy@32473",
            [("level", "info"), ("logger", "proxy.pool"), ("path", 'C:\\a "b" [c]')],
        ) == parse(message).elements[0]

    def test_scalars_only(self) -> None:
        """Nested objects, lists and None stay out; scalars go in as text."""
        entry = {
            **ENTRY,
            "seq": 7,
            "ok": True,
            "ratio": 0.5,
            "error": {"type": "ValueError"},
            "tags": ["a"],
            "gone": None,
        }

        assert [
            ("level", "info"),
            ("logger", "proxy.pool"),
            ("seq", "7"),
            ("ok", "true"),
            ("ratio", "0.5"),
        ] == parse(Rfc5424Format().render(entry)).elements[0][1]

    def test_non_ascii_values(self) -> None:
        """Values are UTF-8, as RFC 5424 says."""
        message = Rfc5424Format().render({**ENTRY, "city": "Zürich 東京"})

        assert ("city", "Zürich 東京") in parse(message).elements[0][1]

    @pytest.mark.parametrize("sd_id", ["no space", 'a"b', "a]b", "x" * 33, ""])
    def test_bad_sd_id(self, sd_id: str) -> None:
        """An SD-ID that breaks the grammar is refused."""
        with pytest.raises(ValueError, match="sd_id"):
            Rfc5424Format(sd_id=sd_id)

    @pytest.mark.parametrize("facility", [-1, 24])
    def test_bad_facility(self, facility: int) -> None:
        """Facilities are 0..23."""
        with pytest.raises(ValueError, match="facility"):
            Rfc5424Format(facility=facility)


class TestMessage:
    def test_body_formatter(self) -> None:
        """MSG is the BOM and the body formatter's line, newline removed."""
        message = Rfc5424Format(body=JsonFormat()).render({**ENTRY, "message": "héllo\nwörld"})
        msg = parse(message).msg

        assert msg is not None
        assert BOM + JsonFormat()({**ENTRY, "message": "héllo\nwörld"})[:-1] == msg

    def test_plain_message(self) -> None:
        """Without a body formatter, MSG is the message text, line breaks and all."""
        message = Rfc5424Format().render({**ENTRY, "message": "日本\nline two"})

        assert message.endswith(b" " + BOM + "日本\nline two".encode())

    def test_failing_body_falls_back_to_the_message(self) -> None:
        """A body formatter that raises still leaves the message text in MSG."""

        def broken(entry: dict[str, Any]) -> bytes:
            raise RuntimeError(entry["message"])

        assert Rfc5424Format(body=broken).render(ENTRY).endswith(BOM + b"rotated")

    def test_without_bom(self) -> None:
        """bom=False leaves MSG as the formatter wrote it, for receivers parsing JSON."""
        message = Rfc5424Format(body=JsonFormat(), bom=False).render(ENTRY)

        assert message.endswith(b"] " + JsonFormat()(ENTRY)[:-1])

    def test_call_adds_a_newline(self) -> None:
        """Calling the format gives a line, so it works as a file formatter too."""
        fmt = Rfc5424Format()

        assert fmt.render(ENTRY) + b"\n" == fmt(ENTRY)

    def test_truncation(self) -> None:
        """A long message is cut at a character boundary and says how long it was."""
        fmt = Rfc5424Format(hostname="h")
        entry = {**ENTRY, "message": "é" * 1000, "big": "x" * 600, "small": "y"}
        whole = fmt.render(entry)
        message = fmt.render(entry, 480)
        parsed = parse(message)

        assert len(message) <= 480
        assert [
            ("level", "info"),
            ("logger", "proxy.pool"),
            ("small", "y"),
            ("truncated", str(len(whole))),
        ] == parsed.elements[0][1]
        assert parsed.msg is not None
        assert set(parsed.msg[len(BOM) :].decode()) == {"é"}

    def test_short_enough_is_untouched(self) -> None:
        """A message within the limit is not changed."""
        fmt = Rfc5424Format()

        assert fmt.render(ENTRY) == fmt.render(ENTRY, 480)

    def test_repr(self) -> None:
        """The repr names the facility and SD-ID."""

        assert "Rfc5424Format(facility=1, sd_id='tapelog@32473')" == repr(Rfc5424Format())
