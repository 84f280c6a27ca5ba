"""Properties of the output formats over generated entries: round trips, one line each."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tapelog.formats import ConsoleFormat, JsonFormat, LogfmtFormat, flatten, parse_logfmt


REQUIRED = ("timestamp", "level", "logger", "message")
JSON = JsonFormat()
LOGFMT = LogfmtFormat()
CONSOLE = ConsoleFormat()
CONSOLE_COLOR = ConsoleFormat(color=True)

# Keys without dots cannot collide after flattening: a nested key always gains a dot.
PLAIN_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
DOTTED_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,12}", fullmatch=True)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    # Strings that trip careless writers: numbers, constants, JSON, blanks, line breaks.
    | st.sampled_from(
        ["10", "0.00000001", "-1e5", "true", "null", "", "[1]", "{}", " ", "\u2028", "a\x85b\nc"]
    )
)
TIMESTAMPS = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
LEVELS = st.sampled_from(["trace", "debug", "info", "warning", "error", "critical"])
LOGGERS = st.from_regex(r"[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*){0,3}", fullmatch=True)


def values(keys: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Conforming values: scalars, lists and objects nested arbitrarily."""
    return st.recursive(
        SCALARS,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(keys, children, max_size=3)
        ),
        max_leaves=10,
    )


@st.composite
def entries(draw: st.DrawFn, keys: st.SearchStrategy[str] = PLAIN_KEYS) -> dict[str, Any]:
    """A normalised entry: the required keys first, then user fields."""
    entry: dict[str, Any] = {
        "timestamp": draw(TIMESTAMPS),
        "level": draw(LEVELS),
        "logger": draw(LOGGERS),
        "message": draw(st.text()),
    }
    fields = draw(
        st.dictionaries(keys.filter(lambda key: key not in REQUIRED), values(keys), max_size=6)
    )
    entry.update(fields)
    return entry


@st.composite
def errors(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    """An error object: maybe a stack trace, notes and a linked cause or context."""
    error: dict[str, Any] = {"type": draw(st.text(min_size=1)), "message": draw(st.text())}
    if draw(st.booleans()):
        error["stack_trace"] = draw(st.text())
    if draw(st.booleans()):
        error["notes"] = draw(st.lists(st.text(), max_size=2))
    if depth < 2 and draw(st.booleans()):
        error[draw(st.sampled_from(["cause", "context"]))] = draw(errors(depth + 1))
    if depth < 2 and draw(st.booleans()):
        error["exceptions"] = draw(st.lists(errors(depth + 1), max_size=2))
    return error


def typed(value: object) -> object:
    """The value with every scalar tagged by its type, so True and 1 compare unequal."""
    if isinstance(value, dict):
        return {key: typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [typed(item) for item in value]
    return (type(value).__name__, value)


class TestJsonRoundTrip:
    @given(entry=entries(DOTTED_KEYS))
    def test_loads_gives_the_entry_back_on_one_line(self, entry: dict[str, Any]) -> None:
        """Any conforming entry reads back equal, same types and key order, from one line."""
        out = JSON(entry)

        assert typed(entry) == typed(orjson.loads(out))
        assert list(entry) == list(orjson.loads(out))
        assert 1 == len(out.decode().splitlines())
        assert out.endswith(b"\n")


class TestLogfmtRoundTrip:
    @given(entry=entries())
    def test_parse_gives_the_flat_view_back_from_one_line(self, entry: dict[str, Any]) -> None:
        """Parsing a written line gives flatten(entry), with the same types."""
        out = LOGFMT(entry)

        assert typed(flatten(entry)) == typed(parse_logfmt(out.decode()))
        assert 1 == len(out.decode().splitlines())
        assert out.endswith(b"\n")


def leaves(value: object) -> int:
    """How many flat pairs a value gives: one per scalar, list or empty object."""
    if isinstance(value, dict) and value:
        return sum(leaves(item) for item in value.values())
    return 1


# Any key at all: dots, spaces, "=", quotes, other scripts, the empty string.
ANY_KEYS = st.text(max_size=6) | st.sampled_from(["a", "a.b", "b", "a b", "a_b", "ключ", ""])


class TestLogfmtKeys:
    @given(entry=entries(ANY_KEYS))
    def test_no_two_keys_fold_into_one(self, entry: dict[str, Any]) -> None:
        """Whatever the keys, every value gets its own name: none is lost on parsing."""
        parsed = parse_logfmt(LOGFMT(entry).decode())

        assert typed(flatten(entry)) == typed(parsed)
        assert leaves(entry) == len(parsed)


class TestConsoleLines:
    @given(entry=entries(DOTTED_KEYS), error=st.none() | errors(), color=st.booleans())
    def test_only_continuation_lines_follow(
        self, entry: dict[str, Any], error: dict[str, Any] | None, color: bool
    ) -> None:
        """Every line after the first starts with the continuation marker."""
        if error is not None:
            entry["error"] = error

        out = (CONSOLE_COLOR if color else CONSOLE)(entry)
        lines = out.decode().splitlines()

        assert out.endswith(b"\n")
        assert out.count(b"\n") == len(lines)
        assert all(line.startswith(ConsoleFormat.CONTINUATION) for line in lines[1:])
        assert error is not None or len(lines) == 1


ODD_VALUES = (
    st.integers()
    | st.floats()
    | st.decimals()
    | st.binary(max_size=8)
    | st.frozensets(st.integers(), max_size=3)
    | st.tuples(st.text(), st.integers())
    | st.text(alphabet=st.characters(codec=None, categories=["Cs", "Cc", "Zl", "Zp"]))
    | st.builds(object)
)


class TestOddInput:
    @given(
        fields=st.dictionaries(
            st.text() | st.integers(),
            st.recursive(ODD_VALUES, lambda c: st.lists(c, max_size=3), max_leaves=6),
            max_size=5,
        )
    )
    def test_every_format_still_writes_one_line(self, fields: dict[Any, Any]) -> None:
        """Values and keys no normaliser would let through still give one line each."""
        for fmt in (JSON, LOGFMT, CONSOLE):
            out = fmt(fields)

            assert 1 == len(out.decode().splitlines())
            assert out.endswith(b"\n")
        assert isinstance(orjson.loads(JSON(fields)), dict)
        assert isinstance(parse_logfmt(LOGFMT(fields).decode()), dict)

    def test_decimal_strings_read_back_as_strings(self) -> None:
        """The Decimal strings of a trade keep their exact text through logfmt."""
        entry = {
            "trade": {
                "last_px": format(Decimal("101.2500"), "f"),
                "fee": format(Decimal("0E-8"), "f"),
            }
        }

        assert {"trade.last_px": "101.2500", "trade.fee": "0.00000000"} == parse_logfmt(
            LOGFMT(entry).decode()
        )
