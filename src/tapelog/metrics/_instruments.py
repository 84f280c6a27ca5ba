"""The instruments: what a caller pays for, and the series they feed.

The caller's side is two dictionary lookups and a few additions, with no lock. Each series
keeps one *shard* per thread (in ``shards``, by ``threading.get_ident()``), written only by
its own thread, so under the GIL no update is lost however many threads record at once.
A thread finds its shards through a table of its own (a ``threading.local``) keyed by the
call's name and attributes as written: one lookup instead of three (the series, the thread,
its shard). The first call per thread and attribute set takes the slow path (names and
units checked, the series found or created, the shard registered); a thread id the system
reuses after a thread ended continues that thread's shard, so nothing is dropped.

The shards hold cumulative state; the reporter reads them (a slice of a list, a
``dict.copy``: one C call each, atomic under the GIL) and works out an interval's numbers
as the difference from its previous reading, so it never has to reset what a caller may be
writing. Only an interval's min and max are reset by the reader; an observation racing
that reset may count toward the neighbouring interval's min or max, never toward anything
else.

Memory is bounded whatever the number of observations: a histogram shard holds a list of
counts over about 14 decades of buckets around its first positive value (1,664 slots at
1%, about 13 KB), one counter per logarithmic bucket outside it; a counter shard one number.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import re
import sys
import threading
import time
from array import array as _array
from binascii import b2a_base64 as _b64
from bisect import bisect_right as _bisect
from itertools import accumulate, compress, repeat
from operator import sub
from typing import (
    TYPE_CHECKING,
    Any,
    Final,
    Literal,
    ParamSpec,
    Self,
    TypeAlias,
    TypeVar,
    cast,
    overload,
)

from tapelog.metrics._sketch import (
    DEFAULT_RELATIVE_ERROR,
    FORMAT_3,
    Sketch,
    bits_layout,
    counts_form,
    key_form,
    lanes_of,
    lanes_to_counts,
    log2_multiplier,
    narrow_mask,
    packed_counts,
    plain_form,
    value_constants,
)


if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from types import TracebackType


__all__ = [
    "AttributeValue",
    "Counter",
    "Gauge",
    "Histogram",
    "Kind",
    "Timer",
    "gauge",
    "increment",
    "observe",
    "registry",
    "timer",
]

AttributeValue: TypeAlias = "str | int | float | bool"
Kind: TypeAlias = Literal["histogram", "counter", "gauge"]
P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

_NAME: Final = re.compile(r"[a-z][a-z0-9_]*(\.[a-z0-9_]+)*\Z")
_get_ident: Final = threading.get_ident
# log2, not log: math.log takes an optional base, so CPython calls it with an argument
# tuple; log2 takes one argument and costs half. ceil(log2(x) * m / ln 2) is the same
# bucket as ceil(log(x) * m) but at a bucket's very edge, where float rounding decides
# either way and both buckets' values are within the relative error (a property test).
_log2: Final = math.log2
_ceil: Final = math.ceil
_INF: Final = math.inf
_clock: Final = time.perf_counter
_exp: Final = math.exp
_LITTLE: Final = sys.byteorder == "little"
_DENSE_ORDERS: Final = 48
"""Binary orders of magnitude a shard's list of counts spans (about 14 decades)."""
_DENSE_MOST: Final = 4096
"""Keys a shard's list holds at most (a finer relative error spans fewer orders)."""
_NO_COUNTS: Final[list[int]] = []  # a shard's before its first positive value: never written
_HOLE: Final = 255  # a hole's byte when the written counts are taken from a window's
_NONZERO: Final = bytes([0] + [1] * 255)  # translate: a byte per key, 1 where it has counts
_ABSENT: Final = bytes([1] + [0] * 255)  # translate: 1 where a key has none
_DIGITS: Final = bytes.maketrans(b"\x00\x01", b"01")


def dense_size(factor: float) -> int:
    """How many keys a shard's list of counts holds, for a series' ``factor``."""
    return min(_DENSE_MOST, _ceil(_DENSE_ORDERS * factor))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"a metric name is lowercase dotted words (http.client.request.duration), not {name!r}"
        )
    return name


def _clean_attributes(attributes: Mapping[str, object]) -> dict[str, AttributeValue]:
    clean: dict[str, AttributeValue] = {}
    for key, value in sorted(attributes.items()):
        if isinstance(value, str | bool | int) or (
            isinstance(value, float) and math.isfinite(value)
        ):
            clean[key] = value
        else:
            clean[key] = str(value)
    return clean


def _call_key(name: str, attributes: Mapping[str, object]) -> object:
    """A series' key as called: the name, then the attributes in the order written.

    The instruments build it inline (the same expression) to save a call.
    """
    return (name, tuple(attributes.items())) if attributes else name


def _own(shards: dict[int, S], make: Callable[[], S]) -> S:
    """The calling thread's shard in ``shards``, created if new."""
    ident = _get_ident()
    found = shards.get(ident)
    if found is None:
        found = shards[ident] = make()
    return found


class _Series:
    """What every series has: its identity and when it started."""

    __slots__ = ("attributes", "name", "start_ns", "unit")

    kind: Kind

    def __init__(self, name: str, unit: str, attributes: dict[str, AttributeValue]) -> None:
        self.name = name
        self.unit = unit
        self.attributes = attributes
        self.start_ns = time.time_ns()


class _HistogramShard:
    """One thread's part of a histogram; ``factor`` maps a value's log2 to its bucket.

    Positive buckets are counted in ``counts``, a list over a fixed range of keys from
    ``offset`` (about 14 decades, centred on the shard's first positive value: made by
    ``far`` then), so the reporter reads the keys it needs as one slice, in key order: no
    lookup per bucket, no permutation, and a new bucket changes nothing in the layout (a
    list, not an ``array``: its subscripts are the interpreter's fast ones, the caller's
    cost). Buckets outside that range go to ``positive``.
    """

    __slots__ = ("counts", "factor", "max", "min", "negative", "offset", "positive", "sum", "zero")

    def __init__(self, factor: float) -> None:
        self.factor = factor
        self.counts: list[int] = _NO_COUNTS
        self.offset = 0
        self.positive: dict[int, int] = {}
        self.negative: dict[int, int] = {}
        self.zero = 0
        self.sum = 0.0
        self.min = _INF
        self.max = -_INF

    def far(self, bucket: int) -> None:
        """The slow path of a positive value's ``bucket`` outside ``counts``.

        The first makes ``counts`` around it; later ones are counted in ``positive``.
        """
        if self.counts:
            self.positive[bucket] = self.positive.get(bucket, 0) + 1
            return
        size = dense_size(self.factor)
        counts = [0] * size
        self.offset = offset = bucket - size // 2
        counts[bucket - offset] = 1
        self.counts = counts  # set after the offset: a reader takes counts, then the offset

    def buckets(self) -> dict[int, int]:
        """Every positive bucket with a count, as a dict (keys ascending up to the far ones)."""
        counts = self.counts[:]  # one C copy, taken before the offset (see ``far``)
        offset = self.offset
        # The keys with counts lie within a few hundred of the list's thousands: where
        # they start and end found first (C steps, stopping at the first count from each end).
        size = len(counts)
        start = next(compress(range(size), counts), size)
        end = size - next(compress(range(size), reversed(counts)), size)
        counts = counts[start:end]
        offset += start
        found = dict(
            zip(
                compress(range(offset, offset + len(counts)), counts),
                filter(None, counts),
                strict=True,
            )
        )
        if self.positive:
            found.update(self.positive.copy())  # keys outside ``counts``: no overlap
        return found

    def other(self, value: float) -> None:
        """The slow path: zero, negative, and values a histogram refuses."""
        if value == 0.0:
            self.zero += 1
        elif value < 0.0 and value > -_INF:
            key = _ceil(_log2(-value) * self.factor)
            self.negative[key] = self.negative.get(key, 0) + 1
        else:
            raise ValueError(f"a histogram takes finite numbers, not {value!r}")


class _CounterShard:
    """One thread's part of a counter."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: float = 0


def _added(mine: dict[int, int], theirs: dict[int, int]) -> None:
    for key, count in theirs.items():
        mine[key] = mine.get(key, 0) + count


def _since(now: dict[int, int], before: dict[int, int], keys: list[int]) -> dict[int, int]:
    """The buckets' counts added since ``before``, in the order of ``keys``.

    The keys come sorted, so the sketch's later sort of the result is a single pass.
    """
    then = before.get
    return {key: added for key in keys if (added := now[key] - then(key, 0))}


class Histogram(_Series):
    """One histogram series: a name, a unit and one set of attribute values.

    While one thread records it (most series), an interval is worked out with no lookup
    and no Python step per bucket: the shard's counts over the series' *window* (the keys
    from its least to its greatest bucket seen) as one slice of its list, read as 64-bit
    lanes of one integer, less the last commit's lanes (one subtraction), unpacked by a
    strided slice of the bytes. Keys inside the window never seen (``holes``) are dropped
    from what is written by one ``bytes.translate``. A series recorded by several
    threads (or with values outside a shard's list, zero or negative) merges the shards'
    buckets into a dict and looks each one up; it stays on that path.
    """

    __slots__ = (
        "before_count",
        "before_negative",
        "before_positive",
        "before_sum",
        "before_zero",
        "factor",
        "first",
        "held",
        "holes",
        "key_bytes",
        "keys",
        "lanes",
        "per_log",
        "plain_head",
        "present",
        "relative_error",
        "scale",
        "shards",
        "size",
        "total_max",
        "total_min",
        "wide",
        "width",
    )
    kind: Kind = "histogram"

    def __init__(
        self,
        name: str,
        unit: str,
        attributes: dict[str, AttributeValue],
        relative_error: float,
    ) -> None:
        super().__init__(name, unit, attributes)
        self.relative_error = relative_error
        self.factor = log2_multiplier(relative_error)
        self.per_log, self.scale = value_constants(relative_error)
        self.shards: dict[int, _HistogramShard] = {}
        # One thread's series (``lanes`` not None): the window and what depends on its keys.
        self.lanes: int | None = 0
        """The last commit's counts over the window, one 64-bit lane each; None once the
        series takes the general path."""
        self.first = 0
        """The window's first key."""
        self.width = 0
        """How many keys the window spans (0: no window yet)."""
        self.present = b""
        """A byte per key of the window: 1 for a key with counts (what an interval writes)."""
        self.held = 0
        """The same bytes as an integer (the first key lowest)."""
        self.holes = 0
        """The window's keys without counts, as an integer of a byte per key: 255 for each."""
        self.size = 0
        """How many keys of the window have counts."""
        self.key_bytes = b""
        """``key_form`` of the keys written (``keys`` on the general path)."""
        self.plain_head: bytes | None = None
        """``plain_head`` of them: the plain form of one-byte counts, up to the counts."""
        self.wide = 0
        """``narrow_mask`` of the window: lanes' bits that only a count past 255 sets."""
        # The general path.
        self.keys: list[int] = []
        """The positive buckets' keys seen so far, sorted."""
        self.before_positive: dict[int, int] = {}
        """The last commit's positive counts when ``lanes`` is None."""
        self.before_negative: dict[int, int] = {}
        self.before_zero = 0
        self.before_count = 0
        self.before_sum = 0.0
        self.total_min: float = _INF
        self.total_max: float = -_INF

    def shard(self) -> _HistogramShard:
        """The calling thread's shard, created if new."""
        return _own(self.shards, functools.partial(_HistogramShard, self.factor))

    def read(self, *, commit: bool, cumulative: bool = False) -> Sketch:
        """The observations since the last commit (or, ``cumulative``, all of them).

        With ``commit`` the interval ends here: the next read starts a new one. A series
        one thread records, positive values within its list, takes its positive buckets from
        the window (``_read_window``); otherwise the general path: the shards' buckets
        merged as dicts, and from then on the series keeps its last commit as a dict.
        """
        shards = list(self.shards.values())
        low, high = _INF, -_INF
        negative: dict[int, int] = {}
        zero, total_sum = 0, 0.0
        for shard in shards:
            if shard.negative:
                _added(negative, shard.negative.copy())
            zero += shard.zero
            total_sum += shard.sum
            low, high = min(low, shard.min), max(high, shard.max)
            if commit:
                shard.min, shard.max = _INF, -_INF
        interval = Sketch(self.relative_error)
        window = self._read_window(shards, commit=commit)
        merged: dict[int, int] = {}
        if window is None:
            merged, counts, added = self._merged(shards)
            keys = self.keys
        else:
            keys, counts, added = window
        if added.count(0) * 2 <= len(added):  # empty buckets cost less written than left out
            interval.load_sorted(keys, added, key_bytes=self.key_bytes)
        else:
            interval.load_sorted(list(compress(keys, added)), list(filter(None, added)))
        interval.negative = _since(negative, self.before_negative, sorted(negative))
        interval.zero_count = zero - self.before_zero
        interval.count = interval.zero_count + sum(added) + sum(interval.negative.values())
        interval.sum = total_sum - self.before_sum
        if interval.count and low <= high:
            interval.min, interval.max = low, high
        elif interval.count:  # the reset raced a recording: fall back on the buckets
            interval.min = interval.quantile(0.0) or 0.0
            interval.max = interval.quantile(1.0) or 0.0
        total_min = min(self.total_min, interval.min)
        total_max = max(self.total_max, interval.max)
        total_count = self.before_count + interval.count
        if commit:
            if window is None:
                self.before_positive = merged
            self.before_negative, self.before_zero = negative, zero
            self.before_count, self.before_sum = total_count, total_sum
            self.total_min, self.total_max = total_min, total_max
        if not cumulative:
            return interval
        total = Sketch(self.relative_error)
        total.load_sorted(keys, counts, key_bytes=self.key_bytes)
        total.negative, total.zero_count = negative, zero
        total.count, total.sum, total.min, total.max = total_count, total_sum, total_min, total_max
        return total

    def interval_summary(
        self, qs: Sequence[float], *, commit: bool
    ) -> tuple[int, float, float, float, list[float], dict[str, object]] | None:
        """The delta interval as ``(count, sum, min, max, quantiles, to_dict())``.

        What ``read()`` then ``Sketch.summary`` give, in one pass and without a sketch, for
        the common case: one thread recording, positive values within its shard's list.
        None when that is not the case (nothing is read or committed then): the caller uses
        ``read()``, and the series stays on that path.

        It runs once per series each interval, on code and data the application's work
        has taken out of the processor's caches, so it is written out in one function (no
        helper call per step) with what depends only on the keys worked out when the window
        meets new ones (``_lay_out``): the commonest interval, every count below 256 and
        the plain form, takes one slice of the list, the lanes, one running total, five
        bisections, one ``translate`` and one base64 encoding.
        """
        shards = list(self.shards.values())
        before = self.lanes
        if len(shards) != 1 or before is None or not _LITTLE:
            return None
        shard = shards[0]
        # min and max first, reset, then the counts: a recording whose bucket the counts
        # miss sets min after the reset, so min still infinite means nothing new since, and
        # the next round's window reaches any bucket this one's did not. Nothing between
        # the read and the reset calls a function (no switch of threads in between).
        low, high, total_sum = shard.min, shard.max, shard.sum
        if shard.positive or shard.negative or shard.zero:
            return None
        if low == _INF:  # nothing recorded since the last commit: nothing to read
            return 0, 0.0, low, high, [], {}
        if not 0.0 < low <= high:  # the reset raced a recording: read() takes it
            return None
        if commit:
            shard.min, shard.max = _INF, -_INF
        counts, offset = shard.counts, shard.offset  # counts first (see ``far``)
        factor = self.factor
        lowest, highest = _ceil(_log2(low) * factor), _ceil(_log2(high) * factor)
        first, width = self.first, self.width
        moved = not width or lowest < first or highest >= first + width
        if moved:  # the window reaches further: the last commit's lanes moved up if below
            end = highest + 1 if not width else max(highest + 1, first + width)
            start = lowest if not width else min(lowest, first)
            before <<= 64 * (first - start) if width else 0
            first, width = start, end - start
        start = first - offset
        if start < 0 or start + width > len(counts):  # not while ``positive`` is empty
            if commit:
                shard.min, shard.max = min(low, shard.min), max(high, shard.max)
            return None
        try:
            # lanes_of, written out (a call costs microseconds on a round's cold caches)
            lanes = int.from_bytes(_array("Q", counts[start : start + width]), "little")
        except OverflowError:  # a count of 2**64 or more: read() takes it (min and max kept)
            if commit:
                shard.min, shard.max = min(low, shard.min), max(high, shard.max)
            return None
        lanes_added = lanes - before
        window: Sequence[int]
        added: Sequence[int]
        wide = narrow_mask(width) if moved else self.wide
        if not lanes_added & wide:  # every count in the lowest byte of its lane
            window = lanes_added.to_bytes(width * 8, "little")[::8]
            narrow = _HOLE not in window
        else:  # a count past 255: the general unpacking
            window, _ = packed_counts(lanes_added, width)
            narrow = False
        if narrow:
            # A key without counts (a hole) written as 255, then every 255 deleted: the
            # written keys' counts, one byte each (a count of 255 takes the other way).
            marks = int.from_bytes(window, "little")
            if moved or marks & self.holes:  # keys met for the first time
                self._lay_out(window, first, width)
                self.lanes = before  # the last commit's, over the new window
            added = (marks | self.holes).to_bytes(width, "little").translate(None, b"\xff")
        else:
            if moved or any(compress(window, self.present.translate(_ABSENT))):
                self._lay_out(window, first, width)
                self.lanes = before
            added = list(compress(window, self.present))
        size = self.size
        running = list(accumulate(window))
        count = running[-1]
        interval_sum = total_sum - self.before_sum
        if commit:
            self.lanes = lanes
            self.before_count += count
            self.before_sum = total_sum
            self.total_min = min(self.total_min, low)
            self.total_max = max(self.total_max, high)
        if not count:
            return count, interval_sum, low, high, [], {}
        # Sketch.quantiles, written out: the bucket holding rank floor(q * (count - 1)).
        # A key without a count in the window adds nothing to the running total, so the
        # bisection lands on a key with counts: the window's first key plus its place.
        last = count - 1
        per_log, scale = self.per_log, self.scale
        values: list[float] = []
        for q in qs:
            # min(): past 2**53 observations float rounding could put the rank past the end.
            value = scale * _exp((first + _bisect(running, min(int(q * last), last))) / per_log)
            # Compare, not min()/max(): two builtin calls per percentile cost more than this.
            values.append(low if value < low else high if value > high else value)  # noqa: FURB136
        dense = added.count(0) * 2 <= size  # empty buckets cost less written than left out
        if narrow:
            head = self.plain_head
            if dense and head is not None:  # plain_form of one-byte counts
                bins = _b64(head + cast("bytes", added), newline=False).decode("ascii")
                form: dict[str, object] = {
                    "mapping": "logarithmic",
                    "relative_error": self.relative_error,
                    "zero_count": 0,
                    "bins": FORMAT_3 + bins,
                }
                return count, interval_sum, low, high, values, form
            packed = b"\x01" + cast("bytes", added)
        else:
            packed = counts_form(added)
            if dense:
                plain = plain_form(self.relative_error, size, self.key_bytes, packed)
                if plain is not None:
                    return count, interval_sum, low, high, values, plain
        interval = Sketch(self.relative_error)  # what read() would load
        if dense:
            keys = list(compress(range(first, first + width), self.present))
            interval.load_sorted(keys, added, key_bytes=self.key_bytes, packed=packed)
        else:
            keys = list(compress(range(first, first + width), window))
            interval.load_sorted(keys, list(filter(None, window)))
        return count, interval_sum, low, high, values, interval.to_dict()

    def _read_window(
        self, shards: list[_HistogramShard], *, commit: bool
    ) -> tuple[list[int], Sequence[int], Sequence[int]] | None:
        """The one shard's positive keys, their counts and the part since the last commit.

        For ``read()`` (cumulative rounds, zero or negative values, a raced reset): the
        window widened to any count outside it, found by C scans of the rest of the list
        (not by min and max, which ``read()`` has already reset). None when the series is
        past this path (several shards, values outside the list, a count of 2**64).
        """
        before = self.lanes
        if len(shards) != 1 or before is None or not _LITTLE or shards[0].positive:
            return None
        shard = shards[0]
        snapshot = shard.counts[:]  # one C copy, taken before the offset (see ``far``)
        offset, size = shard.offset, len(snapshot)
        first, width = self.first, self.width
        if width:
            start, end = first - offset, first - offset + width
            if any(snapshot[:start]):
                start = next(compress(range(start), snapshot))
            if any(snapshot[end:]):
                end = size - next(compress(range(size - end), reversed(snapshot)))
        else:
            start = next(compress(range(size), snapshot), size)
            end = max(start, size - next(compress(range(size), reversed(snapshot)), size))
        if start == end:  # nothing positive recorded yet
            return [], [], []
        moved = not width or offset + start < first or offset + end > first + width
        if moved and width:
            before <<= 64 * (first - offset - start)
        first, width = offset + start, end - start
        try:
            lanes = lanes_of(snapshot[start:end])
        except OverflowError:  # a count of 2**64 or more: the general path takes any
            return None
        window, _ = packed_counts(lanes - before, width)
        if moved or any(compress(window, self.present.translate(_ABSENT))):
            self._lay_out(window, first, width)
            self.lanes = before  # the last commit's, over the new window
        present = self.present
        keys = list(compress(range(first, first + width), present))
        counts = list(compress(lanes_to_counts(lanes, width), present))
        if commit:
            self.lanes = lanes
        return keys, counts, list(compress(window, present))

    def _lay_out(self, counts: Sequence[int], first: int, width: int) -> None:
        """The keys with counts, once a round's ``counts`` (the window from ``first``) met new ones.

        The keys with counts so far (``present``, a byte each) moved into the new window,
        those with counts in this round added: the holes, the keys' form. All by C steps
        over bytes: nothing per key in Python.
        """
        now = counts.translate(_NONZERO) if isinstance(counts, bytes) else bytes(map(bool, counts))
        held = int.from_bytes(now, "little")
        if self.width:  # the keys with counts so far, moved up by the keys added below
            held |= self.held << 8 * (self.first - first)
        self.held = held
        self.present = present = held.to_bytes(width, "little")
        self.holes = ((1 << 8 * width) - 1) ^ (held * _HOLE)  # 255 for each key with none
        if width != self.width:
            self.wide = narrow_mask(width)
        self.first, self.width = first, width
        lead = present.find(1)
        if lead < 0:  # no counts at all (not met while min and max say there are)
            self.size, self.key_bytes, self.plain_head = 0, b"", None
            return
        bits = int(present[lead:].translate(_DIGITS)[::-1], 2)
        self.size = bits.bit_count()
        self.key_bytes, self.plain_head = bits_layout(first + lead, bits)

    def _leave_fast(self) -> None:
        """The one-thread path's last commit as the general path's (``before_positive``)."""
        first, width = self.first, self.width
        assert self.lanes is not None
        counts = lanes_to_counts(self.lanes, width) if width else _array("Q")
        self.before_positive = dict(
            zip(compress(range(first, first + width), counts), filter(None, counts), strict=True)
        )
        self.lanes = None
        self.keys = []

    def _merged(self, shards: list[_HistogramShard]) -> tuple[dict[int, int], list[int], list[int]]:
        """The shards' positive buckets summed; their counts, and the part since the last commit.

        The counts in the order of ``keys``. From the first call on, the series keeps its
        last commit as a dict (``before_positive``, ``lanes`` None).
        """
        positive: dict[int, int] = {}
        for index, shard in enumerate(shards):
            if index == 0:
                positive = shard.buckets()
            else:
                _added(positive, shard.buckets())
        if self.lanes is not None:  # from now on, the general path: the last commit as a dict
            self._leave_fast()
        if len(self.keys) != len(positive):  # buckets are only ever added: same size, same keys
            self.keys = sorted(positive)
            self.key_bytes = key_form(self.keys) if self.keys else b""
        counts = list(map(positive.__getitem__, self.keys))
        added = list(map(sub, counts, map(self.before_positive.get, self.keys, repeat(0))))
        return positive, counts, added


class Counter(_Series):
    """One monotonic counter series; per-thread shards summed by the reader."""

    __slots__ = ("previous", "shards")
    kind: Kind = "counter"

    def __init__(self, name: str, unit: str, attributes: dict[str, AttributeValue]) -> None:
        super().__init__(name, unit, attributes)
        self.shards: dict[int, _CounterShard] = {}
        self.previous: float = 0

    def shard(self) -> _CounterShard:
        """The calling thread's shard, created if new."""
        return _own(self.shards, _CounterShard)

    def read(self, *, commit: bool) -> tuple[float, float]:
        """``(interval, total)`` as for histograms."""
        shards = list(self.shards.values())
        if len(shards) == 1:  # most counters: one thread increments them
            total = shards[0].value
        else:
            total: float = 0
            for shard in shards:
                total += shard.value
        interval = total - self.previous
        if commit:
            self.previous = total
        return interval, total


class Gauge(_Series):
    """One gauge series: the last value set, and whether it was set since the last read.

    Both start as the class's defaults; ``gauge()`` sets them on the instance.
    """

    kind: Kind = "gauge"
    value: float = 0.0
    fresh: bool = False


class _ThreadTables(threading.local):
    """One thread's way to its shards: call key -> shard, per kind."""

    histogram: dict[object, _HistogramShard]
    counter: dict[object, _CounterShard]


_local: _ThreadTables = _ThreadTables()


class Registry:
    """Every series of this process, by ``(name, attribute items...)`` as called."""

    def __init__(self) -> None:
        self.histograms: dict[object, Histogram] = {}
        self.counters: dict[object, Counter] = {}
        self.gauges: dict[object, Gauge] = {}
        self.relative_error = DEFAULT_RELATIVE_ERROR
        self._kinds: dict[str, tuple[Kind, str]] = {}
        self._canonical: dict[tuple[Kind, object], _Series] = {}
        self._lock = threading.Lock()
        self._tables: dict[Kind, dict[object, Any]] = {
            "histogram": self.histograms,
            "counter": self.counters,
            "gauge": self.gauges,
        }
        self.on_new_series: Callable[[], None] | None = None
        self._version = 0
        """Counts the series added: ``series()`` keeps its list while this stays."""
        self._series: tuple[int, list[Histogram], list[Counter], list[Gauge]] = (-1, [], [], [])

    def series(self) -> tuple[list[Histogram], list[Counter], list[Gauge]]:
        """Every series by kind, each in creation order (kept until a series is added).

        By kind so the reporter walks each list with no type test per series.
        """
        version, histograms, counters, gauges = self._series
        if version == self._version:
            return histograms, counters, gauges
        version = self._version  # read first: a series added meanwhile makes a new version
        histograms = list(dict.fromkeys(list(self.histograms.values())))
        counters = list(dict.fromkeys(list(self.counters.values())))
        gauges = list(dict.fromkeys(list(self.gauges.values())))
        self._series = (version, histograms, counters, gauges)
        return histograms, counters, gauges

    def find(self, kind: Kind, name: str, unit: str, attributes: Mapping[str, object]) -> Any:
        """The series of this kind for the call, created (names and units checked) if new."""
        table = self._tables[kind]
        try:
            key = _call_key(name, attributes)
            found = table.get(key)
        except TypeError:  # an unhashable attribute value: found by its cleaned form
            key, found = None, None
        if found is not None:
            return found
        _check_name(name)
        with self._lock:
            known = self._kinds.get(name)
            if known is not None and known != (kind, unit):
                raise ValueError(
                    f"metric {name!r} is a {known[0]} in {known[1]!r}; "
                    f"it cannot also be a {kind} in {unit!r}"
                )
            clean = _clean_attributes(attributes)
            canonical = (kind, (name, *clean.items()))
            series = self._canonical.get(canonical)
            if series is None:
                if kind == "histogram":
                    series = Histogram(name, unit, clean, self.relative_error)
                elif kind == "counter":
                    series = Counter(name, unit, clean)
                else:
                    series = Gauge(name, unit, clean)
                self._canonical[canonical] = series
                self._kinds[name] = (kind, unit)
            table[canonical[1] if key is None else key] = series
            self._version += 1
        if self.on_new_series is not None:
            self.on_new_series()
        return series

    def clear(self) -> None:
        """Forget every series (a forked child starts its own), and every thread's table.

        The registry's tables are emptied, not replaced (the gauge holds one as a module
        global); the threads' tables are replaced (a thread's own cannot be emptied from
        another thread).
        """
        global _local  # the instruments read it as a global, for speed
        self.histograms.clear()
        self.counters.clear()
        self.gauges.clear()
        self._kinds = {}
        self._canonical = {}
        self._lock = threading.Lock()
        self._version += 1
        _local = _ThreadTables()


registry: Final = Registry()
_GAUGES: Final = registry.gauges


def _thread_shard(kind: Kind, name: str, unit: str, attributes: Mapping[str, object]) -> Any:
    """The slow path of ``observe`` and ``increment``: a thread's first call per series.

    Finds the series (checking name and unit), the thread's shard of it, and remembers the
    shard in the thread's table under the call's key (a key with an unhashable attribute
    value is not remembered: such calls stay on this path).
    """
    tables = _local  # taken first: a clear() meanwhile then drops what is remembered here
    shard = registry.find(kind, name, unit, attributes).shard()
    with contextlib.suppress(TypeError):
        tables.__dict__.setdefault(kind, {})[_call_key(name, attributes)] = shard
    return shard


# -- the caller's side ----------------------------------------------------------------------


def observe(name: str, value: float, unit: str = "s", **attributes: AttributeValue) -> None:
    """Record one observation of a histogram (a latency, a size).

    Args:
        name: an OpenTelemetry-style name (``http.client.request.duration``).
        value: the observation, a finite number.
        unit: OpenTelemetry unit (``s``, ``By``, ``1``); fixed by the first call per name.
        **attributes: the attribute set, as in ``**{"server.address": "api.example"}``.

    Raises:
        ValueError: a bad name, a name already used with another type or unit, or a value
            that is NaN or infinite.
    """
    try:
        shard = _local.histogram[(name, tuple(attributes.items())) if attributes else name]
    except (AttributeError, KeyError, TypeError):
        shard = _thread_shard("histogram", name, unit, attributes)
    if value > 0.0:
        try:
            bucket = _ceil(_log2(value) * shard.factor)
        except OverflowError:
            raise ValueError(f"a histogram takes finite numbers, not {value!r}") from None
        index = bucket - shard.offset
        if index >= 0:  # a negative index would count from the list's end
            try:
                shard.counts[index] += 1
            except IndexError:
                shard.far(bucket)
        else:
            shard.far(bucket)
    else:
        shard.other(value)
    shard.sum += value
    # Compare-and-store, not min()/max(): two builtin calls would cost more than the rest.
    if value < shard.min:  # noqa: PLR1730
        shard.min = value
    if value > shard.max:  # noqa: PLR1730
        shard.max = value


def increment(name: str, value: float = 1, **attributes: AttributeValue) -> None:
    """Add to a counter (monotonic: ``value`` must not be negative).

    Raises:
        ValueError: a bad name, a name used with another type, or a negative value.
    """
    try:
        shard = _local.counter[(name, tuple(attributes.items())) if attributes else name]
    except (AttributeError, KeyError, TypeError):
        shard = _thread_shard("counter", name, "1", attributes)
    if not value >= 0:
        raise ValueError(f"a counter only goes up; {name} got {value!r}")
    shard.value += value


def gauge(name: str, value: float, unit: str = "1", **attributes: AttributeValue) -> None:
    """Set a gauge to its current value (a queue depth, a connection count).

    Raises:
        ValueError: a bad name, a name used with another type or unit.
    """
    try:
        series = _GAUGES[(name, tuple(attributes.items())) if attributes else name]
    except (KeyError, TypeError):
        series = cast("Gauge", registry.find("gauge", name, unit, attributes))
    series.value = value
    series.fresh = True


def _error_type(exc_type: type[BaseException]) -> str:
    module = exc_type.__module__
    if module in {"builtins", "__main__"}:
        return exc_type.__qualname__
    return f"{module}.{exc_type.__qualname__}"


class Timer:
    """Times a block or a function into a histogram in seconds.

    As a context manager (``with``, ``async with``) one timer object times one block at
    a time; as a decorator it times every call, on any thread or task. A block that raises
    is recorded with ``error.type`` (the exception's class) added to the attributes, as
    OpenTelemetry's HTTP conventions do. After a block, ``elapsed`` holds its seconds.
    """

    __slots__ = ("_start", "attributes", "elapsed", "name")

    def __init__(self, name: str, attributes: dict[str, AttributeValue]) -> None:
        _check_name(name)
        self.name = name
        self.attributes = attributes
        self._start = 0.0
        self.elapsed: float | None = None

    def _record(self, seconds: float, exc_type: type[BaseException] | None) -> None:
        if exc_type is None:
            observe(self.name, seconds, "s", **self.attributes)
        else:
            attributes = {**self.attributes, "error.type": _error_type(exc_type)}
            observe(self.name, seconds, "s", **attributes)

    def __enter__(self) -> Self:
        self._start = _clock()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.elapsed = elapsed = _clock() - self._start
        if exc_type is None:  # observe directly: a call less on every block
            observe(self.name, elapsed, "s", **self.attributes)
        else:
            self._record(elapsed, exc_type)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    @overload
    def __call__(self, func: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, func: Callable[P, Any]) -> Callable[P, Any]:
        """Time every call of ``func`` (a coroutine function's calls are awaited)."""
        record = self._record
        clock = _clock

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def timed_async(*args: P.args, **kwargs: P.kwargs) -> Any:
                start = clock()
                try:
                    result = await func(*args, **kwargs)
                except BaseException as exc:
                    record(clock() - start, type(exc))
                    raise
                record(clock() - start, None)
                return result

            return timed_async

        @functools.wraps(func)
        def timed(*args: P.args, **kwargs: P.kwargs) -> Any:
            start = clock()
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                record(clock() - start, type(exc))
                raise
            record(clock() - start, None)
            return result

        return timed


def timer(name: str, **attributes: AttributeValue) -> Timer:
    """A timer feeding the histogram ``name`` (unit ``s``) with these attributes.

    Example:
        >>> from tapelog import metrics
        >>> with metrics.timer("app.order.processing.duration", venue="test"):  # doctest: +SKIP
        ...     pass
        >>> @metrics.timer("app.market_data.update.duration")  # doctest: +SKIP
        ... def on_tick() -> None: ...

    Raises:
        ValueError: a bad name.
    """
    return Timer(name, dict(attributes))
