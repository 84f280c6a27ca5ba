"""Normalisation: every value becomes a JSON value, without raising or mutating."""

from __future__ import annotations

import collections
import copy
import dataclasses
import datetime as dt
import enum
import pathlib
import sys
import uuid
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson
import pytest

from tapelog.processors import Redactor, clean_fields, clean_value
from tapelog.processors._normalize import MAX_DEPTH, sanitize_key


class Color(enum.Enum):
    RED = "red"
    PAIR = (1, Decimal("2.5"))


class Side(enum.IntEnum):
    BUY = 1


class Venue(enum.StrEnum):
    XNAS = "xnas"


class Perm(enum.Flag):
    READ = 1
    WRITE = 2


@dataclasses.dataclass
class Login:
    user: str
    password: str
    tags: tuple[str, ...] = ()


@dataclasses.dataclass
class Lazy:
    ready: int
    later: int = dataclasses.field(init=False)


class Point(NamedTuple):
    x: int
    y: Decimal


class Model:
    """Quacks like a pydantic model."""

    def __init__(self, **values: object) -> None:
        self.values = values

    def model_dump(self) -> dict[str, object]:
        return dict(self.values)


class BadRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr for you")


class BadStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str either")


class BadKey:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __hash__(self) -> int:
        return 1


class BrokenMapping(Mapping[str, object]):
    """A mapping that fails halfway through being read."""

    def __getitem__(self, key: str) -> object:
        if key == "b":
            raise RuntimeError("gone")
        return 1

    def __iter__(self) -> Any:
        return iter(["a", "b", "c"])

    def __len__(self) -> int:
        return 3


class Unsortable:
    def __init__(self, name: str) -> None:
        self.name = name

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("no order")

    def __repr__(self) -> str:
        return f"U({self.name})"


class Plain:
    def __repr__(self) -> str:
        return "Plain()"


class TestSanitizeKey:
    @pytest.mark.parametrize(
        "key",
        [
            "a",
            "_x",
            "http.response.status_code",
            "A9_b.c",
            "x" * 128,
            "1st",
            "9",
            "Zürich",
            "東京",
            "ключ",
        ],
    )
    def test_valid_key_unchanged(self, key: str) -> None:
        """A key that already fits the pattern comes back as it is."""
        assert key == sanitize_key(key)

    @pytest.mark.parametrize(
        ("key", "expected"),
        [
            ("a-b", "a_b"),
            ("a b", "a_b"),
            ("a/b:c", "a_b_c"),
            ("", "_"),
            ("API-Key", "API_Key"),
            ("a=b", "a_b"),
            ('say "hi"', "say__hi_"),
            ("new\nline", "new_line"),
            ("lone\udc80", "lone_"),
        ],
    )
    def test_bad_characters_become_underscores(self, key: str, expected: str) -> None:
        """Each character other than a letter, a digit, _ or . becomes one _."""
        assert expected == sanitize_key(key)

    @pytest.mark.parametrize(
        ("key", "expected"),
        [(42, "42"), (None, "None"), ((1, 2), "_1__2_"), (BadKey(), "_unrepresentable_BadKey_")],
    )
    def test_non_str_keys_are_converted(self, key: object, expected: str) -> None:
        """A non-str key goes through str(), and a str() that raises does not escape."""
        assert expected == sanitize_key(key)

    @pytest.mark.parametrize("key", ["k" * 300, "-" * 300])
    def test_long_keys_are_cut(self, key: str) -> None:
        """A key longer than 128 characters is cut to 128."""
        assert 128 == len(sanitize_key(key))


class TestScalars:
    @pytest.mark.parametrize(
        "value", ["text", "", True, False, None, 0, -1, 1.5, -0.0, 2**63 - 1, -(2**63), 2**64 - 1]
    )
    def test_json_scalars_pass_through(self, value: object) -> None:
        """str, bool, None, finite floats and 64-bit ints are returned as they are."""
        actual = clean_value(value, None)

        assert (type(value), value) == (type(actual), actual)

    @pytest.mark.parametrize("value", [2**64, -(2**63) - 1, 10**30])
    def test_big_ints_become_decimal_strings(self, value: int) -> None:
        """An int beyond 64 bits becomes its decimal string."""
        assert str(value) == clean_value(value, None)

    def test_huge_int_becomes_hex(self) -> None:
        """An int too long for str() under the digit limit becomes hex instead of raising."""
        value = 1 << (sys.get_int_max_str_digits() * 4)

        assert hex(value) == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity")],
    )
    def test_non_finite_floats_become_strings(self, value: float, expected: str) -> None:
        """NaN and infinities, which JSON cannot hold, become strings."""
        assert expected == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("1E-8", "0.00000001"),
            ("43250.10", "43250.10"),
            ("1E+3", "1000"),
            ("-1.5E+2", "-150"),
            ("-0.00", "-0.00"),
            ("0E-7", "0.0000000"),
            ("12345678901234567890.123456789", "12345678901234567890.123456789"),
            ("NaN", "NaN"),
            ("-NaN", "NaN"),
            ("sNaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
        ],
    )
    def test_decimals_are_written_in_full(self, value: str, expected: str) -> None:
        """A Decimal becomes format(d, "f"), never scientific notation; NaN and inf their names."""
        assert expected == clean_value(Decimal(value), None)

    def test_decimal_with_huge_exponent_stays_short(self) -> None:
        """A Decimal like 1E+1000000 keeps its exact scientific form instead of a megabyte."""
        assert "1E+1000000" == clean_value(Decimal("1E+1000000"), None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (
                dt.datetime(2026, 11, 23, 7, 1, 2, 123456, tzinfo=dt.UTC),
                "2026-11-23T07:01:02.123456Z",
            ),
            (
                dt.datetime(2026, 11, 23, 9, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                "2026-11-23T07:01:02.000000Z",
            ),
            (
                dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
                "2026-11-23T07:00:00.000000Z",
            ),
            (dt.datetime(2026, 11, 23, 7, 1, 2, 5), "2026-11-23T07:01:02.000005Z"),
        ],
    )
    def test_datetimes_become_rfc3339_utc(self, value: dt.datetime, expected: str) -> None:
        """Aware datetimes are converted to UTC, naive ones taken as UTC; microseconds kept."""
        assert expected == clean_value(value, None)

    def test_datetime_that_cannot_move_to_utc_keeps_its_offset(self) -> None:
        """A datetime whose UTC time is out of range is written with its own offset."""
        value = dt.datetime.min.replace(tzinfo=dt.timezone(dt.timedelta(hours=1)))

        assert "0001-01-01T00:00:00.000000+01:00" == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (dt.date(2026, 11, 23), "2026-11-23"),
            (dt.time(7, 1, 2, 500), "07:01:02.000500"),
            (dt.time(7, 1, tzinfo=dt.UTC), "07:01:00+00:00"),
            (dt.timedelta(seconds=90, microseconds=250000), 90.25),
            (uuid.UUID(int=5), "00000000-0000-0000-0000-000000000005"),
            (pathlib.PurePosixPath("/var/log/app.jsonl"), "/var/log/app.jsonl"),
            (pathlib.PureWindowsPath("C:/logs/app.jsonl"), "C:\\logs\\app.jsonl"),
            (pathlib.Path("logs/app.jsonl"), str(pathlib.Path("logs/app.jsonl"))),
        ],
    )
    def test_standard_library_types(self, value: object, expected: object) -> None:
        """date and time give isoformat, timedelta seconds, UUID and paths their text."""
        assert expected == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Color.RED, "red"),
            (Color.PAIR, [1, "2.5"]),
            (Side.BUY, 1),
            (Venue.XNAS, "xnas"),
            (Perm.READ | Perm.WRITE, 3),
        ],
    )
    def test_enum_members_become_their_cleaned_value(
        self, value: enum.Enum, expected: object
    ) -> None:
        """An enum member is written as its value, itself cleaned."""
        actual = clean_value(value, None)

        assert (expected, type(expected)) == (actual, type(actual))

    @pytest.mark.parametrize(
        "value",
        [b"caf\xc3\xa9 \xff", bytearray(b"caf\xc3\xa9 \xff"), memoryview(b"caf\xc3\xa9 \xff")],
    )
    def test_bytes_are_decoded_with_escapes(self, value: object) -> None:
        """Bytes are decoded as UTF-8, and invalid bytes are written as backslash escapes."""
        assert "café \\xff" == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (ValueError("boom"), "ValueError: boom"),
            (KeyError("k"), "KeyError: 'k'"),
            (RuntimeError(), "RuntimeError"),
        ],
    )
    def test_exceptions_become_type_and_message(self, value: BaseException, expected: str) -> None:
        """An exception is written like the last line of its traceback."""
        assert expected == clean_value(value, None)

    def test_exception_whose_str_raises_falls_back_to_repr(self) -> None:
        """An exception that cannot be printed is written as its repr."""
        assert "BadStrError()" == clean_value(BadStrError(), None)

    def test_other_objects_become_their_repr(self) -> None:
        """An object of an unknown type is written as its repr."""
        assert ["Plain()", "(1+2j)"] == clean_value([Plain(), 1 + 2j], None)

    def test_repr_that_raises(self) -> None:
        """An object whose repr raises becomes a marker naming its type."""
        assert "<unrepresentable BadRepr>" == clean_value(BadRepr(), None)

    @pytest.mark.parametrize("redactor", [None, Redactor()], ids=["plain", "redacted"])
    def test_non_ascii_text_is_left_intact(self, redactor: Redactor | None) -> None:
        """Letters, CJK and emoji come back unchanged, with or without redaction."""
        text = "Zürich 東京 🚀"

        assert {"city": text} == clean_value({"city": text}, redactor)

    def test_lone_surrogates_are_escaped(self) -> None:
        """A lone surrogate, which no JSON encoder accepts, becomes a backslash escape."""
        actual = clean_value("a\udc80b", None)

        assert ("a\\udc80b", b'"a\\\\udc80b"') == (actual, orjson.dumps(actual))

    def test_subclasses_of_scalars_become_exact_types(self) -> None:
        """str, int and float subclasses are written as the plain builtin values."""

        class Name(str):
            __slots__ = ()

        class Count(int):
            pass

        class Price(float):
            pass

        actual = clean_value([Name("x"), Count(3), Price(1.5), Price("nan")], None)

        assert (["x", 3, 1.5, "NaN"], [str, int, float, str]) == (actual, [type(v) for v in actual])


class TestContainers:
    def test_nested_tuples_lists_and_dicts(self) -> None:
        """Tuples and deques become lists at every depth, and dicts stay dicts."""
        value = ({"a": (1, [2, (3,)])}, collections.deque([4, {"b": ()}]))

        assert [{"a": [1, [2, [3]]]}, [4, {"b": []}]] == clean_value(value, None)

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({3, 1, 2}, [1, 2, 3]),
            (frozenset({"b", "a"}), ["a", "b"]),
            ({1, "a"}, ["a", 1]),
            ({Unsortable("b"), Unsortable("a")}, ["U(a)", "U(b)"]),
            (set(), []),
        ],
    )
    def test_sets_become_sorted_lists(self, value: object, expected: list[object]) -> None:
        """A set becomes a sorted list, or a list in repr order when its items do not sort."""
        assert expected == clean_value(value, None)

    def test_nested_mapping_keys_are_kept_verbatim(self) -> None:
        """Keys of a value's mappings are the user's data: kept as they are; str() for others."""
        value = {"http-status": 200, 7: "seven", None: 0, (1, 2): "pair", "ключ": 1, "a b": 2}

        assert {
            "http-status": 200,
            "7": "seven",
            "None": 0,
            "(1, 2)": "pair",
            "ключ": 1,
            "a b": 2,
        } == clean_value(value, None)

    def test_top_level_keys_are_sanitised_and_never_fold(self) -> None:
        """Top-level keys keep letters and digits of any script; two keys never become one."""
        fields = {"a-b": 1, "a_b": 2, "a b": 3, "ключ": 4, "замок": 5, "{": 6, "}": 7}

        assert {"a_b": 1, "a_b_": 2, "a_b__": 3, "ключ": 4, "замок": 5, "_": 6, "__": 7} == (
            clean_fields(fields, None)
        )

    def test_keys_holding_secrets_are_redacted_at_any_depth(self) -> None:
        """A key is kept unless it holds a secret: a proxy URL with credentials, a pair."""
        from tapelog.processors import Redactor

        fields = {"pool": {"http://u:pw@p:8080": 3, "X-Api-Key": "k"}, "token=abc123": 1}

        assert {
            "pool": {"http://[REDACTED]@p:8080": 3, "X-Api-Key": "[REDACTED]"},
            "token__REDACTED_": "[REDACTED]",
        } == clean_fields(fields, Redactor())

    def test_non_str_keys_that_collide_are_kept_apart(self) -> None:
        """A nested 1 and "1" both survive, the later with a _ suffix."""
        assert {"1": "int", "1_": "str"} == clean_value({1: "int", "1": "str"}, None)

    @pytest.mark.parametrize(
        "value",
        [MappingProxyType({"a": 1}), collections.OrderedDict(a=1), collections.Counter(a=1)],
    )
    def test_other_mappings_become_dicts(self, value: object) -> None:
        """Any Mapping becomes a plain dict."""
        actual = clean_value(value, None)

        assert ({"a": 1}, dict) == (actual, type(actual))

    def test_dataclass_becomes_dict_of_fields(self) -> None:
        """A dataclass instance becomes a dict of its fields, each cleaned."""
        assert {"user": "bob", "password": "pw", "tags": ["a"]} == clean_value(
            Login("bob", "pw", ("a",)), None
        )

    def test_dataclass_containing_a_secret_is_redacted(self) -> None:
        """A secret field of a dataclass is redacted like a dict entry."""
        assert {"user": "bob", "password": "[REDACTED]", "tags": []} == clean_value(
            Login("bob", "hunter2"), Redactor()
        )

    def test_dataclass_with_unset_field(self) -> None:
        """A field that was never set is left out rather than failing the whole object."""
        assert {"ready": 1} == clean_value(Lazy(1), None)

    def test_dataclass_class_is_not_an_instance(self) -> None:
        """A dataclass type itself is an object like any other: written as its repr."""
        assert repr(Login) == clean_value(Login, None)

    def test_namedtuple_becomes_dict(self) -> None:
        """A namedtuple becomes a dict of its fields."""
        assert {"x": 1, "y": "0.5"} == clean_value(Point(1, Decimal("0.5")), None)

    def test_model_dump_is_used(self) -> None:
        """An object with model_dump() (pydantic) is written as what it dumps, cleaned."""
        assert {"qty": "1.0", "token": "[REDACTED]"} == clean_value(
            Model(qty=Decimal("1.0"), token="t"), Redactor()
        )

    def test_list_containing_itself(self) -> None:
        """A list that contains itself is cut with a cycle marker where it repeats."""
        value: list[object] = [1]
        value.append(value)

        assert [1, "<cycle>"] == clean_value(value, None)

    def test_dict_referring_to_an_ancestor(self) -> None:
        """A dict that refers back to an enclosing dict is cut with a cycle marker."""
        root: dict[str, object] = {"name": "root"}
        root["child"] = {"parent": root, "items": [root]}

        assert {
            "name": "root",
            "child": {"parent": "<cycle>", "items": ["<cycle>"]},
        } == clean_value(root, None)

    def test_shared_reference_is_not_a_cycle(self) -> None:
        """The same object twice side by side is written twice."""
        shared = {"a": 1}

        assert [{"a": 1}, [{"a": 1}]] == clean_value([shared, (shared,)], None)

    def test_deep_nesting_is_capped(self) -> None:
        """Nesting deeper than MAX_DEPTH ends in a too-deep marker instead of recursing."""
        value: object = "bottom"
        for _ in range(10_000):
            value = [value]

        actual = clean_value(value, None)
        depth = 0
        while isinstance(actual, list):
            actual = actual[0]
            depth += 1

        assert (MAX_DEPTH, "<too deep>") == (depth, actual)

    def test_unreadable_mapping_falls_back_to_repr(self) -> None:
        """A container that raises while being read is written as its repr."""
        value = BrokenMapping()

        assert {"m": repr(value)} == clean_value({"m": value}, None)

    def test_callers_objects_are_not_changed(self) -> None:
        """Cleaning with redaction leaves every input object as it was."""
        value = {
            "password": "hunter2",
            "nested": [{"token": "t"}, ("postgres://u:pw@h/db", {3, 1})],
            "login": Login("bob", "pw", ("x",)),
            "bytes": bytearray(b"password=x"),
            "odd keys": {1: "one", "a-b": 2},
        }
        before = copy.deepcopy(value)

        clean_value(value, Redactor())

        assert before == value


class TestRedactionInPass:
    @pytest.mark.parametrize("secret", ["hunter2", {"a": "b"}, [1, 2], 42, None, Login("u", "p")])
    def test_value_under_sensitive_key_is_replaced_whole(self, secret: object) -> None:
        """Whatever its type, the value of a sensitive key becomes the replacement."""
        assert {"user": "bob", "password": "[REDACTED]"} == clean_value(
            {"user": "bob", "password": secret}, Redactor()
        )

    def test_sensitive_key_at_any_depth(self) -> None:
        """A sensitive key deep inside lists and dicts is found."""
        value = {"a": [{"b": ({"apiKey": "k"},)}]}

        assert {"a": [{"b": [{"apiKey": "[REDACTED]"}]}]} == clean_value(value, Redactor())

    def test_strings_anywhere_go_through_redact_text(self) -> None:
        """Strings in lists, tuples, sets, bytes and reprs are redacted too."""
        value = [
            "postgres://bob:pw@db:5432/app",
            ("Bearer abc.def",),
            b"password=x",
            ValueError("bad token=t0k"),
        ]

        assert [
            "postgres://[REDACTED]@db:5432/app",
            ["Bearer [REDACTED]"],
            "password=[REDACTED]",
            "ValueError: bad token=[REDACTED]",
        ] == clean_value(value, Redactor())

    def test_keys_are_kept(self) -> None:
        """Redaction replaces values, never keys."""
        assert {"password": "[REDACTED]"} == clean_value({"password": "x"}, Redactor())

    @pytest.mark.parametrize("redactor", [None, Redactor(enabled=False)], ids=["none", "disabled"])
    def test_no_redaction_without_an_enabled_redactor(self, redactor: Redactor | None) -> None:
        """With no redactor, or a disabled one, values are only normalised."""
        value = {"password": "x", "url": "https://u:p@h/"}

        assert value == clean_value(value, redactor)


class TestCleanFields:
    def test_keys_sanitised_values_cleaned(self) -> None:
        """Fields get valid keys and JSON values, in their order."""
        fields = {"qty": Decimal("1E-8"), "http-status": 200, "at": dt.date(2026, 1, 2)}

        actual = clean_fields(fields, None)

        assert [("qty", "0.00000001"), ("http_status", 200), ("at", "2026-01-02")] == list(
            actual.items()
        )

    def test_returns_a_new_dict(self) -> None:
        """The fields mapping itself is never returned or changed."""
        fields: dict[str, object] = {"a": 1}

        actual = clean_fields(fields, Redactor())

        assert (False, {"a": 1}) == (actual is fields, fields)

    def test_redaction(self) -> None:
        """Sensitive keys and secret-shaped strings are redacted."""
        fields = {"user": "bob", "X-Api-Key": "k", "dsn": "mysql://root:toor@db/app", "n": 1}

        assert {
            "user": "bob",
            "X_Api_Key": "[REDACTED]",
            "dsn": "mysql://[REDACTED]@db/app",
            "n": 1,
        } == clean_fields(fields, Redactor())

    def test_field_referring_to_the_fields(self) -> None:
        """A field whose value is the fields mapping itself is a cycle."""
        fields: dict[str, object] = {"a": 1}
        fields["self"] = fields

        assert {"a": 1, "self": "<cycle>"} == clean_fields(fields, None)

    def test_unreadable_fields_keep_what_was_read(self) -> None:
        """A mapping that fails halfway keeps the fields before the failure, and says so."""
        assert {"a": 1, "_unrepresentable": "<unrepresentable BrokenMapping>"} == clean_fields(
            BrokenMapping(), None
        )

    def test_output_is_json(self) -> None:
        """orjson accepts the result of awkward input as it is."""
        fields = {
            "big": 2**80,
            "nan": float("nan"),
            "set": {b"x", b"y"},
            "obj": object(),
            "when": dt.datetime(2026, 1, 1),
        }

        orjson.dumps(clean_fields(fields, Redactor()))
