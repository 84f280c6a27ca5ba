"""A mergeable quantile sketch with a guaranteed relative error (DDSketch's mapping).

Why this sketch. A latency histogram in a log has to answer p50 ... p999 with an error a
reader can state, in memory that does not grow with the number of observations, and it
has to merge: the snapshots of many processes, or of many intervals, must add up to the
sketch of all their observations. A log-bucket sketch does all three by construction:
every value ``x > 0`` goes to bucket ``k = ceil(log(x) / log(gamma))`` with
``gamma = (1 + a) / (1 - a)``, and the bucket is read back as ``2 * gamma**k / (1 + gamma)``,
which is within ``a`` (relative) of every value in the bucket. Merging is adding counts
per bucket, so it is exact and order-free. HdrHistogram needs integer values in a fixed
range and costs several times more per observation; t-digest has no error bound and only
disputed mergeability. The bucket numbering is DDSketch's ``LogarithmicMapping`` with a
zero key offset, so a serialised sketch loads into the ``ddsketch`` package too.

Negative values go to a second set of buckets (by ``-x``), zero to a count of its own.
A quantile ``q`` is the value of rank ``floor(q * (count - 1))`` (the lower quantile), so
the answer is within ``a`` of the exact order statistic of that rank.

Serialised form (``to_dict``): the buckets as bytes in base64, told apart by the start of
``bins``: format 3's text starts ``3:``, format 2's ``2:`` (both outside base64's alphabet,
so a reader that knows only older formats refuses them rather than misreading them),
format 1's is plain base64:

- 3 (written by default): one byte saying whether the rest is plain (0) or a zlib stream
  (1), then little-endian integers: a header (``<II``: how many positive and negative
  buckets), then per set of buckets its first key (``<q``), its keys and its counts. The
  keys are a mode byte then either (0) the span from the first key to the last (``<I``)
  and one bit per key of that span, lowest first, set where a bucket is, or (1) the gaps
  between neighbouring keys (where that is shorter: sparse buckets). Gaps and counts are
  runs of integers behind one byte giving their width (1, 2, 4 or 8: the fewest that hold
  the run's largest). The bytes are compressed only when there are more than
  ``PLAIN_MAX`` of them: a sketch of a few hundred buckets with counts below 256 (a
  typical interval) takes about a fifth more text uncompressed than compressed, and
  compressing it cost more than the rest of its round's work. A count may be zero (a
  histogram's interval writes its series' keys, some left empty): readers skip such
  buckets.
- 2 (written by the previous version, still read): the same integers always compressed,
  with no mode byte, the keys always as gaps.
- 1 (what earlier versions wrote, still read, and still written when it is the smaller
  of the two and format 3 would not fit): the bucket keys and counts as varints (the first
  key, then the gap to each next key, each followed by its count).

When a sketch would serialise to more than ``MAX_SERIALISED`` bytes in either form, its
lowest buckets are folded into their upper neighbour (as DDSketch's collapsing stores do):
the error bound then holds above ``collapsed_below`` only, which the dict says.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
import sys
import zlib
from array import array
from bisect import bisect_right
from itertools import accumulate, chain, compress
from operator import sub
from typing import TYPE_CHECKING, Final, TypeAlias


if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

_Layout: TypeAlias = "tuple[list[int], list[int], Sequence[int], Sequence[int]]"
"""Negative keys (most negative value first) and their counts, positive keys and counts."""


__all__ = [
    "DEFAULT_RELATIVE_ERROR",
    "FORMAT_3",
    "MAX_SERIALISED",
    "PLAIN_MAX",
    "Sketch",
    "bits_layout",
    "counts_form",
    "key_bits",
    "key_form",
    "key_gaps",
    "keys_of_bits",
    "lanes_of",
    "lanes_to_counts",
    "log2_multiplier",
    "multiplier",
    "narrow_mask",
    "packed_counts",
    "plain_form",
    "plain_head",
    "value_constants",
]

DEFAULT_RELATIVE_ERROR: Final = 0.01
MAX_SERIALISED: Final = 1536
"""Bytes the serialised sketch (its JSON text) may take at most."""
_ONE_BYTE: Final = 0x80  # varints below this take one byte, below _TWO_BYTES two
_TWO_BYTES: Final = 0x4000
_OTHER_KEYS: Final = 160  # the JSON of the keys besides ``bins``, with room to spare
_HEADER: Final = struct.Struct("<II")  # formats 2, 3: how many positive and negative buckets
_FIRST: Final = struct.Struct("<q")  # formats 2 and 3: a set's first key
_SPAN: Final = struct.Struct("<I")  # format 3: keys from the first to the last
_BITMAP, _GAPS = b"\x00", b"\x01"  # format 3: how a set's keys are written
_PLAIN, _ZLIB = b"\x00", b"\x01"  # format 3: whether the rest is compressed
_AS_DIGITS: Final = bytes.maketrans(b"\x00\x01", b"01")
_AS_FLAGS: Final = bytes.maketrans(b"01", b"\x00\x01")
PLAIN_MAX: Final = 768
"""Format 3 bytes up to which the buckets are not compressed (text of at most 1,030 chars).

A long-running latency histogram's interval (every key it has met, 450 or so, counts below
256) takes about 540 bytes: compressing it cost the reporter's round several times the
plain form's work, for about a third less text.
"""
_WIDTHS: Final = {1: "B", 2: "H", 4: "I", 8: "Q"}
_LEVEL: Final = 4
"""zlib level when format 3 compresses (1, 6, 9 measured: 9 costs twice 1's time for 2% less)."""
_LITTLE: Final = sys.byteorder == "little"
_WINDOW_BITS: Final = 12
"""Format 3's zlib window: 4 KiB, more than the bytes of a sketch that fits the entry."""
_MEMORY_LEVEL: Final = 5
"""zlib's hash table size (8 is its default): as small as keeps the output the same."""


def multiplier(relative_error: float) -> float:
    """``1 / log(gamma)``: a value's bucket is ``ceil(log(x) * multiplier)``."""
    gamma = (1.0 + relative_error) / (1.0 - relative_error)
    return 1.0 / math.log(gamma)


def log2_multiplier(relative_error: float) -> float:
    """``ln 2 / log(gamma)``: the same bucket is ``ceil(log2(x) * log2_multiplier)``.

    ``math.log2`` costs half of ``math.log`` in CPython (it takes no optional base), and
    the bucket is the same but at a bucket's very edge, where float rounding decides
    either way; both neighbours' values are within the relative error of such a value.
    """
    return multiplier(relative_error) * math.log(2.0)


@functools.lru_cache(maxsize=8)
def _constants(relative_error: float) -> tuple[float, float, float]:
    """A sketch's multipliers (log and log2) and the scale of a bucket's value."""
    per_log = multiplier(relative_error)
    return per_log, log2_multiplier(relative_error), 2.0 / (1.0 + math.exp(1.0 / per_log))


def value_constants(relative_error: float) -> tuple[float, float]:
    """``(multiplier, scale)``: positive bucket ``k`` stands for ``scale * exp(k / multiplier)``."""
    per_log, _, scale = _constants(relative_error)
    return per_log, scale


def _put_varint(out: bytearray, number: int) -> None:
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def _varints(data: bytes) -> Iterator[int]:
    number = shift = 0
    for byte in data:
        number |= (byte & 0x7F) << shift
        if byte & 0x80:
            shift += 7
        else:
            yield number
            number = shift = 0
    if shift:
        raise ValueError("truncated varint")


def _zigzag(number: int) -> int:
    return number * 2 if number >= 0 else -number * 2 - 1


def _unzigzag(number: int) -> int:
    return number // 2 if not number & 1 else -(number + 1) // 2


def _encode(keys: Sequence[int], counts: Sequence[int], out: bytearray) -> None:
    """One set of buckets (ascending keys) as varints.

    How many, the first key (zigzag), its count, then the gap to each next key and its count.
    """
    _put_varint(out, len(keys))
    previous: int | None = None
    append = out.append
    for key, count in zip(keys, counts, strict=True):
        if previous is None:
            _put_varint(out, _zigzag(key))
        elif (gap := key - previous) < _ONE_BYTE:  # the common case: neighbouring buckets
            append(gap)
        else:
            _put_varint(out, gap)
        if count < _ONE_BYTE:
            append(count)
        elif count < _TWO_BYTES:
            append(count & 0x7F | 0x80)
            append(count >> 7)
        else:
            _put_varint(out, count)
        previous = key


def _decode(numbers: Iterator[int]) -> dict[int, int]:
    bins: dict[int, int] = {}
    key = 0
    for index in range(next(numbers)):
        step = next(numbers)
        key = _unzigzag(step) if index == 0 else key + step
        bins[key] = next(numbers)
    return bins


def _blob(layout: _Layout) -> str:
    """Format 1: varints."""
    down, down_counts, up, up_counts = layout
    raw = bytearray()
    _encode(up, up_counts, raw)
    _encode(down[::-1], down_counts[::-1], raw)
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def key_gaps(keys: Sequence[int]) -> bytes:
    """Ascending ``keys``' gaps as formats 2 and 3 write them."""
    return _narrow(list(map(sub, keys[1:], keys)))  # map(sub) runs in C as well


def _narrow(numbers: Sequence[int]) -> bytes:
    """Non-negative ``numbers`` as little-endian integers of the fewest bytes that hold them.

    1, 2, 4 or 8 bytes each, behind one byte telling which: built in C, no Python loop.

    Raises:
        OverflowError: a number of 2**64 or more (format 1 takes any size).
    """
    try:
        return b"\x01" + bytes(numbers)
    except ValueError:  # one is 256 or more
        pass
    for code in "HIQ":  # "H" converts slower than "I", but compresses smaller and faster
        try:
            packed = array(code, numbers)
        except OverflowError:
            continue
        if not _LITTLE:  # pragma: no cover - the reference hosts are little-endian
            packed.byteswap()
        return bytes((packed.itemsize,)) + packed.tobytes()
    raise OverflowError("a count of 2**64 or more")


def lanes_of(counts: Sequence[int]) -> int:
    """``counts`` as one integer, each in a 64-bit lane, the first lowest.

    The lane-wise difference of two such integers is one subtraction in C (no borrow
    crosses a lane while each lane of the first is at least that of the second, as with
    counts that only grow). Raises OverflowError for a count of 2**64 or more.
    """
    packed = array("Q", counts)
    if not _LITTLE:  # pragma: no cover - the reference hosts are little-endian
        packed.byteswap()
    return int.from_bytes(packed, "little")


def lanes_to_counts(lanes: int, size: int) -> array[int]:
    """The ``size`` counts of ``lanes_of``'s integer."""
    counts = array("Q", lanes.to_bytes(size * 8, "little"))
    if not _LITTLE:  # pragma: no cover
        counts.byteswap()
    return counts


_LANE_ROOM: Final = 64
"""Masks of lanes are made for a multiple of this many lanes (see ``_high_bytes``)."""


@functools.lru_cache(maxsize=32)
def _high_bytes_of(room: int, width: int) -> int:
    lane = (1 << 64) - (1 << (8 * width))
    return int.from_bytes(lane.to_bytes(8, "little") * room, "little")


def _high_bytes(size: int, width: int) -> int:
    """The bits above a ``width``-byte integer in each of (at least) ``size`` 64-bit lanes.

    Made for the next multiple of ``_LANE_ROOM`` lanes: lanes past ``size`` are zero in any
    integer it is tested against, so one mask serves a series while its keys grow (a new
    mask for every new size cost a few microseconds a round to a young series).
    """
    return _high_bytes_of(-(-size // _LANE_ROOM) * _LANE_ROOM, width)


def narrow_mask(size: int) -> int:
    """The bits above the lowest byte of each of ``size`` 64-bit lanes (see ``lanes_of``).

    A difference of lanes with none of them set holds counts below 256 each: its bytes
    ``[::8]`` are those counts, as format 3 writes a run of one-byte integers.
    """
    return _high_bytes(size, 1)


def packed_counts(lanes: int, size: int) -> tuple[Sequence[int], bytes]:
    """``size`` counts held in 64-bit lanes of one integer (the first lowest), unpacked.

    Returns them as a sequence and as ``_narrow`` writes them (the fewest bytes that hold
    the largest), both by C code: one mask test per width, a strided slice of the bytes.
    """
    raw = lanes.to_bytes(size * 8, "little")
    if not _LITTLE:  # pragma: no cover - the reference hosts are little-endian
        counts = lanes_to_counts(lanes, size)
        return counts, _narrow(counts)
    if not lanes & _high_bytes(size, 1):
        narrow = raw[::8]
        return narrow, b"\x01" + narrow
    for width, code in ((2, "H"), (4, "I")):
        if not lanes & _high_bytes(size, width):
            counts = array(code, raw)[:: 8 // width]
            return counts, bytes((width,)) + counts.tobytes()
    return array("Q", raw), b"\x08" + raw


def counts_form(counts: Sequence[int]) -> bytes:
    """``counts`` as format 3 writes them (one width byte, then each in that many bytes)."""
    return _narrow(counts)


def key_bits(keys: Sequence[int]) -> int:
    """Ascending ``keys`` (at least one) as one integer, bit ``k - keys[0]`` set for each key.

    Format 3's bitmap of dense keys. Built in C: a byte per key of the span (``map`` over a
    set), read as binary digits by ``int``. A series that only adds keys can keep it up to
    date with a shift and an or per new key.
    """
    first = keys[0]
    present = bytes(map(set(keys).__contains__, range(first, keys[-1] + 1)))
    return int(present.translate(_AS_DIGITS)[::-1], 2)


def key_form(keys: Sequence[int], *, bitmap: bool = True, bits: int | None = None) -> bytes:
    """Ascending ``keys`` (at least one) as format 3 writes them, first key and mode first.

    One bit per key from the first to the last (``key_bits``, or ``bits`` if the caller
    has it) where that takes fewer bytes than there are keys (dense buckets, as a latency
    histogram's) and ``bitmap``, else their gaps (what compresses smaller: zlib takes runs
    of equal gaps to almost nothing, and a bitmap's ragged ends hardly at all).
    """
    first = keys[0]
    span = keys[-1] - first + 1 if bits is None else bits.bit_length()
    if bitmap and (span + 7) // 8 < len(keys):
        return _bitmap_form(first, key_bits(keys) if bits is None else bits)
    return _FIRST.pack(first) + _GAPS + key_gaps(keys)


def _bitmap_form(first: int, bits: int) -> bytes:
    """``key_form``'s bitmap mode: the keys of ``bits`` (bit ``k``: key ``first + k``)."""
    span = bits.bit_length()
    bitmap = bits.to_bytes((span + 7) // 8, "little")
    return _FIRST.pack(first) + _BITMAP + _SPAN.pack(span) + bitmap


def _fixed_raw(
    layout: _Layout, up_keys: bytes | None, up_packed: bytes | None = None, *, bitmap: bool = True
) -> bytes:
    """Format 3 before the compression byte.

    ``up_keys`` is ``key_form`` of the positive keys and ``up_packed`` ``_narrow`` of their
    counts, if known; ``bitmap`` False writes keys as gaps only (to be compressed).
    """
    down, down_counts, up, up_counts = layout
    parts = [_HEADER.pack(len(up), len(down))]
    if up:
        parts += (up_keys or key_form(up, bitmap=bitmap), up_packed or _narrow(up_counts))
    if down:
        parts += (key_form(down[::-1], bitmap=bitmap), _narrow(down_counts[::-1]))
    return b"".join(parts)


def _deflate(raw: bytes) -> bytes:
    """The zlib stream of ``raw``: run-length matches only, a window and tables sized for it.

    ``zlib.compress`` sets up a 32 KiB window and 64 KiB tables (about 270 KB) for every
    call: for a few hundred bytes that set-up can cost more than compressing them. The
    bytes are mostly runs (dense keys, neighbouring counts), so ``Z_RLE`` (matches at
    distance one, no hash chains) compresses them within a few percent of the default
    strategy for about four fifths of its time. Any zlib reader takes the stream (its
    header says the window's size).
    """
    packer = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS, _MEMORY_LEVEL, zlib.Z_RLE)
    return packer.compress(raw) + packer.flush()


_FORMAT_2: Final = "2:"
_FORMAT_3: Final = "3:"
FORMAT_3: Final = _FORMAT_3
"""What the text of format 3's ``bins`` starts with, before the base64."""
_ROOM: Final = MAX_SERIALISED - _OTHER_KEYS
"""Characters the text of ``bins`` may take."""


def _encoded(layout: _Layout, up_keys: bytes | None = None, up_packed: bytes | None = None) -> str:
    """The buckets' text: format 3, unless format 1 fits where 3 does not.

    Uncompressed up to ``PLAIN_MAX`` bytes: zlib's set-up and first pass over fresh bytes
    cost 15-20 us a call on a round's cold caches, for a fifth of a few hundred bytes.
    """
    try:
        raw = _fixed_raw(layout, up_keys, up_packed)
    except OverflowError:  # a count of 2**64 or more
        return _blob(layout)
    if len(raw) <= PLAIN_MAX:
        return _FORMAT_3 + base64.b64encode(_PLAIN + raw).decode("ascii")
    raw = _fixed_raw(layout, None, up_packed, bitmap=False)
    fixed = _FORMAT_3 + base64.b64encode(_ZLIB + _deflate(raw)).decode("ascii")
    if len(fixed) <= _ROOM:
        return fixed
    varints = _blob(layout)
    return varints if len(varints) < len(fixed) else fixed


def plain_form(
    relative_error: float, size: int, keys: bytes, packed: bytes
) -> dict[str, object] | None:
    """``to_dict`` of positive buckets only, from their ``key_form`` and ``_narrow`` counts.

    None when the bytes would be compressed (more than ``PLAIN_MAX``): the caller then
    builds a ``Sketch``. ``size`` is how many keys (and counts) there are.
    """
    raw = _HEADER.pack(size, 0) + keys + packed
    if len(raw) > PLAIN_MAX:
        return None
    return {
        "mapping": "logarithmic",
        "relative_error": relative_error,
        "zero_count": 0,
        "bins": _FORMAT_3 + base64.b64encode(_PLAIN + raw).decode("ascii"),
    }


def plain_head(size: int, keys: bytes) -> bytes | None:
    """Format 3's plain bytes of ``size`` positive buckets up to their one-byte counts.

    ``keys`` is their ``key_form``. The form of such an interval (every count below 256) is
    ``FORMAT_3`` and the base64 of these bytes followed by the counts, one byte each: what
    ``plain_form`` gives for them. None when those bytes would be compressed (more than
    ``PLAIN_MAX``). It depends on the keys only, so a series works it out once per new bucket.
    """
    head = _PLAIN + _HEADER.pack(size, 0) + keys + b"\x01"
    return head if len(head) - len(_PLAIN) + size <= PLAIN_MAX else None


def keys_of_bits(first: int, bits: int) -> list[int]:
    """The keys of ``key_bits``' integer (bit ``k`` set: key ``first + k``), ascending."""
    present = bin(bits)[:1:-1].encode("ascii").translate(_AS_FLAGS)
    return list(compress(range(first, first + len(present)), present))


def bits_layout(first: int, bits: int) -> tuple[bytes, bytes | None]:
    """``key_form`` and ``plain_head`` of the keys of ``bits`` (at least one).

    From the bitmap itself: a histogram's window keeps its keys as one (``present``), and
    the keys as a list are needed only when gaps are the smaller form.
    """
    size, span = bits.bit_count(), bits.bit_length()
    if (span + 7) // 8 < size:  # key_form's choice: a bitmap where it is the smaller
        written = _bitmap_form(first, bits)
    else:
        written = _FIRST.pack(first) + _GAPS + key_gaps(keys_of_bits(first, bits))
    return written, plain_head(size, written)


def _take(raw: bytes, offset: int, size: int) -> tuple[list[int], int]:
    """``size`` integers written by ``_narrow`` at ``offset``, and the offset after them."""
    if offset >= len(raw):
        raise ValueError("truncated buckets")
    width = raw[offset]
    code = _WIDTHS.get(width)
    if code is None:
        raise ValueError(f"unknown integer width {width}")
    start, end = offset + 1, offset + 1 + size * width
    if end > len(raw):
        raise ValueError("truncated buckets")
    if width == 1:
        return list(raw[start:end]), end
    numbers: array[int] = array(code)
    numbers.frombytes(raw[start:end])
    if not _LITTLE:  # pragma: no cover
        numbers.byteswap()
    return numbers.tolist(), end


def _keys_of(raw: bytes, offset: int, size: int) -> tuple[list[int], int]:
    """Format 3: ``size`` keys (a set's first, mode byte, bitmap or gaps) at ``offset``."""
    if offset + _FIRST.size + 1 > len(raw):
        raise ValueError("truncated buckets")
    (first,) = _FIRST.unpack_from(raw, offset)
    offset += _FIRST.size + 1
    mode = raw[offset - 1 : offset]
    if mode == _GAPS:
        gaps, offset = _take(raw, offset, size - 1)
        return list(accumulate(gaps, initial=first)), offset
    if mode != _BITMAP:
        raise ValueError(f"unknown key mode {raw[offset - 1]}")
    if offset + _SPAN.size > len(raw):
        raise ValueError("truncated buckets")
    (span,) = _SPAN.unpack_from(raw, offset)
    start, offset = offset + _SPAN.size, offset + _SPAN.size + (span + 7) // 8
    if offset > len(raw):
        raise ValueError("truncated buckets")
    digits = bin(int.from_bytes(raw[start:offset], "little"))[:1:-1]  # lowest key first
    if len(digits) != span or digits.count("1") != size:
        raise ValueError("key bitmap does not match its span and size")
    return list(compress(range(first, first + span), map("1".__eq__, digits))), offset


def _read_fixed(raw: bytes, version: str = "2") -> tuple[dict[int, int], dict[int, int]]:
    """Format 2's or 3's positive and negative buckets (format 3 after its compression byte).

    Raises:
        ValueError: the bytes are not that format (truncated, unknown widths, trailing bytes).
    """
    if len(raw) < _HEADER.size:
        raise ValueError("truncated header")
    offset = _HEADER.size
    sets: list[dict[int, int]] = []
    for size in _HEADER.unpack_from(raw):
        if not size:
            sets.append({})
            continue
        if version == "3":
            keys, offset = _keys_of(raw, offset, size)
        else:
            if offset + _FIRST.size > len(raw):
                raise ValueError("truncated buckets")
            (first,) = _FIRST.unpack_from(raw, offset)
            gaps, offset = _take(raw, offset + _FIRST.size, size - 1)
            keys = list(accumulate(gaps, initial=first))
        counts, offset = _take(raw, offset, size)
        if 0 in counts:  # a bucket the series has but the interval left empty
            keys, counts = list(compress(keys, counts)), list(filter(None, counts))
        sets.append(dict(zip(keys, counts, strict=True)))
    if offset != len(raw):
        raise ValueError("trailing bytes")
    up, down = sets
    return up, down


def _unpacked(data: bytes) -> bytes:
    """Format 3's bytes after its compression byte."""
    if data[:1] == _PLAIN:
        return data[1:]
    if data[:1] == _ZLIB:
        return zlib.decompress(data[1:])
    raise ValueError(f"unknown compression {data[:1]!r}")


class Sketch:
    """Counts of values per logarithmic bucket, plus count, sum, min and max.

    ``relative_error`` is the bound on every quantile's relative error (0 < a < 1).
    """

    __slots__ = (
        "_per_log2",
        "_positive",
        "_scale",
        "_up",
        "_up_keys",
        "_up_packed",
        "collapsed_below",
        "count",
        "max",
        "min",
        "multiplier",
        "negative",
        "relative_error",
        "sum",
        "zero_count",
    )

    def __init__(self, relative_error: float = DEFAULT_RELATIVE_ERROR) -> None:
        if not 0.0 < relative_error < 1.0:
            raise ValueError(f"relative_error must be between 0 and 1, not {relative_error!r}")
        self.relative_error = relative_error
        self.multiplier, self._per_log2, self._scale = _constants(relative_error)
        self._positive: dict[int, int] | None = {}
        self._up: tuple[Sequence[int], Sequence[int]] | None = None
        self._up_keys: bytes | None = None
        self._up_packed: bytes | None = None
        self.negative: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.collapsed_below: float | None = None

    # -- building ----------------------------------------------------------------------

    @property
    def positive(self) -> dict[int, int]:
        """The buckets of positive values, key -> count (the caller may change it)."""
        if self._up is not None:
            if self._positive is None:
                keys, counts = self._up
                if 0 in counts:  # buckets of the series that this interval left empty
                    keys, counts = list(compress(keys, counts)), list(filter(None, counts))
                self._positive = dict(zip(keys, counts, strict=True))
            self._up = None  # the dict may change from now on: the sorted lists would lie
        assert self._positive is not None
        return self._positive

    @positive.setter
    def positive(self, bins: dict[int, int]) -> None:
        self._positive = bins
        self._up = None

    def load_sorted(
        self,
        keys: Sequence[int],
        counts: Sequence[int],
        bins: dict[int, int] | None = None,
        key_bytes: bytes | None = None,
        packed: bytes | None = None,
    ) -> None:
        """Set the positive buckets from ascending ``keys`` and their ``counts``.

        The lists are used as they are for quantiles and ``to_dict`` (no sort, and no dict
        unless ``positive`` is asked for); a zero count is a bucket left out. ``bins`` is
        the same buckets as a dict, ``key_bytes`` is ``key_form(keys)`` and ``packed`` the
        counts as format 3 writes them (``packed_counts``), if the caller has them. Neither
        sequence may change afterwards.
        """
        self._positive = bins
        self._up = (keys, counts)
        self._up_keys = key_bytes
        self._up_packed = packed

    def add(self, value: float, count: int = 1) -> None:
        """Record ``value`` ``count`` times. NaN is refused; infinities are refused."""
        if not math.isfinite(value):
            raise ValueError(f"a sketch takes finite numbers, not {value!r}")
        if value > 0.0:
            key = math.ceil(math.log2(value) * self._per_log2)
            bins = self.positive
            bins[key] = bins.get(key, 0) + count
        elif value < 0.0:
            key = math.ceil(math.log2(-value) * self._per_log2)
            self.negative[key] = self.negative.get(key, 0) + count
        else:
            self.zero_count += count
        self.count += count
        self.sum += value * count
        self.min = min(self.min, value)
        self.max = max(self.max, value)

    def update(self, values: Iterable[float]) -> None:
        """Record every value."""
        for value in values:
            self.add(value)

    def merge(self, other: Sketch) -> None:
        """Add ``other``'s observations to this sketch (same ``relative_error`` only)."""
        if other.relative_error != self.relative_error:
            raise ValueError(
                f"cannot merge sketches of relative error {self.relative_error} "
                f"and {other.relative_error}"
            )
        for mine, theirs in ((self.positive, other.positive), (self.negative, other.negative)):
            for key, count in theirs.items():
                mine[key] = mine.get(key, 0) + count
        self.zero_count += other.zero_count
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        if other.collapsed_below is not None:
            self.collapsed_below = max(self.collapsed_below or -math.inf, other.collapsed_below)

    def copy(self) -> Sketch:
        """An independent copy."""
        twin = Sketch(self.relative_error)
        twin.merge(self)
        return twin

    # -- reading -----------------------------------------------------------------------

    def value_of(self, key: int) -> float:
        """The value a positive bucket stands for: within the relative error of its values."""
        return self._scale * math.exp(key / self.multiplier)

    def quantile(self, q: float) -> float | None:
        """The value of rank ``floor(q * (count - 1))``; None for an empty sketch."""
        return self.quantiles((q,))[0]

    def quantiles(self, qs: Iterable[float]) -> list[float | None]:
        """Several quantiles in one pass over the buckets (each as ``quantile``)."""
        return self._quantiles(qs, self._layout())

    def summary(self, qs: Iterable[float]) -> tuple[list[float | None], dict[str, object]]:
        """``quantiles(qs)`` and ``to_dict()``, sorting the buckets once for both."""
        layout = self._layout()
        return self._quantiles(qs, layout), self._form(layout)

    def _layout(self) -> _Layout:
        if self._up is not None:  # sorted already (a histogram's interval)
            negative = self.negative
            down = sorted(negative, reverse=True)
            return down, list(map(negative.__getitem__, down)), *self._up
        return self._layout_of_dict()

    def _layout_of_dict(self) -> _Layout:
        negative = self.negative
        down = sorted(negative, reverse=True)  # the most negative values sit in the highest keys
        positive = self.positive
        keys = list(positive)
        up = sorted(keys)
        # A histogram's interval comes in key order already: its counts are then its values.
        up_counts = list(positive.values()) if up == keys else list(map(positive.__getitem__, up))
        return down, list(map(negative.__getitem__, down)), up, up_counts

    def _quantiles(self, qs: Iterable[float], layout: _Layout) -> list[float | None]:
        wanted = list(qs)
        for q in wanted:
            if not 0.0 <= q <= 1.0:
                raise ValueError(f"a quantile is between 0 and 1, not {q!r}")
        down, down_counts, up, up_counts = layout
        zero = [self.zero_count] if self.zero_count else []
        # Counts of every bucket, lowest value first, summed: the bucket holding rank r is
        # the first whose running count exceeds r (a bisection, not a walk).
        if down_counts or zero:
            running = list(accumulate(chain(down_counts, zero, up_counts)))
        else:  # positive values only (latencies): no copy of the counts first
            running = list(accumulate(up_counts))
        total = running[-1] if running else 0
        if total == 0:
            return [None] * len(wanted)
        first_up = len(down) + len(zero)
        clamp = self.min <= self.max
        answers: list[float | None] = []
        for q in wanted:
            # min(): past 2**53 observations float rounding could put the rank past the end.
            index = bisect_right(running, min(math.floor(q * (total - 1)), total - 1))
            if index < len(down):
                value = -self.value_of(down[index])
            elif index < first_up:
                value = 0.0
            else:
                value = self.value_of(up[index - first_up])
            # The true quantile lies between the extremes: clamping only brings it closer.
            answers.append(min(max(value, self.min), self.max) if clamp else value)
        return answers

    @property
    def bins(self) -> int:
        """How many buckets hold something."""
        up = self._up
        held = len(self.positive) if up is None else len(up[1]) - up[1].count(0)
        return held + len(self.negative)

    # -- serialising -------------------------------------------------------------------

    def to_dict(self) -> dict[str, object]:
        """The buckets in a small JSON-ready form; ``from_dict`` reads it back.

        Folds the lowest buckets if the form would exceed ``MAX_SERIALISED`` bytes.
        """
        return self._form(self._layout())

    def _form(self, layout: _Layout) -> dict[str, object]:
        if self._up is not None:
            blob = _encoded(layout, self._up_keys, self._up_packed)
        else:
            blob = _encoded(layout)
        if len(blob) > _ROOM and self._up is not None:
            blob = _encoded(self._layout_of_dict())  # no empty buckets, as folded
        while len(blob) > _ROOM and self.bins > 1:
            self._collapse_lowest(max(1, self.bins // 8))
            blob = _encoded(self._layout())
        out: dict[str, object] = {
            "mapping": "logarithmic",
            "relative_error": self.relative_error,
            "zero_count": self.zero_count,
            "bins": blob,
        }
        if self.collapsed_below is not None:
            out["collapsed_below"] = self.collapsed_below
        return out

    def _collapse_lowest(self, how_many: int) -> None:
        """Fold the ``how_many`` lowest buckets (by value) into the next one up."""
        for _ in range(how_many):
            if self.negative:
                # The most negative values sit in the highest negative keys.
                keys = sorted(self.negative, reverse=True)
                if len(keys) > 1:
                    self.negative[keys[1]] += self.negative.pop(keys[0])
                    self.collapsed_below = max(
                        self.collapsed_below or -math.inf, -self.value_of(keys[1])
                    )
                    continue
            keys = sorted(self.positive)
            if len(keys) < 2:  # noqa: PLR2004
                return
            self.positive[keys[1]] += self.positive.pop(keys[0])
            self.collapsed_below = max(self.collapsed_below or -math.inf, self.value_of(keys[1]))

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        *,
        count: int | None = None,
        total: float | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> Sketch:
        """Rebuild a sketch from ``to_dict``'s form (count, sum, min, max if known).

        Raises:
            ValueError: the form is not one ``to_dict`` writes.
        """
        error = data.get("relative_error")
        blob = data.get("bins")
        zero = data.get("zero_count", 0)
        if not isinstance(error, float | int) or not isinstance(blob, str):
            raise ValueError("a sketch needs relative_error and bins")
        if not isinstance(zero, int) or isinstance(zero, bool) or zero < 0:
            raise ValueError("zero_count must be a count")
        version, _, text = blob.rpartition(":")
        if version not in {"", "2", "3"}:
            raise ValueError(
                f"unknown sketch bins format {version!r} (this version reads 1, 2 and 3)"
            )
        sketch = cls(float(error))
        try:
            decoded = base64.b64decode(text, validate=True)
            raw = _unpacked(decoded) if version == "3" else zlib.decompress(decoded)
            if version:
                sketch.positive, sketch.negative = _read_fixed(raw, version)
            else:
                numbers = _varints(raw)
                sketch.positive = _decode(numbers)
                sketch.negative = _decode(numbers)
        except (ValueError, zlib.error, StopIteration, struct.error) as exc:
            raise ValueError(f"unreadable sketch bins: {exc}") from None
        sketch.zero_count = zero
        binned = zero + sum(sketch.positive.values()) + sum(sketch.negative.values())
        sketch.count = binned if count is None else count
        sketch.sum = 0.0 if total is None else total
        collapsed = data.get("collapsed_below")
        if isinstance(collapsed, float | int):
            sketch.collapsed_below = float(collapsed)
        if low is not None:
            sketch.min = low
        elif binned:
            sketch.min = sketch.quantile(0.0) or 0.0
        if high is not None:
            sketch.max = high
        elif binned:
            sketch.max = sketch.quantile(1.0) or 0.0
        return sketch
