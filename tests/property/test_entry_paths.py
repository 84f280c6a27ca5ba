"""The entry builder's fast path writes exactly what its general path writes.

``EntryBuilder.build`` takes a shortcut for the common record (plain keys, plain values,
a message seen before, bound fields cleaned once). These properties build every
generated record twice, once through ``build`` and once through the general path on a
twin builder, and require the same entry, key order included.
"""

from __future__ import annotations

import math
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING

from hypothesis import given, settings
from hypothesis import strategies as st

from tapelog._entry import EntryBuilder
from tapelog.processors import Redactor
from tapelog.processors._fields import FieldSelector


if TYPE_CHECKING:
    from collections.abc import Mapping

    from tapelog._event import Record


KEYS = st.sampled_from(
    [
        "symbol",
        "qty",
        "order_id",
        "http.status",
        "password",
        "apiKey",
        "event",
        "seq",
        "timestamp",
        "message",
        "pid",
        "error",
        "a-b",
        "1st",
        "",
        "x" * 130,
        "ünïcode",
    ]
)
TEXTS = st.one_of(
    st.sampled_from(
        [
            "BTC-USD",
            "Bearer abc.def",
            "https://bob:pw@db:5432/app",
            "token=s3cr3t",
            "caf\u00e9",
            "\ud800 lone",
            "line\u2028break",
            "order.placed",
            "",
        ]
    ),
    st.text(max_size=12),
)
VALUES = st.one_of(
    TEXTS,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(KEYS, st.integers(), max_size=2),
    st.tuples(TEXTS),
)
FIELDS = st.dictionaries(KEYS, VALUES, max_size=6)
# Bound and context mappings are immutable in real use; some are proxies, as context is.
SHARED = st.one_of(
    st.just({}),
    FIELDS,
    FIELDS.map(MappingProxyType),
)
MESSAGES = st.one_of(TEXTS, st.integers(), st.lists(st.integers(), max_size=2))


def _twins(
    redact: bool, include: frozenset[str], selector: bool
) -> tuple[EntryBuilder, EntryBuilder]:
    def one() -> EntryBuilder:
        return EntryBuilder(
            redactor=Redactor() if redact else None,
            include=include,
            service="svc",
            selector=FieldSelector(exclude=["pid"], rename={"symbol": "sym"}) if selector else None,
        )

    return one(), one()


def _same(a: object, b: object) -> bool:
    """Equality that holds for the NaN a float field may carry (written as "NaN")."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def _assert_same(fast: Mapping[str, object], general: Mapping[str, object]) -> None:
    assert list(fast) == list(general)
    for key in fast:
        assert _same(fast[key], general[key]), key


@settings(max_examples=300, deadline=None)
@given(
    records=st.lists(
        st.tuples(MESSAGES, FIELDS, SHARED, SHARED, st.sampled_from([5, 20, 25, 40])),
        min_size=1,
        max_size=6,
    ),
    redact=st.booleans(),
    include=st.sets(st.sampled_from(["pid", "host", "service"])).map(frozenset),
    selector=st.booleans(),
)
def test_the_fast_path_writes_what_the_general_path_writes(
    records: list[
        tuple[object, dict[str, object], Mapping[str, object], Mapping[str, object], int]
    ],
    redact: bool,
    include: frozenset[str],
    selector: bool,
) -> None:
    fast_builder, general_builder = _twins(redact, include, selector)
    time_ns = 1_795_000_000_123_456_789
    for step, (message, fields, bound, context, level) in enumerate(records):
        record: Record = (
            time_ns + step * 1_000_317,
            level,
            "app.orders",
            message,  # type: ignore[arg-type]  # a stray object still logs
            fields,
            bound,
            context,
            None,
            None,
        )
        # Each builder sees each record twice, so the second pass runs on warm caches.
        for _ in range(2):
            fast = fast_builder.build(record)
            general = general_builder._build_general(record)
            _assert_same(fast, general)


def test_a_repeated_record_is_rebuilt_from_warm_caches_the_same_way() -> None:
    builder = EntryBuilder(redactor=Redactor())
    bound = {"strategy": "mm-1", "api_key": "k-1"}
    fields = {"symbol": "BTC-USD", "qty": Decimal("1.50"), "password": "hunter2", "n": 3}
    record: Record = (
        1_795_000_000_000_000_000,
        20,
        "bench",
        "order placed",
        fields,
        bound,
        {},
        None,
        None,
    )
    first = builder.build(record)
    second = builder.build(record)
    assert first == {**second, "seq": 1}
    assert second == {
        "timestamp": "2026-11-18T11:06:40.000000Z",
        "level": "info",
        "logger": "bench",
        "message": "order placed",
        "seq": 2,
        "strategy": "mm-1",
        "api_key": "[REDACTED]",
        "symbol": "BTC-USD",
        "qty": "1.50",
        "password": "[REDACTED]",
        "n": 3,
    }


def test_a_bound_list_changed_after_binding_shows_its_current_value() -> None:
    builder = EntryBuilder(redactor=Redactor())
    tags = ["a"]
    bound = {"tags": tags}
    record: Record = (1_795_000_000_000_000_000, 20, "x", "m", {}, bound, {}, None, None)
    assert builder.build(record)["tags"] == ["a"]
    tags.append("b")
    assert builder.build(record)["tags"] == ["a", "b"]


def test_a_record_that_cannot_be_built_gives_an_entry_saying_so_and_spoils_no_other() -> None:
    builder = EntryBuilder(redactor=Redactor())
    good: Record = (1_795_000_000_000_000_000, 20, "app", "fine", {"n": 1}, {}, {}, None, None)
    # A logger name that is not text: the builder's name check raises on it.
    bad: Record = (1_795_000_000_000_000_000, 40, None, "boom", {}, {}, {}, None, None)  # type: ignore[assignment]
    entries = builder.build_many([good, bad, good])
    assert [entry["message"] for entry in entries] == ["fine", "boom", "fine"]
    assert [entry.get("seq") for entry in entries] == [1, None, 2]
    broken = entries[1]
    assert broken["level"] == "error"
    assert broken["logger"] == "None"
    assert str(broken["tapelog_error"]).startswith("TypeError: ")
    assert broken["timestamp"] == entries[0]["timestamp"]
