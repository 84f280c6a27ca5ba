"""Tests for tapelog.formats.JsonFormat, the JSON helper behind it, and get_formatter."""

from __future__ import annotations

import math
from decimal import Decimal

import orjson
import pytest
from tests.formats_data import ENTRY, LINE_BREAKS

from tapelog.formats import ConsoleFormat, JsonFormat, LogfmtFormat, get_formatter
from tapelog.formats._json import dumps


class Unprintable:
    """An object whose str() and repr() both raise."""

    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.fixture(name="fmt")
def _fmt() -> JsonFormat:
    return JsonFormat()


class TestJsonFormat:
    def test_one_compact_line(self, fmt: JsonFormat) -> None:
        """An entry is one compact JSON object followed by a newline."""
        expected = (
            b'{"timestamp":"2026-11-23T07:01:02.123456Z","level":"info",'
            b'"logger":"trading","message":"order filled","seq":1}\n'
        )

        assert expected == fmt({**ENTRY, "seq": 1})

    def test_key_order_is_kept(self, fmt: JsonFormat) -> None:
        """Keys come out in the order the entry holds them, required keys first."""
        entry = {**ENTRY, "zeta": 1, "alpha": 2, "trade": {"side": "buy", "cl_ord_id": "A1"}}

        assert list(entry) == list(orjson.loads(fmt(entry)))
        assert ["side", "cl_ord_id"] == list(orjson.loads(fmt(entry))["trade"])

    def test_non_ascii_is_utf8(self, fmt: JsonFormat) -> None:
        """Non-ASCII text is written as UTF-8, not as \\u escapes."""
        out = fmt({**ENTRY, "message": "naïve café 東京 🚀"})

        assert "naïve café 東京 🚀".encode() in out

    @pytest.mark.parametrize(
        ("char", "escape"),
        [("\u2028", b"\\u2028"), ("\u2029", b"\\u2029"), ("\x85", b"\\u0085")],
    )
    def test_unicode_line_separators_are_escaped(
        self, fmt: JsonFormat, char: str, escape: bytes
    ) -> None:
        """U+2028, U+2029 and U+0085, which orjson writes raw, are escaped."""
        out = fmt({**ENTRY, "message": f"one{char}two", "tags": [f"a{char}"], "k": {"v": char}})

        assert 3 == out.count(escape)
        assert char.encode() not in out
        assert f"one{char}two" == orjson.loads(out)["message"]

    def test_separators_next_to_other_non_ascii_text(self, fmt: JsonFormat) -> None:
        """Escaping the separators leaves the characters around them intact."""
        message = "—\u2028é\x85…\u2029€"

        out = fmt({**ENTRY, "message": message})

        assert message == orjson.loads(out)["message"]
        assert b"\xe2\x80\x94\\u2028\xc3\xa9\\u0085" in out

    @pytest.mark.parametrize("char", LINE_BREAKS)
    def test_no_value_splits_the_line(self, fmt: JsonFormat, char: str) -> None:
        """A line break of any kind in a value stays inside one line."""
        out = fmt({**ENTRY, "message": f"a{char}b", char: char})

        assert 1 == len(out.decode().splitlines())
        assert out.endswith(b"\n")

    def test_decimal_is_written_with_format_f(self, fmt: JsonFormat) -> None:
        """A Decimal that reaches the formatter is written as format(d, "f"), never 0E-8."""
        out = fmt({**ENTRY, "qty": Decimal("0E-8"), "px": Decimal("101.2500")})

        assert {"qty": "0.00000000", "px": "101.2500"}.items() <= orjson.loads(out).items()

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (2**64, str(2**64)),
            (-(2**63) - 1, str(-(2**63) - 1)),
            ("a\udcffb", "a\ufffdb"),
            (b"raw", "b'raw'"),
            ({1, 2} - {2}, "{1}"),
            (Unprintable(), "<unrepresentable Unprintable>"),
            (float("nan"), None),
            (float("inf"), None),
        ],
    )
    def test_values_json_cannot_hold_are_converted(
        self, fmt: JsonFormat, value: object, expected: object
    ) -> None:
        """A value orjson refuses becomes text (or null), and the line is still valid."""
        out = fmt({**ENTRY, "value": value})

        assert expected == orjson.loads(out)["value"]

    def test_slow_path_keeps_the_other_values(self, fmt: JsonFormat) -> None:
        """When one value needs converting, every other value is written as usual."""
        entry = {**ENTRY, "big": 2**70, "none": None, "yes": True, "pi": 3.5, "l": (1, "a")}

        read_back = orjson.loads(fmt(entry))

        assert {**entry, "big": str(2**70), "l": [1, "a"]} == read_back

    def test_non_string_keys_become_strings(self, fmt: JsonFormat) -> None:
        """A non-string key is written as its text rather than raising."""
        out = fmt({**ENTRY, "extra": {1: "one", None: "none"}})

        assert {"1": "one", "None": "none"} == orjson.loads(out)["extra"]

    def test_cycle_gives_one_valid_line(self, fmt: JsonFormat) -> None:
        """A value that contains itself is cut at the repeat."""
        loop: dict[str, object] = {"name": "loop"}
        loop["self"] = loop

        out = fmt({**ENTRY, "loop": loop})

        assert {"name": "loop", "self": "<cycle>"} == orjson.loads(out)["loop"]

    def test_deep_nesting_gives_one_valid_line(self, fmt: JsonFormat) -> None:
        """Nesting deeper than orjson allows is cut with a placeholder."""
        deep: list[object] = []
        for _ in range(300):
            deep = [deep]

        out = fmt({**ENTRY, "deep": deep})

        assert "trading" == orjson.loads(out)["logger"]
        assert b"<too deep>" in out

    def test_repeated_calls_are_independent(self, fmt: JsonFormat) -> None:
        """The formatter keeps no state between entries."""
        first = fmt({**ENTRY, "message": "\u2028"})

        assert first != fmt(ENTRY)
        assert first == fmt({**ENTRY, "message": "\u2028"})

    def test_has_slots_and_a_repr(self, fmt: JsonFormat) -> None:
        """The formatter is a slotted object with a readable repr."""
        assert not hasattr(fmt, "__dict__")
        assert "JsonFormat()" == repr(fmt)


class TestDumps:
    def test_escapes_separators_without_newline(self) -> None:
        """dumps() escapes the line separators and adds no newline unless asked."""
        assert b'["\\u2028"]' == dumps(["\u2028"])
        assert b"[1]\n" == dumps([1], newline=True)

    def test_never_raises(self) -> None:
        """dumps() converts anything it is given."""
        assert b'["NaN","<unrepresentable Unprintable>"]' == dumps([Decimal("NaN"), Unprintable()])
        assert math.isclose(1.5, orjson.loads(dumps({"x": 1.5}))["x"])


class TestGetFormatter:
    @pytest.mark.parametrize(
        ("name", "kind"),
        [("json", JsonFormat), ("logfmt", LogfmtFormat), ("console", ConsoleFormat)],
    )
    def test_known_names(self, name: str, kind: type) -> None:
        """Each format name gives its formatter."""
        assert isinstance(get_formatter(name), kind)

    def test_color_reaches_the_console_format(self) -> None:
        """color=True gives a colouring console format."""
        assert "ConsoleFormat(color=True)" == repr(get_formatter("console", color=True))

    def test_unknown_name_names_the_allowed_ones(self) -> None:
        """An unknown name raises ValueError listing the allowed names."""
        with pytest.raises(
            ValueError, match='expected one of "console", "json", "logfmt", got \'xml\''
        ):
            get_formatter("xml")
