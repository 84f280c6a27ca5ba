"""The histogram sketch keeps its promises: bounded relative error, exact merging."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import math
import random
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapelog.metrics import Sketch
from tapelog.metrics._sketch import (
    MAX_SERIALISED,
    PLAIN_MAX,
    _narrow,  # pyright: ignore[reportPrivateUsage]
    bits_layout,
    key_form,
    lanes_of,
    lanes_to_counts,
    log2_multiplier,
    multiplier,
    narrow_mask,
    packed_counts,
    plain_head,
)
from tapelog.metrics._sketch import _blob as varint_blob  # pyright: ignore[reportPrivateUsage]


QUANTILES = (0.0, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)

# Latencies, sizes, prices: positive and negative, tiny and huge, with repeats and zeros.
values = st.one_of(
    st.floats(min_value=1e-9, max_value=1e9, allow_nan=False),
    st.floats(min_value=-1e6, max_value=-1e-6, allow_nan=False),
    st.just(0.0),
    st.integers(min_value=1, max_value=10_000).map(float),
)
samples = st.lists(values, min_size=1, max_size=400)
alphas = st.sampled_from([0.001, 0.01, 0.02, 0.05])


def exact(data: list[float], q: float) -> float:
    ordered = sorted(data)
    return ordered[math.floor(q * (len(ordered) - 1))]


def close(estimate: float | None, truth: float, alpha: float) -> bool:
    assert estimate is not None
    # float rounding at a bucket edge can add a few ulps to the bound
    return abs(estimate - truth) <= alpha * abs(truth) * (1 + 1e-9) + 1e-300


@settings(max_examples=300, deadline=None)
@given(samples, alphas)
def test_every_quantile_is_within_the_stated_relative_error(
    data: list[float], alpha: float
) -> None:
    sketch = Sketch(alpha)
    sketch.update(data)
    for q in QUANTILES:
        assert close(sketch.quantile(q), exact(data, q), alpha), (q, sketch.quantile(q))


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(["lognormal", "pareto", "exponential", "uniform"]),
    st.integers(min_value=0, max_value=2**32),
    st.integers(min_value=1, max_value=5000),
)
def test_random_distributions_stay_within_one_percent(kind: str, seed: int, n: int) -> None:
    import random

    rng = random.Random(seed)
    draw = {
        "lognormal": lambda: rng.lognormvariate(-4, 1.5),
        "pareto": lambda: rng.paretovariate(1.2) / 1000,
        "exponential": lambda: rng.expovariate(100),
        "uniform": lambda: rng.uniform(0.0001, 2.0),
    }[kind]
    data = [draw() for _ in range(n)]
    sketch = Sketch()
    sketch.update(data)
    for q in QUANTILES:
        assert close(sketch.quantile(q), exact(data, q), 0.01)


@settings(max_examples=500, deadline=None)
@given(
    st.floats(min_value=5e-324, max_value=1e300, allow_nan=False, allow_infinity=False),
    alphas,
)
def test_the_log2_bucket_is_the_log_bucket_but_at_an_edge_and_keeps_the_bound(
    value: float, alpha: float
) -> None:
    """The instruments' cheaper bucket (log2) is DDSketch's logarithmic one, or at a bucket's
    very edge its neighbour; either way the bucket's value is within the relative error."""
    by_log = math.ceil(math.log(value) * multiplier(alpha))
    by_log2 = math.ceil(math.log2(value) * log2_multiplier(alpha))
    gamma = (1 + alpha) / (1 - alpha)
    edge = math.log(value) / math.log(gamma)  # an integer when the value sits on an edge
    assert by_log2 == by_log or abs(edge - round(edge)) < 1e-9 * max(1.0, abs(edge))
    sketch = Sketch(alpha)
    sketch.add(value)
    assert list(sketch.positive) == [by_log2]
    assert close(sketch.value_of(by_log2), value, alpha)


@settings(max_examples=200, deadline=None)
@given(st.lists(samples, min_size=1, max_size=5))
def test_merging_sketches_equals_sketching_the_union(parts: list[list[float]]) -> None:
    union = Sketch()
    union.update(v for part in parts for v in part)
    merged = Sketch()
    for part in parts:
        piece = Sketch()
        piece.update(part)
        merged.merge(piece)
    assert merged.positive == union.positive
    assert merged.negative == union.negative
    assert merged.zero_count == union.zero_count
    assert merged.count == union.count
    assert (merged.min, merged.max) == (union.min, union.max)
    assert math.isclose(merged.sum, union.sum, rel_tol=1e-9, abs_tol=1e-6)
    for q in QUANTILES:
        assert merged.quantile(q) == union.quantile(q)


@settings(max_examples=200, deadline=None)
@given(samples)
def test_the_serialised_form_reads_back_to_the_same_quantiles(data: list[float]) -> None:
    sketch = Sketch()
    sketch.update(data)
    form = sketch.to_dict()
    back = Sketch.from_dict(form, low=sketch.min, high=sketch.max)
    assert back.count == len(data)
    assert [back.quantile(q) for q in QUANTILES] == [sketch.quantile(q) for q in QUANTILES]
    assert len(json.dumps(form)) <= MAX_SERIALISED


def walked_quantile(sketch: Sketch, q: float) -> float | None:
    """The quantile by walking the buckets one by one, lowest value first (the reference)."""
    buckets = [(-sketch.value_of(k), c) for k, c in sorted(sketch.negative.items(), reverse=True)]
    buckets += [(0.0, sketch.zero_count)] if sketch.zero_count else []
    buckets += [(sketch.value_of(k), c) for k, c in sorted(sketch.positive.items())]
    total = sum(c for _, c in buckets)
    if not total:
        return None
    rank, seen = math.floor(q * (total - 1)), 0
    for value, count in buckets:
        seen += count
        if seen > rank:
            return min(max(value, sketch.min), sketch.max)
    raise AssertionError("rank past the buckets")


def varints_by_hand(sketch: Sketch) -> bytes:
    """The documented form, one number at a time (the reference for the serialiser)."""
    numbers: list[int] = []
    for bins in (sketch.positive, sketch.negative):
        keys = sorted(bins)
        numbers.append(len(keys))
        for index, key in enumerate(keys):
            step = (key * 2 if key >= 0 else -key * 2 - 1) if index == 0 else key - keys[index - 1]
            numbers += [step, bins[key]]
    out = bytearray()
    for number in numbers:
        rest = number
        while rest >= 0x80:
            out.append(rest & 0x7F | 0x80)
            rest >>= 7
        out.append(rest)
    return bytes(out)


def fixed_by_hand(sketch: Sketch, *, bitmap: bool = True) -> bytes:
    """Format 3 as documented, one number at a time, before its compression byte (the
    reference for the serialiser); ``bitmap`` False: keys as gaps only (when compressed)."""

    def run(numbers: list[int]) -> bytes:
        width = next(w for w in (1, 2, 4, 8) if max(numbers, default=0) < 256**w)
        return bytes((width,)) + b"".join(n.to_bytes(width, "little") for n in numbers)

    sets = [sorted(sketch.positive.items()), sorted(sketch.negative.items())]
    out = struct.pack("<II", *map(len, sets))
    for pairs in sets:
        if not pairs:
            continue
        keys = [key for key, _ in pairs]
        out += struct.pack("<q", keys[0])
        span = keys[-1] - keys[0] + 1
        if bitmap and (span + 7) // 8 < len(keys):  # one bit per key of the span, lowest first
            bitmap = bytearray((span + 7) // 8)
            for key in keys:
                bitmap[(key - keys[0]) // 8] |= 1 << ((key - keys[0]) % 8)
            out += b"\x00" + struct.pack("<I", span) + bytes(bitmap)
        else:
            out += b"\x01" + run([b - a for a, b in itertools.pairwise(keys)])
        out += run([c for _, c in pairs])
    return out


def format_3_bytes(text: str, sketch: Sketch) -> bytes:
    """Format 3's bytes from its text, checked against the reference: plain if they take
    at most PLAIN_MAX bytes with dense keys as bitmaps, else compressed with keys as gaps."""
    data = base64.b64decode(text.removeprefix("3:"), validate=True)
    plain = fixed_by_hand(sketch)
    if len(plain) <= PLAIN_MAX:
        assert data[0] == 0
        return data[1:]
    assert data[0] == 1
    raw = zlib.decompress(data[1:])
    assert raw == fixed_by_hand(sketch, bitmap=False)
    return raw


@settings(max_examples=300, deadline=None)
@given(samples, alphas, st.integers(min_value=1, max_value=2**40))
def test_one_pass_quantiles_and_the_serialiser_equal_their_references(
    data: list[float], alpha: float, weight: int
) -> None:
    """Quantiles by bisection equal the bucket walk; the form's bytes are the documented
    ones (format 3, or format 1's varints where the sketch is too big for format 3);
    ``summary`` is ``quantiles`` and ``to_dict`` together."""
    sketch = Sketch(alpha)
    sketch.update(data)
    sketch.add(data[0], weight)  # counts past one and two varint bytes
    assert sketch.quantiles(QUANTILES) == [walked_quantile(sketch, q) for q in QUANTILES]
    form = sketch.to_dict()
    if "collapsed_below" not in form:
        text = str(form["bins"])
        if text.startswith("3:"):
            format_3_bytes(text, sketch)
        else:
            assert zlib.decompress(base64.b64decode(text)) == varints_by_hand(sketch)
    assert sketch.summary(QUANTILES) == (sketch.quantiles(QUANTILES), sketch.to_dict())
    in_key_order = sketch.copy()  # as a histogram's interval arrives: buckets in key order
    in_key_order.positive = dict(sorted(sketch.positive.items()))
    assert in_key_order.summary(QUANTILES) == sketch.summary(QUANTILES)


def test_a_million_latencies_fit_in_a_small_form_and_bounded_memory() -> None:
    import random

    rng = random.Random(7)
    sketch = Sketch()
    sketch.update(rng.lognormvariate(-5, 1) for _ in range(200_000))
    size_before = sketch.bins
    sketch.update(rng.lognormvariate(-5, 1) for _ in range(200_000))
    assert sketch.bins < 1200  # buckets, not observations
    assert sketch.bins - size_before < 50
    form = sketch.to_dict()
    assert "collapsed_below" not in form
    assert len(json.dumps(form)) <= MAX_SERIALISED


def test_a_too_wide_sketch_folds_its_lowest_buckets_and_says_so() -> None:
    import random

    rng = random.Random(3)
    data = sorted(10 ** rng.uniform(-9, 9) for _ in range(20_000))
    sketch = Sketch(0.001)
    sketch.update(data)
    form = sketch.to_dict()
    assert len(json.dumps(form)) <= MAX_SERIALISED
    low = form["collapsed_below"]
    assert isinstance(low, float)
    # above the fold the bound still holds
    assert exact(data, 0.99) > low
    back = Sketch.from_dict(form)
    assert close(back.quantile(0.99), exact(data, 0.99), 0.001)


def test_bad_forms_and_values_are_refused_with_a_reason() -> None:
    import pytest

    with pytest.raises(ValueError, match="finite"):
        Sketch().add(math.nan)
    with pytest.raises(ValueError, match="relative_error"):
        Sketch(0)
    with pytest.raises(ValueError, match="cannot merge"):
        Sketch(0.01).merge(Sketch(0.02))
    with pytest.raises(ValueError, match="unreadable"):
        Sketch.from_dict({"relative_error": 0.01, "bins": "!!!"})
    assert Sketch().quantile(0.5) is None


@settings(max_examples=200, deadline=None)
@given(samples, alphas, st.integers(min_value=1, max_value=2**70))
def test_both_forms_read_back_to_the_same_buckets(
    data: list[float], alpha: float, weight: int
) -> None:
    """Format 3 (written now) and format 1 (written by earlier versions) of one sketch read
    back to its exact buckets, counts from one to past 2**64 included."""
    sketch = Sketch(alpha)
    sketch.update(data)
    sketch.add(data[-1], weight)
    form = sketch.to_dict()
    layout = sketch._layout()  # pyright: ignore[reportPrivateUsage]
    old = {**form, "bins": varint_blob(layout)}
    new, earlier = Sketch.from_dict(form), Sketch.from_dict(old)
    for back in (new, earlier):
        assert back.positive == sketch.positive
        assert back.negative == sketch.negative
        assert back.zero_count == sketch.zero_count
        assert back.quantiles(QUANTILES) == earlier.quantiles(QUANTILES)


def test_a_form_written_by_the_previous_version_still_reads() -> None:
    """This text was written by the varint serialiser (format 1: plain base64)."""
    form = {
        "mapping": "logarithmic",
        "relative_error": 0.01,
        "zero_count": 4,
        "bins": "eNpjfs3CzMQ4iekEI2MeEwAUcwLH",
    }
    back = Sketch.from_dict(form)
    assert sorted(back.positive.items()) == [(-310, 3), (-308, 1), (-34, 200)]
    assert back.negative == {55: 2}
    assert (back.zero_count, back.count) == (4, 210)


def test_a_form_of_format_2_still_reads() -> None:
    """This text was written by the previous version (format 2: keys as gaps, zlib)."""
    form = {
        "mapping": "logarithmic",
        "relative_error": 0.01,
        "zero_count": 4,
        "bins": "2:SA0lwQERgCAUBbC9DwW0BBGoZUyPUOidbh3B2s+nypmhNwQ3riOmX1IvVAoJkw==",
    }
    back = Sketch.from_dict(form)
    assert sorted(back.positive.items()) == [(-310, 3), (-308, 1), (-34, 200), (5, 70_000)]
    assert back.negative == {55: 2}
    assert (back.zero_count, back.count) == (4, 70_210)


def plain_3(raw: bytes) -> str:
    return "3:" + base64.b64encode(b"\x00" + raw).decode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"bins": "4:eNpjYGBg"}, "unknown sketch bins format '4'"),
        ({"bins": "3:" + base64.b64encode(b"\x07").decode()}, "unknown compression"),
        ({"bins": plain_3(struct.pack("<IIq", 1, 0, 5) + b"\x05")}, "unknown key mode 5"),
        (  # a span of 3 keys whose bitmap holds 2
            {"bins": plain_3(struct.pack("<IIqBI", 3, 0, 5, 0, 3) + b"\x05\x01\x01\x01\x01")},
            "does not match",
        ),
        ({"bins": plain_3(struct.pack("<IIqBI", 3, 0, 5, 0, 3))}, "truncated"),
        (
            {"bins": "2:" + base64.b64encode(zlib.compress(b"\x01\x00\x00\x00")).decode()},
            "truncated",
        ),
        (
            {
                "bins": "2:"
                + base64.b64encode(
                    zlib.compress(struct.pack("<II", 1, 0) + bytes(8) + b"\x03")
                ).decode()
            },
            "unknown integer width 3",
        ),
    ],
)
def test_a_damaged_or_unknown_form_is_refused_with_the_reason(
    change: dict[str, object], message: str
) -> None:
    sketch = Sketch()
    sketch.update([0.001, 0.002, 0.5])
    form = {**sketch.to_dict(), **change}
    with pytest.raises(ValueError, match=message):
        Sketch.from_dict(form)


def draw(name: str, rng: random.Random) -> float:
    if name == "lognormal":
        return rng.lognormvariate(-5, 1)
    if name == "pareto":
        return rng.paretovariate(1.2) / 1000
    if name == "uniform":
        return rng.uniform(0.001, 2.0)
    return rng.expovariate(100)


@pytest.mark.parametrize("name", ["lognormal", "pareto", "uniform", "exponential"])
def test_the_new_form_folds_no_more_than_the_varints_did(name: str) -> None:
    """Across distributions the written form stays within 1.5 KiB, and folds buckets only
    where format 1 would not fit either (the error bound is as wide as before)."""
    rng = random.Random(5)
    sketch = Sketch()
    sketch.update(draw(name, rng) for _ in range(100_000))
    varints = len(varint_blob(sketch._layout()))  # pyright: ignore[reportPrivateUsage]
    form = sketch.copy().to_dict()
    assert len(json.dumps(form)) <= MAX_SERIALISED
    assert ("collapsed_below" in form) == (varints > MAX_SERIALISED - 160)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=-2000, max_value=2000), st.integers(0, 70_000)),
        min_size=1,
        max_size=300,
        unique_by=lambda pair: pair[0],
    )
)
def test_sorted_lists_with_empty_buckets_serialise_as_their_buckets(
    pairs: list[tuple[int, int]],
) -> None:
    """A histogram's interval arrives as the series' sorted keys with a count each, zero for
    a bucket the interval left empty: its quantiles and its form are those of the sketch of
    the non-empty buckets alone, and the empty ones are not read back."""
    pairs.sort()
    keys, counts = [key for key, _ in pairs], [count for _, count in pairs]
    held = {key: count for key, count in pairs if count}
    loaded, plain = Sketch(), Sketch()
    loaded.load_sorted(keys, counts, key_bytes=key_form(keys))
    plain.positive = dict(held)
    assert loaded.bins == plain.bins == len(held)
    assert loaded.quantiles(QUANTILES) == plain.quantiles(QUANTILES)
    form = loaded.to_dict()
    back = Sketch.from_dict(form)
    assert back.positive == held
    assert loaded.positive == held  # the dict, when asked for, has no empty bucket either
    assert back.quantiles(QUANTILES) == Sketch.from_dict(plain.to_dict()).quantiles(QUANTILES)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-3000, max_value=3000),
    st.lists(st.integers(min_value=0, max_value=400), min_size=1, max_size=200, unique=True),
    st.data(),
)
def test_dense_keys_are_written_as_a_bitmap_and_read_back_exactly(
    start: int, offsets: list[int], data: st.DataObject
) -> None:
    """Buckets as a latency histogram has them (most keys of a range held) take one bit
    per key of their span; the form is the documented bytes and reads back exactly."""
    keys = sorted(start + offset for offset in offsets)
    counts = data.draw(st.lists(st.integers(1, 60_000), min_size=len(keys), max_size=len(keys)))
    sketch = Sketch()
    sketch.positive = dict(zip(keys, counts, strict=True))
    sketch.negative = dict(zip(keys[::2], counts[::2], strict=True))
    form = sketch.to_dict()
    raw = format_3_bytes(str(form["bins"]), sketch)
    dense = (keys[-1] - keys[0] + 8) // 8 < len(keys) and len(fixed_by_hand(sketch)) <= PLAIN_MAX
    assert raw[16] == (0 if dense else 1)  # the positive keys' mode byte
    back = Sketch.from_dict(form)
    assert (back.positive, back.negative) == (sketch.positive, sketch.negative)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(min_value=-3000, max_value=3000),
    st.lists(st.integers(min_value=0, max_value=900), min_size=1, max_size=400, unique=True),
)
def test_what_a_series_keeps_of_its_keys_is_worked_out_alike_in_one_call(
    start: int, offsets: list[int]
) -> None:
    """A histogram works out what depends on its keys alone from its window's bitmap
    (``bits_layout``) each time it meets new buckets: the keys' form and the plain form's
    head are those of the keys as a list, dense keys (a bitmap) or sparse ones (gaps),
    short and past the plain form's limit; the lanes' mask catches a count past 255."""
    keys = sorted(start + offset for offset in offsets)
    form = key_form(keys)
    expected = (form, plain_head(len(keys), form), narrow_mask(len(keys)))
    bits = sum(1 << (key - keys[0]) for key in keys)
    assert (*bits_layout(keys[0], bits), narrow_mask(len(keys))) == expected
    assert key_form(keys, bits=bits) == form
    lanes = lanes_of([255] * len(keys))
    assert not lanes & expected[2]
    assert lanes_of([256] * len(keys)) & expected[2]


def test_a_reader_of_the_varints_alone_refuses_the_new_form_rather_than_misread_it() -> None:
    """Earlier versions base64-decode ``bins`` strictly: format 3's ``3:`` stops them (and
    a reader of formats 1 and 2 refuses format 3 by its number)."""
    sketch = Sketch()
    sketch.update([0.001, 0.002, 0.5])
    text = str(sketch.to_dict()["bins"])
    assert text.startswith("3:")
    with pytest.raises(binascii.Error):
        base64.b64decode(text, validate=True)


counts_of_any_width = st.lists(
    st.one_of(
        st.integers(0, 255),
        st.integers(0, 70_000),
        st.integers(0, 2**40),
        st.integers(0, 2**64 - 1),
    ),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(counts_of_any_width, st.data())
def test_counts_subtracted_as_lanes_are_the_counts_subtracted_and_pack_as_format_3(
    before: list[int], data: st.DataObject
) -> None:
    """A histogram keeps its last counts as 64-bit lanes of one integer and takes an
    interval as one subtraction: for counts that only grew, every lane is the difference of
    its counts (no borrow crosses a lane), and it packs as format 3 packs the list."""
    grown = [
        count + data.draw(st.integers(0, 2**64 - 1 - count), label="added") for count in before
    ]
    assert list(lanes_to_counts(lanes_of(before), len(before))) == before
    added, packed = packed_counts(lanes_of(grown) - lanes_of(before), len(grown))
    assert list(added) == [now - then for now, then in zip(grown, before, strict=True)]
    assert packed == _narrow(list(added))
    with pytest.raises(OverflowError):
        lanes_of([2**64])
