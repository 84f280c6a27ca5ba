"""A secret placed anywhere a caller can put one is found in no output format.

Each example logs once through the public API, with one secret hidden in one place: the
logger name, the message, a call, bound or context field at any depth, a list of header
pairs, an exception's message, a note, a cause, a group member, or a traceback's source
line. The entry is then written in every format tapelog has (JSON, logfmt, console with
and without colour, RFC 5424 with a JSON body and with the plain message, OTLP protobuf)
and the secret must appear in none of them.
"""

from __future__ import annotations

import itertools
import json
import linecache
import string
from importlib import resources
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

import tapelog
from tapelog.formats import ConsoleFormat, JsonFormat, LogfmtFormat, Rfc5424Format
from tapelog.testing import capture


if TYPE_CHECKING:
    from collections.abc import Callable

    from tapelog.typing import EventDict


ALNUM = string.ascii_letters + string.digits
SENSITIVE_KEYS = ["password", "api_key", "X-Api-Key", "Authorization", "token", "clientSecret"]

# Every secret holds a capital "Q", so none is a plain lowercase word: the one shape the
# prose rule leaves alone (docs/redaction.md says why).
secrets = st.text(st.sampled_from(ALNUM), min_size=6, max_size=20).map(
    lambda body: f"{body[:3]}Q{body[3:]}9"
)
words = st.sampled_from(["login", "failed", "for", "bob", "retry", "upstream", "request"])
filler = st.lists(words, max_size=3).map(" ".join)


@st.composite
def text_with(draw: st.DrawFn, secret: str) -> str:
    """Free text holding the secret in one of the shapes redaction covers by default."""
    key = draw(st.sampled_from(SENSITIVE_KEYS))
    shape = draw(
        st.sampled_from(
            [
                f"{key}={secret}",
                f"{key}: {secret}",
                f'{{"{key}": "{secret}"}}',
                f'{{\\"{key}\\": \\"{secret}\\"}}',
                f"<{key}>{secret}</{key}>",
                f"bad token {secret}",
                f"the password is {secret}",
                f"for password {secret}",
                f"the api key {secret}",
                f"https://bob:{secret}@proxy.internal:8080/x",
                f"Authorization: Bearer {secret}",
                f"Bearer {secret}",
                f"[('{key}', '{secret}'), ('Accept', '*/*')]",
                f'["{key}", "{secret}"]',
            ]
        )
    )
    return f"{draw(filler)} {shape} {draw(filler)}".strip()


@st.composite
def nested(draw: st.DrawFn, leaf: object) -> object:
    """``leaf`` wrapped in up to three layers of dicts, lists and tuples."""
    value = leaf
    for _ in range(draw(st.integers(0, 3))):
        wrap = draw(st.sampled_from(["dict", "list", "tuple"]))
        name = draw(st.sampled_from(["payload", "items", "ключ", "a.b", "Inner-Key"]))
        value = {name: value} if wrap == "dict" else ([value] if wrap == "list" else (1, value))
    return value


@st.composite
def secret_value(draw: st.DrawFn, secret: str) -> tuple[str, object]:
    """A field name and a value that holds the secret somewhere inside."""
    kind = draw(st.sampled_from(["under_key", "in_text", "pairs", "byte_pairs", "in_a_key"]))
    if kind == "in_a_key":  # a dict keyed by proxy URLs, or by text holding a pair
        inner = {draw(text_with(secret)): 3, "direct": 1}
    elif kind == "under_key":
        inner: object = {draw(st.sampled_from(SENSITIVE_KEYS)): draw(st.just(secret))}
    elif kind == "in_text":
        inner = draw(text_with(secret))
    elif kind == "pairs":
        inner = [("Accept", "*/*"), (draw(st.sampled_from(SENSITIVE_KEYS)), secret)]
    else:
        inner = [(b"host", b"h"), (b"authorization", f"Bearer {secret}".encode())]
    return draw(st.sampled_from(["data", "headers", "ctx", "ключ"])), draw(nested(inner))


NO_SURROGATE = st.characters(exclude_categories=("Cs",))
VALIDATOR = Draft202012Validator(
    json.loads(resources.files("tapelog").joinpath("schemas/log-entry.schema.json").read_text())
)
_modules = itertools.count()


def _raise_from_source(line: str) -> Callable[[], None]:
    """A function whose traceback shows ``line`` as source (registered with linecache)."""
    filename = f"<secret-source-{next(_modules)}>"
    source = f"def boom():\n    {line}\n"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), namespace)
    return namespace["boom"]


@st.composite
def exception_with(draw: st.DrawFn, secret: str) -> BaseException:
    """An exception holding the secret in its message, a note, a cause, a group or source."""
    text = draw(text_with(secret))
    where = draw(st.sampled_from(["message", "note", "cause", "context", "group", "source"]))
    try:
        if where == "message":
            raise ValueError(text)
        if where == "note":
            error = ValueError("failed")
            error.add_note(text)
            raise error
        if where == "cause":
            raise RuntimeError("request failed") from ConnectionError(text)
        if where == "context":
            try:
                raise KeyError(text)
            except KeyError:
                raise RuntimeError("lookup failed")  # noqa: B904 - the implicit context
        if where == "group":
            raise ExceptionGroup("several", [ValueError("ok"), OSError(text)])
        line = draw(
            st.sampled_from(
                [
                    f'password = "{secret}"; raise ValueError("login failed")',
                    f'raise ValueError("bad token {secret}")',
                    f'dsn = "postgres://app:{secret}@db/app"; raise OSError(dsn[:8])',
                    f'headers = {{"Authorization": "Bearer {secret}"}}; raise OSError(1)',
                    f'raise PermissionError("the password is {secret}")',
                ]
            )
        )
        _raise_from_source(line)()
    except BaseException as exc:
        return exc
    msg = "unreachable"
    raise AssertionError(msg)


def _otlp(entry: EventDict) -> bytes:
    from tapelog.sinks._otlp import OtlpEncoder

    encoder = OtlpEncoder()
    prepared, _ = encoder.prepare(entry)
    return encoder.encode([prepared])


FORMATS: list[tuple[str, Callable[[EventDict], bytes]]] = [
    ("json", JsonFormat()),
    ("logfmt", LogfmtFormat()),
    ("console", ConsoleFormat()),
    ("console colour", ConsoleFormat(color=True)),
    ("syslog, json body", Rfc5424Format(body=JsonFormat(), hostname="h")),
    ("syslog, plain message", Rfc5424Format(hostname="h")),
    ("otlp", _otlp),
]


@pytest.fixture(autouse=True, scope="module")
def _needs_otlp() -> None:
    pytest.importorskip("opentelemetry.proto.logs.v1.logs_pb2", reason="the otlp extra")


@st.composite
def placements(draw: st.DrawFn) -> tuple[str, str, Callable[[], None]]:
    """A secret, where it went, and the call that logs it."""
    secret = draw(secrets)
    where = draw(st.sampled_from(["logger", "message", "field", "bound", "context", "exception"]))
    name = "app.orders"
    message = "order placed"
    fields: dict[str, object] = {"qty": 1}
    bound: dict[str, object] = {}
    context: dict[str, object] = {}
    error: BaseException | None = None
    if where == "logger":
        name = draw(
            st.sampled_from(
                [
                    f"http://u:{secret}@h",
                    f"svc.password={secret}",
                    f"proxy.https://bob:{secret}@p:8080",
                    f"svc.token {secret}",
                ]
            )
        )
    elif where == "message":
        message = draw(text_with(secret))
    elif where == "exception":
        error = draw(exception_with(secret))
    else:
        key, value = draw(secret_value(secret))
        if draw(st.booleans()) and isinstance(value, dict) and where == "field":
            key, value = draw(text_with(secret)), 1  # the secret in a top-level key
        {"field": fields, "bound": bound, "context": context}[where][key] = value

    def log() -> None:
        logger = tapelog.get_logger(name).bind(**bound)
        with tapelog.context(**context):
            if error is None:
                logger.info(message, **fields)
            else:
                logger.error(message, exc_info=error, **fields)

    return secret, where, log


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(placement=placements())
def test_no_secret_reaches_any_output(placement: tuple[str, str, Callable[[], None]]) -> None:
    """Whatever the placement, no format writes the secret."""
    secret, where, log = placement
    with capture() as entries:
        log()
    assert len(entries) == 1
    for name, fmt in FORMATS:
        out = fmt(entries[0])
        assert secret.encode() not in out, f"{where}: the secret leaked in {name}: {out!r}"


@settings(max_examples=100, deadline=None)
@given(
    fields=st.dictionaries(
        st.text(max_size=10),
        st.integers() | st.dictionaries(st.text(NO_SURROGATE, max_size=5), st.text(NO_SURROGATE)),
        max_size=6,
    )
)
@example(fields={"Ssn": {}})
def test_any_keys_give_a_valid_entry_and_none_is_lost(fields: dict[str, Any]) -> None:
    """Keys of any script or character give a schema-valid entry; no two fold into one."""
    with capture() as entries:
        tapelog.get_logger("keys").info("keys", **fields)
    (entry,) = entries

    assert VALIDATOR.is_valid(entry), [error.message for error in VALIDATOR.iter_errors(entry)]
    core = ("timestamp", "level", "logger", "message", "seq")
    user = {key: value for key, value in entry.items() if key not in core}
    assert len(fields) == len(user)
    nested = [list(value) for value in user.values() if isinstance(value, dict)]
    # Nested keys verbatim, in order; except where the key is sensitive (hypothesis found
    # ``{"Ssn": {}}``): redaction replaces such a value whole.
    redacted = sum(1 for value in user.values() if value == "[REDACTED]")
    missing = [v for v in fields.values() if isinstance(v, dict) and list(v) not in nested]
    assert len(missing) <= redacted


@settings(max_examples=50, deadline=None)
@given(secret=secrets, data=st.data())
def test_no_secret_from_the_standard_library_reaches_any_output(
    secret: str, data: st.DataObject
) -> None:
    """A record from a library (urllib3 through the stdlib bridge) is redacted the same way."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        tapelog.capture_stdlib("debug", replace_handlers=True)
        text = data.draw(text_with(secret))
        with capture() as entries:
            logging.getLogger("urllib3.connectionpool").warning(
                "Retrying after %s",
                text,
                extra={"headers": [("Authorization", f"Bearer {secret}")]},
            )
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    (entry,) = entries
    for name, fmt in FORMATS:
        assert secret.encode() not in fmt(entry), f"stdlib: the secret leaked in {name}"
