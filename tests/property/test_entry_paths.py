"""The entry builder's fast path writes exactly what its general path writes.

``EntryBuilder.build`` takes a shortcut for the common record (plain keys, plain values,
a message seen before, bound fields cleaned once). These properties build every
generated record twice, once through ``build`` and once through the general path on a
twin builder, and require the same entry, key order included.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, cast
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.property.test_secrets_everywhere import FORMATS

from tapelog._entry import EntryBuilder
from tapelog.formats import JsonFormat
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
# The fast path's own ground: keys it takes as they are (and one sensitive name), values
# at the edges of what it copies unchanged (non-finite floats, ints past 64 bits, text
# the redactor or the encoder must change, subclasses of plain types, odd objects).
PLAIN_KEYS = st.sampled_from(["symbol", "qty", "price", "order_id", "attempt", "token"])
EDGES = st.sampled_from(
    [
        math.nan,
        math.inf,
        -math.inf,
        -0.0,
        2**63 - 1,
        2**64,
        2**64 - 1,
        -(2**63),
        -(2**63) - 1,
        2**61,  # around the machine-sized ints the compiled json_lines tests first
        2**61 + 1,
        -(2**61) - 1,
        True,
        "password=hunter2",
        "Bearer abc.def",
        "caf\u00e9",
        "\ud800",
        b"raw",
        Decimal("1.50"),
        frozenset({1}),
        object,
    ]
)
PLAIN_FIELDS = st.dictionaries(PLAIN_KEYS, st.one_of(EDGES, VALUES), max_size=6)


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
    twin = EntryBuilder(redactor=Redactor())
    assert twin.json_lines([good, bad, good]) == JsonFormat().batch(entries)
    assert [entry["message"] for entry in entries] == ["fine", "boom", "fine"]
    assert [entry.get("seq") for entry in entries] == [1, None, 2]
    broken = entries[1]
    assert broken["level"] == "error"
    assert broken["logger"] == "None"
    assert str(broken["tapelog_error"]).startswith("TypeError: ")
    assert broken["timestamp"] == entries[0]["timestamp"]


# Every output: json, logfmt, console (plain and coloured), RFC 5424 (both bodies) and,
# with the otlp extra installed, OTLP.
OUTPUTS = [
    (name, write)
    for name, write in FORMATS
    if name != "otlp" or importlib.util.find_spec("opentelemetry.proto") is not None
]


@st.composite
def batches(draw: st.DrawFn) -> list[Record]:
    """A worker's batch: records of a few loggers (mostly on the fast path's ground),
    repeated, so that later records find what earlier ones left in the caches (the last
    logger's template, the millisecond's stem, cached texts); it crosses a second."""
    records = draw(
        st.lists(
            st.tuples(
                st.one_of(TEXTS, MESSAGES),
                st.one_of(PLAIN_FIELDS, PLAIN_FIELDS, FIELDS),
                st.one_of(st.just({}), PLAIN_FIELDS, SHARED),
                st.one_of(st.just({}), PLAIN_FIELDS.map(MappingProxyType), SHARED),
                st.sampled_from([5, 20, 25, 40]),
                st.sampled_from(["app.orders", "app", "bad name\n"]),
            ),
            min_size=1,
            max_size=8,
        )
    )
    repeats = draw(st.integers(min_value=2, max_value=3))
    time_ns = 1_795_000_000_999_000_000
    return [
        (time_ns + step * 250_013, level, name, message, fields, bound, context, None, None)
        for step, (message, fields, bound, context, level, name) in enumerate(records * repeats)
    ]


BUILDERS = st.tuples(
    st.booleans(),
    st.sets(st.sampled_from(["pid", "host", "service"])).map(frozenset),
    st.booleans(),
)
"""Twin builders' options: redaction on, the optional fields included, a selector."""


@settings(max_examples=100, deadline=None)
@given(batch=batches(), options=BUILDERS)
def test_a_batch_through_the_fast_path_is_written_as_the_general_path_writes_it(
    batch: list[Record], options: tuple[bool, frozenset[str], bool]
) -> None:
    """The worker's way, whole batches through ``build_many``; every format writes the
    same bytes for an entry from the fast path as for the general path's."""
    fast_builder, general_builder = _twins(*options)
    for _ in range(2):  # cold caches, then warm ones
        built = fast_builder.build_many(batch)
        for fast, record in zip(built, batch, strict=True):
            general = general_builder._build_general(record)
            _assert_same(fast, general)
            for name, formatter in OUTPUTS:
                assert formatter(fast) == formatter(general), name


@settings(max_examples=150, deadline=None)
@given(batch=batches(), options=BUILDERS)
def test_json_lines_spliced_from_bytes_are_the_lines_of_the_built_entries(
    batch: list[Record], options: tuple[bool, frozenset[str], bool]
) -> None:
    """``json_lines`` (the JSON file sink's way, no entries) writes byte for byte what
    ``JsonFormat().batch`` writes for the entries ``build_many`` builds, ``seq`` included,
    whichever records take the spliced way and whichever the general one."""
    lines_builder, entries_builder = _twins(*options)
    for _ in range(2):  # cold caches, then warm ones
        lines = lines_builder.json_lines(batch)
        expected = JsonFormat().batch(entries_builder.build_many(batch))
        assert lines.splitlines() == expected.splitlines()
    assert lines_builder.seq.value == entries_builder.seq.value


@pytest.mark.parametrize(
    ("fields", "bound"),
    [
        ({"qty": math.nan}, {}),
        ({"qty": -math.inf, "n": 2**64}, {"venue": "X"}),
        ({"venue": "Y", "qty": 1.0}, {"venue": "X"}),  # replaces the bound field in place
        ({"token": "t-1", "qty": 1}, {}),  # a sensitive name
        ({"note": "password=hunter2"}, {}),  # a secret in the text
        ({"note": "line\u2028two", "who": "caf\u00e9"}, {}),
        ({"qty": Decimal("1.5"), "flag": True, "none": None}, {}),
        ({"seq": 1, "a-b": 2}, {}),  # kept aside, sanitised
        ({}, {"strategy": "mm-1"}),
        ({}, {}),
        (MappingProxyType({"qty": 1}), {}),  # a mapping that is not a dict
    ],
)
def test_json_lines_at_the_edges_of_the_spliced_way(
    fields: Mapping[str, object], bound: dict[str, object]
) -> None:
    """Each record three times (cold, then warm caches), against the built entries."""
    lines_builder, entries_builder = _twins(redact=True, include=frozenset({"pid"}), selector=False)
    record: Record = (1_795_000_000_000_000_000, 20, "app", "m", fields, bound, {}, None, None)
    batch = [record] * 3
    assert lines_builder.json_lines(batch) == JsonFormat().batch(entries_builder.build_many(batch))


def test_a_text_seen_first_as_a_message_is_written_as_a_field_would_be() -> None:
    """A message keeps lone surrogates until it is made safe; the same text as a field
    value is escaped first. The text cache the two share must not carry the message's raw
    form over to the field (the fast path took a cached text as clean)."""
    lone = "\ud800 lone"
    fast, general = _twins(redact=True, include=frozenset(), selector=False)
    lines, _ = _twins(redact=True, include=frozenset(), selector=False)
    first: Record = (1_795_000_000_000_000_000, 20, "app", lone, {}, {}, {}, None, None)
    second: Record = (1_795_000_000_000_000_000, 20, "app", "m", {"note": lone}, {}, {}, None, None)
    built = fast.build_many([first, second, second])
    for entry, record in zip(built, [first, second, second], strict=True):
        _assert_same(entry, general._build_general(record))
    assert lines.json_lines([first, second, second]) == JsonFormat().batch(built)
    assert built[1]["note"] == "\\ud800 lone"


def test_a_long_run_for_the_general_way_sends_the_rest_of_the_batch_there_in_order() -> None:
    """After a run of records the spliced way cannot take, ``json_lines`` stops trying
    for the rest of the batch; the lines and ``seq`` numbers stay those of the entries."""
    lines_builder, entries_builder = _twins(redact=True, include=frozenset(), selector=False)
    when = 1_795_000_000_000_000_000

    def record(step: int, fields: dict[str, object]) -> Record:
        return (when + step * 1_000_003, 20, "app", "m", fields, {}, {}, None, None)

    batch = [record(i, {"event": "order.placed", "n": i}) for i in range(40)]
    batch += [record(40 + i, {"n": i, "note": f"plain {i}"}) for i in range(5)]
    batch = [record(100, {"n": -1}), *batch, *batch[-5:]]  # a spliced line first and last
    for _ in range(2):
        assert lines_builder.json_lines(batch) == JsonFormat().batch(
            entries_builder.build_many(batch)
        )
    assert lines_builder.seq.value == entries_builder.seq.value == 2 * len(batch)


def _in_pairs(batch: list[Record], slots: frozenset[int]) -> list[Record]:
    """The batch with the mappings of ``slots`` (4 call, 5 bound, 6 context fields) as
    pairs, as loggers hand them over: one tuple per mapping, shared by the records that
    share the mapping (a logger's bound fields, a request's context)."""
    made: dict[int, object] = {}

    def pairs(mapping: object) -> object:
        if not isinstance(mapping, dict | MappingProxyType):
            return mapping
        items = cast("Mapping[str, object]", mapping).items()
        return made.setdefault(id(mapping), tuple(items))

    return [
        cast("Record", tuple(pairs(item) if slot in slots else item for slot, item in enumerate(r)))
        for r in batch
    ]


@settings(max_examples=150, deadline=None)
@given(
    batch=batches(),
    options=BUILDERS,
    slots=st.sets(st.sampled_from([4, 5, 6]), min_size=1).map(frozenset),
)
def test_records_holding_pairs_are_written_as_records_holding_mappings(
    batch: list[Record], options: tuple[bool, frozenset[str], bool], slots: frozenset[int]
) -> None:
    """Loggers hand bound fields and the context over as pairs (and domain APIs their
    call fields): every way of the builder writes for such a record the bytes it writes
    for the same record holding mappings, ``seq`` included, cold caches and warm."""
    paired = _in_pairs(batch, slots)
    mapped_lines, paired_lines = _twins(*options)
    mapped_entries, paired_entries = _twins(*options)
    mapped_general, paired_general = _twins(*options)
    for _ in range(2):
        assert paired_lines.json_lines(paired) == mapped_lines.json_lines(batch)
        formatter = JsonFormat().batch
        assert formatter(paired_entries.build_many(paired)) == formatter(
            mapped_entries.build_many(batch)
        )
        for mapped_record, paired_record in zip(batch, paired, strict=True):
            _assert_same(
                paired_general._build_general(paired_record),
                mapped_general._build_general(mapped_record),
            )
    assert paired_lines.seq.value == mapped_lines.seq.value


class _Venue(StrEnum):
    BTC = "BTC-USD"


class _Qty(float, Enum):
    ONE_HALF = 1.5


class _Attempt(IntEnum):
    THIRD = 3


class _Text(str):
    __slots__ = ()


class _Real(float):
    pass


class _Whole(int):
    pass


# Call fields of plain values only, as most loggers pass them: ``json_lines`` encodes such
# a batch's call fields with one ``orjson.dumps`` and splits it at the records' borders.
# Its edges: values the cleaning changes (one sends the batch the per-record way), text
# holding the border itself, keys the spliced way does not take, empty call fields.
SCALAR_EDGES = st.sampled_from(
    [
        math.nan,
        math.inf,
        2**64,
        -(2**63) - 1,
        2**64 - 1,
        -(2**63),
        "},{",
        'a"},{"b',
        "password=hunter2",
        "caf\u00e9",
        "\ud800",
        "line\u2028break",
        True,
        None,
    ]
)
SCALARS = st.one_of(
    st.sampled_from(["BTC-USD", "a1b2c3", "mm-1", ""]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.booleans(),
    st.none(),
)
SCALAR_FIELDS = st.dictionaries(
    st.sampled_from(["symbol", "qty", "price", "order_id", "attempt"]), SCALARS, max_size=5
)
ODD_FIELDS = st.dictionaries(
    st.sampled_from(["symbol", "qty", "token", "event", "strategy", "a-b"]),
    st.one_of(SCALARS, SCALAR_EDGES),
    max_size=3,
)


@st.composite
def scalar_batches(draw: st.DrawFn) -> list[Record]:
    """Batches whose call fields hold plain values; a few records carry an edge."""
    bound = draw(st.sampled_from([{}, {"strategy": "mm-1", "venue": "X"}]))
    records = draw(
        st.lists(
            st.tuples(
                st.one_of(SCALAR_FIELDS, SCALAR_FIELDS, SCALAR_FIELDS, ODD_FIELDS, st.just(())),
                st.sampled_from(["order placed", "m", "caf\u00e9 \u2028"]),
                st.sampled_from([bound, {}]),
                st.sampled_from([20, 30]),
            ),
            min_size=1,
            max_size=12,
        )
    )
    time_ns = 1_795_000_000_999_000_000
    return [
        (time_ns + step * 250_013, level, "app", message, fields, shared, (), None, None)
        for step, (fields, message, shared, level) in enumerate(records * 2)
    ]


@settings(max_examples=200, deadline=None)
@given(batch=scalar_batches(), options=BUILDERS)
def test_json_lines_of_call_fields_encoded_at_once_are_the_lines_of_the_built_entries(
    batch: list[Record], options: tuple[bool, frozenset[str], bool]
) -> None:
    """A batch whose call fields are encoded by one ``orjson.dumps`` (or, at an edge, the
    per-record way) gives byte for byte the lines of the built entries, ``seq`` included."""
    lines_builder, entries_builder = _twins(*options)
    for _ in range(2):  # cold caches, then warm ones
        lines = lines_builder.json_lines(batch)
        assert lines == JsonFormat().batch(entries_builder.build_many(batch))
    assert lines_builder.seq.value == entries_builder.seq.value


@pytest.mark.parametrize(
    "odd",
    [
        {"note": "},{"},  # the border between two records' fields, inside a text
        {"qty": math.nan},
        {"n": 2**64},
        {"note": "password=hunter2"},
        {"note": "\ud800"},
        {"token": "t-1"},  # a sensitive key: that record the general way
        {"event": "order.placed"},
        {"qty": Decimal("1.5")},
        (("symbol", "pairs"),),
        # Equal to the plain records' values (a set of distinct values merges them):
        {"symbol": _Venue.BTC, "qty": _Qty.ONE_HALF, "attempt": _Attempt.THIRD},
        {"symbol": _Text("BTC-USD"), "qty": _Real(1.5), "attempt": _Whole(3)},
        {"when": datetime(2026, 12, 7, tzinfo=UTC), "id": UUID(int=3)},
        {"tags": ("password=hunter2",)},  # hashable, and cleaned inside
    ],
)
@pytest.mark.parametrize("where", [0, 2])
def test_one_odd_record_in_a_batch_of_plain_ones_changes_no_other_line(
    odd: Mapping[str, object], where: int
) -> None:
    """The benchmark's records around one that the batch's one-call encoding cannot take."""
    lines_builder, entries_builder = _twins(redact=True, include=frozenset(), selector=False)
    when = 1_795_000_000_000_000_000
    bound = {"strategy": "mm-1", "account": "ACC-1", "venue": "SIMX"}

    def record(step: int, fields: object) -> Record:
        return cast(
            "Record",
            (when + step * 777_777, 20, "bench", "order placed", fields, bound, (), None, None),
        )

    plain = {"symbol": "BTC-USD", "qty": 1.5, "price": 64000.25, "order_id": "a1b2c3", "attempt": 3}
    batch = [record(step, dict(plain)) for step in range(5)]
    batch.insert(where, record(9, odd))
    batch.append(record(10, {}))
    for _ in range(2):
        assert lines_builder.json_lines(batch) == JsonFormat().batch(
            entries_builder.build_many(batch)
        )


def test_a_record_with_an_exception_amid_a_run_of_one_call_site_keeps_its_error() -> None:
    """Records of one call site and logger in a row are spliced from what the first one
    found; one of them carrying an exception (or meta) is still built the general way."""
    lines_builder, entries_builder = _twins(redact=True, include=frozenset(), selector=False)
    when = 1_795_000_000_000_000_000
    bound = {"strategy": "mm-1"}
    try:
        raise ValueError("boom")
    except ValueError:
        exc = sys.exc_info()
    fields = {"symbol": "BTC-USD", "qty": 1.5}
    batch: list[Record] = [
        (when + step * 1_000, 20, "app", "m", dict(fields), bound, (), None, None)
        for step in range(4)
    ]
    batch.insert(2, (when + 1_500, 20, "app", "m", dict(fields), bound, (), exc, None))
    batch.insert(4, (when + 2_500, 20, "app", "m", dict(fields), bound, (), None, {"thread": "t"}))
    for _ in range(2):
        lines = lines_builder.json_lines(batch)
        assert lines == JsonFormat().batch(entries_builder.build_many(batch))
    assert b'"error":{"type":"ValueError"' in lines
