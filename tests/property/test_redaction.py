"""Properties of normalisation and redaction over generated payloads."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import enum
import fractions
import pathlib
import string
import uuid
from decimal import Decimal
from typing import Any, NamedTuple

import orjson
from hypothesis import given
from hypothesis import strategies as st

from tapelog.processors import Redactor, clean_fields, clean_value


USER_PATTERN = r"sk-[A-Za-z0-9]{20,}"
REDACTOR = Redactor(patterns=[USER_PATTERN])

# Every secret holds a "Q" and no filler does, so a secret found in the output leaked.
MARK = "Q"
ALNUM = string.ascii_letters + string.digits
SENSITIVE_SPELLINGS = [
    "password",
    "Password",
    "db_passwd",
    "apiKey",
    "API-Key",
    "x_api_key",
    "X-Api-Key",
    "api.key",
    "access_token",
    "refreshToken",
    "Authorization",
    "Set-Cookie",
    "client_secret",
    "privateKey",
    "aws_access_key_id",
    "credentials",
    "card_number",
    "cvv",
    "SSN",
]


def _no_mark(text: str) -> bool:
    return MARK not in text


filler_text = st.text(
    st.characters(exclude_characters=MARK + MARK.lower(), exclude_categories=("Cs",)), max_size=12
)
plain_key = st.text(st.sampled_from("abcdefghijlmnoruvwxyz_.-0"), min_size=1, max_size=8).filter(
    lambda key: not REDACTOR.is_sensitive(key)
)
filler_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.decimals(),
    filler_text,
    st.binary(max_size=8).filter(lambda raw: b"Q" not in raw),
)
filler = st.recursive(
    filler_scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_key, inner, max_size=3),
    max_leaves=6,
)


def _secret(alphabet: str, min_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(st.sampled_from(alphabet), min_size=min_size, max_size=24).map(
        lambda body: body[: len(body) // 2] + MARK + body[len(body) // 2 :]
    )


@dataclasses.dataclass
class Credentials:
    user: str
    password: str


@st.composite
def under_sensitive_key(draw: st.DrawFn) -> tuple[str, object]:
    """A secret of any shape under a sensitive key."""
    secret = draw(_secret(string.printable))
    wrap = draw(st.sampled_from(["str", "list", "dict", "tuple", "bytes", "set", "dataclass"]))
    value: object = {
        "str": secret,
        "list": [secret],
        "dict": {"inner": secret},
        "tuple": (1, secret),
        "bytes": secret.encode(),
        "set": {secret},
        "dataclass": Credentials("bob", secret),
    }[wrap]
    if wrap == "dataclass":
        return secret, value
    return secret, {draw(st.sampled_from(SENSITIVE_SPELLINGS)): value}


@st.composite
def in_text(draw: st.DrawFn) -> tuple[str, object]:
    """A secret inside a longer string: URL credentials, a pair, a token, a user pattern."""
    kind = draw(st.sampled_from(["url", "pair", "quoted", "bearer", "pattern", "exception"]))
    if kind == "url":
        secret = draw(_secret(ALNUM + "-._~!$&'()*+,;=%:@"))
        scheme = draw(st.sampled_from(["postgres", "https", "redis", "amqp+ssl", "s3"]))
        user = draw(st.text(st.sampled_from(ALNUM + "-._~%"), max_size=8))
        host = draw(st.sampled_from(["db", "10.0.0.1", "[::1]", "cache.example.com"]))
        port = draw(st.sampled_from(["", ":5432"]))
        path = draw(st.sampled_from(["", "/", "/app?sslmode=require", "#frag"]))
        middle = f"{scheme}://{user}:{secret}@{host}{port}{path}"
    elif kind == "pair":
        secret = draw(_secret(ALNUM + "-._~+/"))
        key = draw(st.sampled_from(SENSITIVE_SPELLINGS))
        separator = draw(st.sampled_from(["=", ": ", " = ", ":"]))
        middle = f"{key}{separator}{secret}"
    elif kind == "quoted":
        secret = draw(
            _secret(string.ascii_letters + string.digits + " !#$%&()*+,-./:;<=>?@[]^_{|}~")
        )
        key = draw(st.sampled_from(SENSITIVE_SPELLINGS))
        quote = draw(st.sampled_from(["'", '"']))
        middle = f"{quote}{key}{quote}: {quote}{secret}{quote}"
    elif kind == "bearer":
        secret = draw(_secret(ALNUM + "-._~+/"))
        gap = draw(st.sampled_from([" ", "\t", " \t"]))  # RFC 7235 allows spaces and tabs
        scheme = "Authorization: Bearer" if draw(st.booleans()) else "Bearer"
        middle = f"{scheme}{gap}{secret}"
    elif kind == "pattern":
        secret = "sk-" + draw(_secret(ALNUM, min_size=20))
        middle = secret
    else:
        secret = draw(_secret(ALNUM))
        return secret, ValueError(f"login failed for bob password={secret}")
    text = f"{draw(filler_text)} {middle} {draw(filler_text)}"
    return secret, text


@st.composite
def payload_with_secret(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """Fields with one secret hidden somewhere in nested lists, tuples and dicts."""
    secret, carrier = draw(st.one_of(under_sensitive_key(), in_text()))
    for _ in range(draw(st.integers(0, 8))):
        siblings = draw(st.lists(filler, max_size=2))
        container = draw(st.sampled_from(["list", "tuple", "dict"]))
        if container == "dict":
            carrier = {
                **dict(zip(draw(st.lists(plain_key, max_size=2)), siblings, strict=False)),
                draw(plain_key): carrier,
            }
        else:
            position = draw(st.integers(0, len(siblings)))
            items = [*siblings[:position], carrier, *siblings[position:]]
            carrier = items if container == "list" else tuple(items)
    fields = draw(st.dictionaries(plain_key, filler, max_size=4))
    fields[draw(plain_key)] = carrier
    return secret, fields


class TestSecretsNeverLeak:
    @given(payload_with_secret())
    def test_secret_absent_from_json(self, case: tuple[str, dict[str, object]]) -> None:
        """A secret anywhere in a nested payload never reaches the JSON output."""
        secret, fields = case

        output = orjson.dumps(clean_fields(fields, REDACTOR)).decode()

        assert secret not in output


class Tone(enum.Enum):
    LOW = 1
    HIGH = "high"


class Pair(NamedTuple):
    left: object
    right: object


@dataclasses.dataclass
class Box:
    content: object


class Model:
    def __init__(self, content: object) -> None:
        self.content = content

    def model_dump(self) -> dict[str, object]:
        return {"content": self.content}


class Hostile:
    """Raises from everything a converter might call."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")

    def __str__(self) -> str:
        raise RuntimeError("str")

    def __lt__(self, other: object) -> bool:
        raise RuntimeError("lt")

    def __hash__(self) -> int:
        return 0


class HostileError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("str")


def _cyclic(items: list[object]) -> list[object]:
    items.append(items)
    return items


def _cyclic_dict(items: dict[str, object]) -> dict[str, object]:
    items["self"] = {"up": items}
    return items


hashable = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(st.characters(exclude_categories=()), max_size=6),
    st.binary(max_size=4),
    st.decimals(allow_nan=False),
    st.builds(Hostile),
    st.tuples(st.integers(), st.text(max_size=3)),
)
anything_scalar = st.one_of(
    hashable,
    st.decimals(),
    st.complex_numbers(),
    st.fractions(),
    st.datetimes(
        timezones=st.none()
        | st.just(dt.UTC)
        | st.builds(
            dt.timezone,
            st.timedeltas(min_value=dt.timedelta(hours=-23), max_value=dt.timedelta(hours=23)),
        )
    ),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.sampled_from(list(Tone)),
    st.builds(bytearray, st.binary(max_size=4)),
    st.builds(memoryview, st.binary(max_size=4)),
    st.builds(pathlib.PurePosixPath, st.text(max_size=6)),
    st.builds(ValueError, st.text(max_size=6)),
    st.builds(HostileError),
    st.builds(object),
    st.sampled_from(
        [int, len, Ellipsis, NotImplemented, range(3), slice(1, 2), fractions.Fraction]
    ),
    st.from_type(type).flatmap(st.from_type).filter(lambda value: not isinstance(value, type)),
)
anything = st.recursive(
    anything_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.lists(inner, max_size=3).map(collections.deque),
        st.lists(inner, max_size=3).map(_cyclic),
        st.dictionaries(hashable, inner, max_size=3),
        st.dictionaries(st.text(max_size=4), inner, max_size=3).map(_cyclic_dict),
        st.sets(hashable, max_size=3),
        st.frozensets(hashable, max_size=3),
        st.builds(Pair, inner, inner),
        st.builds(Box, inner),
        st.builds(Model, inner),
    ),
    max_leaves=10,
)


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


class TestCleanValue:
    @given(anything)
    def test_never_raises_and_gives_json(self, value: object) -> None:
        """Whatever it is given, clean_value returns something orjson writes."""
        _dump(clean_value(value, REDACTOR))
        _dump(clean_value(value, None))

    @given(anything)
    def test_deterministic(self, value: object) -> None:
        """Cleaning the same value twice gives the same JSON."""
        assert _dump(clean_value(value, REDACTOR)) == _dump(clean_value(value, REDACTOR))

    @given(st.dictionaries(hashable, anything, max_size=4))
    def test_fields_are_json(self, fields: dict[Any, object]) -> None:
        """clean_fields gives valid keys and JSON values for any mapping."""
        actual = clean_fields(fields, REDACTOR)

        assert all(isinstance(key, str) and key for key in actual)
        _dump(actual)

    @given(st.uuids())
    def test_uuid_round_trip(self, value: uuid.UUID) -> None:
        """A UUID is written as its canonical text."""
        assert uuid.UUID(str(clean_value(value, REDACTOR))) == value

    @given(st.decimals(allow_nan=False, allow_infinity=False))
    def test_finite_decimal_round_trip(self, value: Decimal) -> None:
        """A finite Decimal's text parses back to the same number, never in E notation."""
        text = clean_value(value, REDACTOR)

        assert isinstance(text, str)
        assert "E" not in text or abs(value.adjusted()) > 1000
        assert Decimal(text) == value
