"""The audit writer seals any batch into exactly the bytes the format defines.

The writer builds a run's lines from pieces (each entry's JSON without its closing brace,
the seq's head and digits from tables, one join, one replace); the reference below builds
them line by line as ``docs/audit.md`` states the format, with ``hmac``/``hashlib`` as
they come. For any entries (text holding braces, newlines, ``%``, line separators and
other non-ASCII text, integers orjson refuses), any place in the chain (seqs crossing a
thousand, a million, the first line) and any run length, the two must be equal byte for
byte, and so must the chain's head after the batch.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tapelog.audit import AuditKey
from tapelog.audit._chain import AuditWriter
from tapelog.formats import JsonFormat


_TEXT = st.text(
    alphabet=st.sampled_from(list('ab}{"\\\n%é€\u2028\u2029\u0085\x00 ')) | st.characters(),
    max_size=12,
)
# Keys as the entry builder hands them on: text without lone surrogates (it cleans keys).
_KEY = st.text(
    alphabet=st.sampled_from(list('ab}{"\\\n%é\u2028')) | st.characters(exclude_categories=["Cs"]),
    max_size=8,
).filter(lambda key: key != "audit")
_VALUE = st.one_of(
    _TEXT,
    st.integers(-(2**70), 2**70),  # beyond 64 bits: orjson refuses, the format converts
    st.booleans(),
    st.none(),
    st.lists(_TEXT, max_size=3),
    st.dictionaries(_KEY, _TEXT, max_size=3),
)
_ENTRY = st.dictionaries(_KEY, _VALUE, max_size=5)
# Where the chain stands before the batch: its start, and seqs just before a new
# thousand, a new million, a new power of ten.
_SEQ = st.one_of(
    st.integers(0, 3000),
    st.sampled_from([998, 999, 1000, 9_990, 999_999, 10**9 - 7]),
    st.integers(0, 10**12),
)


def _reference(
    entries: list[dict[str, Any]], *, seq: int, prev: bytes, run: int, key: bytes | None
) -> tuple[bytes, bytes]:
    """The sealed lines as the format defines them, written the plain way."""
    tail = b',"alg":"' + (b"hmac-sha256" if key else b"sha256") + b'"'
    if key is not None:
        tail += b',"key_id":"' + AuditKey(key).key_id.encode() + b'"'
    tail += b',"writer":"w-1"'
    out = b""
    for start in range(0, len(entries), run):
        shorts = []
        for entry in entries[start : start + run]:
            seq += 1
            line = JsonFormat()(entry)  # the JSON format's line, separators escaped
            assert line.endswith(b"}\n")
            shorts.append(line[:-2] + b',"audit":{"seq":' + str(seq).encode())
        shared = b',"prev":"' + prev + b'"' + tail
        data = shorts[0] + shared + b"".join(b"\n" + short for short in shorts[1:])
        if key is None:
            prev = hashlib.sha256(data).hexdigest().encode()
        else:
            prev = hmac.new(key, data, "sha256").hexdigest().encode()
        out += b"".join(short + shared + b',"hash":"' + prev + b'"}}\n' for short in shorts)
    return out, prev


@settings(max_examples=120, deadline=None)
@given(
    batches=st.lists(st.lists(_ENTRY, min_size=1, max_size=40), min_size=1, max_size=3),
    seq=_SEQ,
    run=st.one_of(st.integers(1, 40), st.sampled_from([999, 1000, 1024])),
    keyed=st.booleans(),
)
def test_any_batch_is_sealed_as_the_format_defines(
    batches: list[list[dict[str, Any]]], seq: int, run: int, keyed: bool
) -> None:
    key = b"property-key" if keyed else None
    writer = AuditWriter(
        Path("unused.jsonl"),
        AuditKey(key) if key else None,
        writer="w-1",
        run=run,
        checkpoint_entries=10**15,  # no checkpoint record among the lines
    )
    writer._opened = True  # pyright: ignore[reportPrivateUsage] - no opening record here
    writer.seq = seq
    prev = writer.prev
    for batch in batches:
        expected, prev = _reference(batch, seq=seq, prev=prev, run=run, key=key)
        assert bytes(writer.seal(batch)) == expected
        seq += len(batch)
        assert (writer.seq, writer.prev) == (seq, prev)


def test_long_batches_cross_thousands_in_one_run() -> None:
    """A run of 1,024 lines from seq 1,990 spans three thousands: 1,991 ... 3,014."""
    entries: list[dict[str, Any]] = [{"n": n} for n in range(1024)]
    writer = AuditWriter(Path("unused.jsonl"), None, writer="w-1", run=1024)
    writer._opened = True  # pyright: ignore[reportPrivateUsage]
    writer.seq = 1990
    expected, _ = _reference(entries, seq=1990, prev=writer.prev, run=1024, key=None)
    sealed = bytes(writer.seal(entries))
    assert sealed == expected
    lines = sealed.splitlines()
    assert b'"n":0,"audit":{"seq":1991,' in lines[0]
    assert b'"n":9,"audit":{"seq":2000,' in lines[9]
    assert b'"n":1009,"audit":{"seq":3000,' in lines[1009]
    assert b'"n":1023,"audit":{"seq":3014,' in lines[-1]
