"""Tests for tapelog.formats.LogfmtFormat, parse_logfmt, flatten and unflatten."""

from __future__ import annotations

import enum
from decimal import Decimal

import pytest
from tests.formats_data import LINE_BREAKS

from tapelog.formats import LogfmtFormat, flatten, parse_logfmt, unflatten
from tapelog.formats._logfmt import encode_value


class Side(enum.StrEnum):
    """A str enum, as a user might log."""

    BUY = "buy"


class Venue(enum.IntEnum):
    """An int enum, as a user might log."""

    XNAS = 7


class Price(float):
    """A float subclass."""


class BadInt(int):
    """An int subclass whose conversion raises."""

    def __int__(self) -> int:
        raise ArithmeticError("no")

    def __str__(self) -> str:
        return "bad"


def write(**fields: object) -> str:
    """Format ``fields`` as one logfmt line and return it as text, newline removed."""
    out = LogfmtFormat()(fields)
    assert out.endswith(b"\n")
    return out[:-1].decode()


class TestLogfmtFormat:
    def test_bare_pairs(self) -> None:
        """Simple values are written bare, keys as given, separated by single spaces."""
        line = write(
            timestamp="2026-11-23T07:01:02.123456Z",
            level="info",
            logger="proxy.health",
            **{"server.address": "api.example.com", "server.port": 443},
        )

        assert (
            "timestamp=2026-11-23T07:01:02.123456Z level=info logger=proxy.health "
            "server.address=api.example.com server.port=443"
        ) == line

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (None, "null"),
            (True, "true"),
            (False, "false"),
            (0, "0"),
            (-17, "-17"),
            (2**64 - 1, "18446744073709551615"),
            (0.5, "0.5"),
            (1e16, "1e+16"),
            (-0.0, "-0.0"),
            (float("nan"), "null"),
        ],
    )
    def test_constants_and_numbers_are_bare(self, value: object, expected: str) -> None:
        """None, booleans and numbers are written bare, in a form that reads back typed."""
        assert f"k={expected}" == write(k=value)

    @pytest.mark.parametrize(
        "text",
        ["10", "0.00000001", "-1", "101.2500", "1e5", "1E-5", "1_000", ".5", "5.", "+1", "007"],
    )
    def test_number_like_strings_are_quoted(self, text: str) -> None:
        """A string that reads as a number is quoted, so a Decimal string stays a string."""
        assert f'k="{text}"' == write(k=text)

    @pytest.mark.parametrize(
        "text",
        ["true", "false", "null", "True", "FALSE", "Null", "None", "nan", "-inf", "Infinity"],
    )
    def test_constant_like_strings_are_quoted(self, text: str) -> None:
        """A string that reads as a boolean, null or a special float is quoted."""
        assert f'k="{text}"' == write(k=text)

    @pytest.mark.parametrize(
        "text", ["2026-11-23", "1-2", "e5", "-", ".", "x10", "info", "4bf92f3577b34da6", "nullable"]
    )
    def test_near_number_strings_stay_bare(self, text: str) -> None:
        """Text that only resembles a number or a constant is not quoted."""
        assert f"k={text}" == write(k=text)

    def test_empty_string_is_two_quotes(self) -> None:
        """The empty string is written k="" and reads back as the empty string."""
        assert 'k=""' == write(k="")
        assert {"k": ""} == parse_logfmt(write(k=""))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("a b", '"a b"'),
            ("a=b", '"a=b"'),
            ('say "hi"', '"say \\"hi\\""'),
            ('"', '"\\""'),
            ("tab\there", '"tab\\there"'),
            ("a\\b c", '"a\\\\b c"'),
            ("a\nb", '"a\\nb"'),
            ("a\rb", '"a\\rb"'),
            ("\x00\x1b[31m", '"\\u0000\\u001b[31m"'),
            ("del\x7f", '"del\\u007f"'),
            ("nel\x85", '"nel\\u0085"'),
            ("csi\x9b", '"csi\\u009b"'),
            ("ls\u2028ps\u2029", '"ls\\u2028ps\\u2029"'),
            ("nbsp\xa0x", '"nbsp\xa0x"'),
            ("ideographic\u3000space", '"ideographic\u3000space"'),
        ],
    )
    def test_quoting_and_escapes(self, text: str, expected: str) -> None:
        """Values with spaces, =, quotes or controls are quoted, with JSON-style escapes."""
        assert f"k={expected}" == write(k=text)
        assert {"k": text} == parse_logfmt(write(k=text))

    def test_backslash_alone_stays_bare(self) -> None:
        """A backslash needs no quotes; a bare value is read literally."""
        assert "path=C:\\tmp" == write(path="C:\\tmp")
        assert {"path": "C:\\tmp"} == parse_logfmt("path=C:\\tmp")

    @pytest.mark.parametrize("char", LINE_BREAKS)
    def test_no_value_splits_the_line(self, char: str) -> None:
        """A line break of any kind, in any value, is escaped."""
        out = LogfmtFormat()({"message": f"a{char}b", "tags": [char], "n": {"x": char}})

        assert 1 == len(out.decode().splitlines())
        assert out.endswith(b"\n")

    def test_non_ascii_is_intact(self) -> None:
        """Non-ASCII text is written as UTF-8, bare when it can be."""
        assert 'city=東京 msg="naïve café"' == write(city="東京", msg="naïve café")

    def test_nested_objects_flatten_with_dots(self) -> None:
        """Nested objects are written as dotted keys, at any depth."""
        line = write(
            trade={"symbol": "BTC-USD", "order_qty": "10", "last_px": "101.25"},
            error={"type": "OSError", "cause": {"type": "TimeoutError", "message": "timed out"}},
        )

        assert (
            'trade.symbol=BTC-USD trade.order_qty="10" trade.last_px="101.25" '
            'error.type=OSError error.cause.type=TimeoutError error.cause.message="timed out"'
        ) == line

    def test_list_is_one_quoted_json_string(self) -> None:
        """A list is written as its compact JSON text, quoted."""
        assert 'tags="[\\"a\\",1,null,{\\"k\\":true}]"' == write(tags=["a", 1, None, {"k": True}])

    def test_empty_containers(self) -> None:
        """An empty object is written "{}" and an empty list "[]", like any JSON text."""
        assert 'o="{}" l="[]" n="[1,2]"' == write(o={}, l=[], n=[1, 2])

    def test_values_logfmt_does_not_know(self) -> None:
        """Other values are written as text: Decimal via format "f", enums by value."""
        line = write(qty=Decimal("0E-8"), side=Side.BUY, venue=Venue.XNAS, pair=("a", 1), s={1})

        assert 'qty="0.00000000" side=buy venue=7 pair="[\\"a\\",1]" s="{1}"' == line

    def test_number_subclasses(self) -> None:
        """Number subclasses are written as plain numbers, or as text when that fails."""
        assert "p=1.5 inf=null b=bad" == write(p=Price(1.5), inf=Price("inf"), b=BadInt(3))

    def test_encode_value_flattens_what_it_does_not_know(self) -> None:
        """encode_value() given a value outside the flat view writes its flat form."""
        assert ['"1.50"', '"[1]"', "null"] == [
            encode_value(v) for v in (Decimal("1.50"), [1], float("nan"))
        ]

    def test_many_distinct_keys(self) -> None:
        """More distinct keys than the key cache holds are still written right."""
        entry = {f"k{number}": number for number in range(5000)}

        assert entry == parse_logfmt(LogfmtFormat()(entry).decode())

    def test_keys_equal_as_numbers_keep_their_names(self) -> None:
        """Keys 1 and True, one dict key apart, are written by their own names."""
        assert "a.1=x b.True=y" == write(a={1: "x"}, b={True: "y"})

    def test_bad_keys_are_repaired(self) -> None:
        """A space, =, a quote, a backslash or a control in a key becomes _; letters stay."""
        out = LogfmtFormat()({"a b": 1, 'x="y"': 2, "1st": 3, 7: 4, "": 5, "ключ": 6, "a\\b": 7})

        assert "a_b=1 x__y_=2 1st=3 7=4 _=5 ключ=6 a_b_=7\n" == out.decode()

    def test_two_keys_never_share_a_name(self) -> None:
        """A dotted key beside the nested key it spells, or two keys repaired alike: the later
        gets _ appended, so every parser keeps both values."""
        entry = {"a.b": 1, "a": {"b": 2}, "a b": 3, "a_b": 4, "a_b_": 5}

        line = LogfmtFormat()(entry).decode()

        assert "a.b=1 a.b_=2 a_b=3 a_b__=4 a_b_=5\n" == line
        assert parse_logfmt(line) == flatten(entry)
        assert [1, 2, 3, 4, 5] == sorted(parse_logfmt(line).values())  # type: ignore[type-var]

    def test_nested_keys_keep_their_characters(self) -> None:
        """A nested key (kept verbatim in JSON) keeps its dashes and letters in logfmt too."""
        assert "headers.X-Api-Key=k headers.Accept-Language=de" == write(
            headers={"X-Api-Key": "k", "Accept-Language": "de"}
        )

    def test_cycle_gives_one_line(self) -> None:
        """A value that contains itself is cut at a fixed depth."""
        loop: dict[str, object] = {}
        loop["self"] = loop

        out = LogfmtFormat()({"loop": loop})

        assert 1 == len(out.decode().splitlines())
        assert out.endswith(b'="<too deep>"\n')

    def test_hostile_mapping_still_gives_a_line(self) -> None:
        """A mapping whose iteration raises still gives one line naming the failure."""

        class Hostile(dict[str, object]):
            def items(self) -> object:  # type: ignore[override]
                raise RuntimeError("boom")

        out = LogfmtFormat()(Hostile(a=1))

        assert out.startswith(b'logfmt_error="boom" entry=')
        assert 1 == len(out.decode().splitlines())

    def test_has_slots_and_a_repr(self) -> None:
        """The formatter is a slotted object with a readable repr."""
        assert not hasattr(LogfmtFormat(), "__dict__")
        assert "LogfmtFormat()" == repr(LogfmtFormat())


class TestParseLogfmt:
    def test_typed_scalars(self) -> None:
        """Bare numbers, booleans and null read typed; quoted values read as strings."""
        line = 'a=1 b=-2.5 c=1e+16 d=true e=false f=null g="10" h="true" i=text j= k="" l\n'

        assert {
            "a": 1,
            "b": -2.5,
            "c": 1e16,
            "d": True,
            "e": False,
            "f": None,
            "g": "10",
            "h": "true",
            "i": "text",
            "j": "",
            "k": "",
            "l": True,
        } == parse_logfmt(line)

    def test_types_are_exact(self) -> None:
        """An integer reads as int and a number with a point or exponent as float."""
        assert [int, float, float, bool] == [
            type(v) for v in parse_logfmt("a=3 b=3.0 c=3e0 d=true").values()
        ]

    @pytest.mark.parametrize("text", ["007", "1_000", "+1", ".5", "0x10", "NaN", "True"])
    def test_only_json_numbers_and_lowercase_constants_are_typed(self, text: str) -> None:
        """A bare value outside JSON's number grammar and the three literals stays text."""
        assert {"k": text} == parse_logfmt(f"k={text}")

    def test_escapes_are_decoded(self) -> None:
        """JSON escapes inside quotes are decoded, surrogate pairs included."""
        line = r'k="a\"b\\c\nd\te\u0000\u2028\ud83d\ude80\/"'

        assert {"k": 'a"b\\c\nd\te\x00\u2028🚀/'} == parse_logfmt(line)

    def test_go_logfmt_line(self) -> None:
        """A line written by other logfmt writers parses, spacing and all."""
        line = '  at=info  method=GET path=/ status=200 dur="1.2ms" ok\t'

        assert {
            "at": "info",
            "method": "GET",
            "path": "/",
            "status": 200,
            "dur": "1.2ms",
            "ok": True,
        } == parse_logfmt(line)

    def test_raw_controls_in_quotes_are_accepted(self) -> None:
        """A raw tab that another writer left inside quotes is kept."""
        assert {"k": "a\tb"} == parse_logfmt('k="a\tb"')

    def test_repeated_key_keeps_the_last_value(self) -> None:
        """A key written twice reads as its last value."""
        assert {"k": 2} == parse_logfmt("k=1 k=2")

    def test_empty_line(self) -> None:
        """A blank line is an empty entry."""
        assert {} == parse_logfmt(" \n")

    @pytest.mark.parametrize(
        ("line", "message"),
        [
            ('k="open', "column 2: expected a closing quote"),
            ("=v", "column 0: expected a key"),
            ('k="a"b=1', "column 5: expected a space between pairs"),
            ('k="\\x"', "column 2: expected JSON escapes"),
            ('"k"=1', "column 0: expected a key"),
        ],
    )
    def test_malformed_lines_raise(self, line: str, message: str) -> None:
        """A line that is not logfmt raises ValueError naming the column."""
        with pytest.raises(ValueError, match=message):
            parse_logfmt(line)


class TestFlatten:
    def test_flat_view(self) -> None:
        """Nested objects become dotted keys, lists JSON text, empty objects "{}"."""
        entry = {
            "level": "info",
            "trade": {"symbol": "X", "legs": [1, 2]},
            "metric": {"attributes": {"network.io.direction": "transmit"}},
            "empty": {},
            "nan": float("inf"),
        }

        assert {
            "level": "info",
            "trade.symbol": "X",
            "trade.legs": "[1,2]",
            "metric.attributes.network.io.direction": "transmit",
            "empty": "{}",
            "nan": None,
        } == flatten(entry)

    def test_matches_what_is_written(self) -> None:
        """Parsing a written line gives exactly the flat view."""
        entry = {"a": {"b": {"c": "x y", "d": ["\n"]}}, "e": "10", "f": 10, "g": {}}

        assert flatten(entry) == parse_logfmt(LogfmtFormat()(entry).decode())

    def test_cycle_is_cut(self) -> None:
        """A value that contains itself flattens to a fixed depth."""
        loop: dict[str, object] = {}
        loop["self"] = loop

        ((key, value),) = flatten({"loop": loop}).items()

        assert "<too deep>" == value
        assert key.startswith("loop.self.self.")


class TestUnflatten:
    def test_rebuilds_tapelog_objects_only(self) -> None:
        """Keys under error, trade, metric and audit nest again; other dotted keys stay flat."""
        flat = {
            "level": "info",
            "server.address": "api.example.com",
            "trade.symbol": "BTC-USD",
            "trade.order_qty": "10",
            "error.type": "OSError",
            "error.cause.type": "TimeoutError",
            "audit.seq": 3,
        }

        assert {
            "level": "info",
            "server.address": "api.example.com",
            "trade": {"symbol": "BTC-USD", "order_qty": "10"},
            "error": {"type": "OSError", "cause": {"type": "TimeoutError"}},
            "audit": {"seq": 3},
        } == unflatten(flat)

    def test_decodes_container_fields(self) -> None:
        """Lists and objects written as JSON text come back for the fields that hold them."""
        flat = {
            "error.frames": '[{"file":"a.py","line":1,"function":"f"}]',
            "error.notes": '["retrying"]',
            "error.context.exceptions": '[{"type":"E","message":""}]',
            "metric.attributes": "{}",
        }

        assert {
            "error": {
                "frames": [{"file": "a.py", "line": 1, "function": "f"}],
                "notes": ["retrying"],
                "context": {"exceptions": [{"type": "E", "message": ""}]},
            },
            "metric": {"attributes": {}},
        } == unflatten(flat)

    def test_text_fields_stay_text_even_when_they_read_as_json(self) -> None:
        """An error message or trade text that looks like JSON stays a string."""
        flat = {
            "error.message": "[1, 2]",
            "trade.text": "[]",
            "tags": '["a"]',
            "error.notes": "[oops",
        }

        assert {
            "error": {"message": "[1, 2]", "notes": "[oops"},
            "trade": {"text": "[]"},
            "tags": '["a"]',
        } == unflatten(flat)

    def test_attribute_names_keep_their_dots(self) -> None:
        """Keys below an attributes map are OpenTelemetry names and are kept whole."""
        flat = {
            "metric.name": "system.network.io",
            "metric.attributes.network.io.direction": "transmit",
        }

        assert {
            "metric": {
                "name": "system.network.io",
                "attributes": {"network.io.direction": "transmit"},
            }
        } == unflatten(flat)

    def test_empty_object_itself(self) -> None:
        """An object written as {} comes back as an empty object."""
        assert {"trade": {}} == unflatten({"trade": "{}"})

    def test_clashing_key_stays_flat(self) -> None:
        """A dotted key below a scalar stays flat rather than replace the scalar."""
        flat = {
            "trade": 1,
            "trade.side": "buy",
            "error.type": "E",
            "error.type.x": 2,
            "error.type.y.z": 3,
        }

        assert {
            "trade": 1,
            "trade.side": "buy",
            "error": {"type": "E"},
            "error.type.x": 2,
            "error.type.y.z": 3,
        } == unflatten(flat)

    def test_other_roots(self) -> None:
        """The objects to rebuild can be chosen."""
        assert {"http": {"status": 200}, "trade.side": "buy"} == unflatten(
            {"http.status": 200, "trade.side": "buy"}, nested=("http",)
        )
