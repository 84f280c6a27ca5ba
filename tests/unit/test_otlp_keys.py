"""OTLP attribute names: renaming never lets two entry keys share one attribute."""

from __future__ import annotations

import pytest


pytest.importorskip("opentelemetry.proto.logs.v1.logs_pb2", reason="the otlp extra")

from tapelog.sinks._otlp import OtlpEncoder


def attributes(entry: dict[str, object]) -> dict[str, object]:
    encoder = OtlpEncoder()
    prepared, _ = encoder.prepare(entry)
    record = prepared[2]
    found: dict[str, object] = {}
    for attribute in record.attributes:
        assert attribute.key not in found, f"two attributes named {attribute.key!r}"
        value = attribute.value
        found[attribute.key] = getattr(value, value.WhichOneof("value"))
    return found


BASE = {"timestamp": "2026-11-23T07:01:02.123456Z", "level": "info", "logger": "x", "message": "m"}


def test_a_renamed_key_beside_a_user_key_of_that_name_keeps_both() -> None:
    """`thread` becomes thread.name; a user's own `thread.name` keeps its name, and both stay."""
    found = attributes({**BASE, "thread.name": "users", "thread": "MainThread", "seq": 3})

    assert {"thread.name": "users", "thread.name_": "MainThread", "tapelog.seq": 3} == found


def test_error_attributes_beside_user_keys_of_those_names() -> None:
    """An error's exception.type does not overwrite a user field named exception.type."""
    found = attributes(
        {**BASE, "exception.type": "mine", "error": {"type": "ValueError", "message": "bad"}}
    )

    assert ("mine", "ValueError", "bad") == (
        found["exception.type"],
        found["exception.type_"],
        found["exception.message"],
    )


def test_keys_of_any_script_are_kept() -> None:
    """OTLP attribute names are any text: ключ stays ключ."""
    assert {"ключ": 1} == attributes({**BASE, "ключ": 1})
