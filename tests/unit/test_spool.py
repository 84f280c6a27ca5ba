"""The disk spool: framing, batch files, order, the size cap, damage, locking and orphans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tapelog._stats import SinkCounters
from tapelog.sinks._batching import MemorySpool
from tapelog.sinks._spool import (
    MAGIC,
    DiskSpool,
    close_spool,
    decode_batch,
    encode_batch,
    encode_frames,
    open_spool,
    scan_frames,
)


if TYPE_CHECKING:
    from pathlib import Path

payloads = st.lists(st.binary(max_size=64), max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=4,
)
entries_strategy = st.lists(
    st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=4), max_size=5
)


def batch_entries(count: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"level": "info", "message": "m", "i": start + i} for i in range(count)]


class TestFraming:
    @given(payloads)
    def test_roundtrip(self, items: list[bytes]) -> None:
        """Any payloads written are read back identically, and the scan is clean."""
        scan = scan_frames(encode_frames(items))

        assert (items, True) == (scan.payloads, scan.clean)

    @given(payloads.filter(bool), st.data())
    def test_truncation_yields_a_prefix(self, items: list[bytes], data: st.DataObject) -> None:
        """A file cut anywhere gives back a prefix of its payloads, never a wrong one."""
        encoded = encode_frames(items)
        cut = data.draw(st.integers(0, len(encoded) - 1))
        scan = scan_frames(encoded[:cut])

        assert scan.payloads == items[: len(scan.payloads)]
        assert len(scan.payloads) < len(items) or not scan.clean

    @given(payloads.filter(bool), st.data())
    def test_a_flipped_byte_is_detected(self, items: list[bytes], data: st.DataObject) -> None:
        """Changing any one byte is noticed, and only intact payloads come back."""
        encoded = bytearray(encode_frames(items))
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] ^= data.draw(st.integers(1, 255))
        scan = scan_frames(bytes(encoded))

        assert not scan.clean
        assert all(payload in items for payload in scan.payloads)

    def test_wrong_magic(self) -> None:
        """Data that is not a spool file yields nothing."""
        scan = scan_frames(b"NOTSPOOL" + encode_frames([b"x"])[len(MAGIC) :])

        assert ([], False) == (scan.payloads, scan.magic)


class TestBatchFile:
    @given(entries_strategy)
    def test_roundtrip(self, entries: list[dict[str, Any]]) -> None:
        """A batch's key and entries are read back identically."""
        decoded = decode_batch(encode_batch("k-1", entries, created=1.0))

        assert ("k-1", len(entries), entries, True) == (
            decoded.key,
            decoded.count,
            decoded.entries,
            decoded.complete,
        )

    @given(entries_strategy, st.data())
    def test_truncation_is_detected(
        self, entries: list[dict[str, Any]], data: st.DataObject
    ) -> None:
        """A truncated batch is never complete, and what it yields is a prefix."""
        encoded = encode_batch("k", entries, created=1.0)
        decoded = decode_batch(encoded[: data.draw(st.integers(0, len(encoded) - 1))])

        assert not decoded.complete
        assert decoded.entries == entries[: len(decoded.entries)]

    @given(entries_strategy, st.data())
    def test_corruption_is_detected(
        self, entries: list[dict[str, Any]], data: st.DataObject
    ) -> None:
        """A batch with one byte changed is never complete, and yields only real entries."""
        encoded = bytearray(encode_batch("k", entries, created=1.0))
        position = data.draw(st.integers(0, len(encoded) - 1))
        encoded[position] ^= data.draw(st.integers(1, 255))
        decoded = decode_batch(bytes(encoded))

        assert not decoded.complete
        assert all(entry in entries for entry in decoded.entries)

    def test_lost_counts_missing_entries(self) -> None:
        """Entries the header promised but the file lacks are counted as lost."""
        encoded = encode_batch("k", batch_entries(5))
        decoded = decode_batch(encoded[: len(encoded) - 3])

        assert (4, 1) == (len(decoded.entries), decoded.lost)

    def test_unsafe_key_is_refused(self) -> None:
        """A header whose key could inject a header or a path is treated as damaged."""
        decoded = decode_batch(encode_batch("../../etc/x\r\n", batch_entries(1), created=1.0))

        assert (None, 1) == (decoded.key, len(decoded.entries))


class TestDiskSpool:
    def test_order_ack_and_release(self, tmp_path: Path) -> None:
        """Batches come out oldest first; a released batch stays first; ack deletes its file."""
        spool = DiskSpool(tmp_path, 1 << 20)
        counters = SinkCounters()
        first, _ = spool.put("a", batch_entries(2), counters)
        spool.put("b", batch_entries(3, 2), counters)
        head = spool.head()
        assert head is first
        assert spool.head() is not first  # the first is being attempted
        spool.release(first)
        spool.release(spool._parked[1])
        assert first is not None
        assert spool.head() is first
        spool.ack(first)

        assert (1, 3, ["b"]) == (
            spool.batches,
            spool.entries,
            [decode_batch(p.read_bytes()).key for p in sorted(tmp_path.glob("*.batch"))],
        )
        spool.close()

    def test_recovery_after_restart(self, tmp_path: Path) -> None:
        """A new spool on the same directory finds the batches in order, as inherited."""
        spool = DiskSpool(tmp_path, 1 << 20)
        for n in range(3):
            spool.put(f"key-{n}", batch_entries(2, 2 * n), SinkCounters())
        spool.close()
        again = DiskSpool(tmp_path, 1 << 20)
        keys, entries = [], []
        while (parked := again.head()) is not None:
            decoded = again.load(parked)
            keys.append(decoded.key)
            entries += [e["i"] for e in decoded.entries]
            assert parked.inherited
            again.ack(parked)

        assert (["key-0", "key-1", "key-2"], list(range(6)), (3, 6)) == (
            keys,
            entries,
            (3, 6),
        )
        assert [] == list(tmp_path.glob("*.batch"))
        again.close()

    def test_recovered_is_reported_once(self, tmp_path: Path) -> None:
        """take_recovered gives what earlier runs left, then nothing."""
        spool = DiskSpool(tmp_path, 1 << 20)
        spool.put("a", batch_entries(4), SinkCounters())
        spool.close()
        again = DiskSpool(tmp_path, 1 << 20)

        assert ((1, 4), (0, 0)) == (again.take_recovered(), again.take_recovered())
        again.close()

    def test_cap_drops_the_oldest(self, tmp_path: Path) -> None:
        """When full, the oldest batches are dropped and handed back with their entries."""
        size = len(encode_batch("x" * 36, batch_entries(10)))
        spool = DiskSpool(tmp_path, size * 2 + size // 2)
        counters = SinkCounters()
        for n in range(3):
            _, dropped = spool.put(f"{n:036d}", batch_entries(10, 10 * n), counters)

        assert 1 == len(dropped)
        assert list(range(10)) == [e["i"] for e in dropped[0].entries]
        assert 2 == spool.batches
        assert spool.size <= spool.max_size
        spool.close()

    def test_a_batch_larger_than_the_cap_is_refused(self, tmp_path: Path) -> None:
        """A single batch over the cap is not written."""
        spool = DiskSpool(tmp_path, 64)

        assert (None, []) == spool.put("k", batch_entries(10), SinkCounters())
        spool.close()

    def test_damaged_file_is_salvaged(self, tmp_path: Path) -> None:
        """A file with a broken header is counted corrupt; its intact entries still come back."""
        spool = DiskSpool(tmp_path, 1 << 20)
        parked, _ = spool.put("k", batch_entries(3), SinkCounters())
        spool.close()
        assert parked is not None
        assert parked.path is not None
        data = bytearray(parked.path.read_bytes())
        data[20] ^= 0xFF  # inside the header frame's payload
        parked.path.write_bytes(bytes(data))
        again = DiskSpool(tmp_path, 1 << 20)
        head = again.head()
        assert head is not None
        decoded = again.load(head)

        assert (1, [0, 1, 2], True) == (
            again.corrupt_files,
            [e["i"] for e in decoded.entries],
            head.key.startswith("salvaged-"),
        )
        again.close()

    def test_unfinished_writes_are_removed(self, tmp_path: Path) -> None:
        """A temporary file from an interrupted write is deleted at open, never replayed."""
        (tmp_path / "0000000000000007.tmp").write_bytes(b"partial")
        spool = DiskSpool(tmp_path, 1 << 20)

        assert ([], 0) == (list(tmp_path.glob("*.tmp")), spool.batches)
        spool.close()

    def test_files_are_private(self, tmp_path: Path) -> None:
        """Batch files are readable by their owner only."""
        spool = DiskSpool(tmp_path / "spool", 1 << 20)
        parked, _ = spool.put("k", batch_entries(1), SinkCounters())
        assert parked is not None
        assert parked.path is not None

        assert (0o600, 0o700) == (
            parked.path.stat().st_mode & 0o777,
            (tmp_path / "spool").stat().st_mode & 0o777,
        )
        spool.close()

    def test_set_aside_keeps_ndjson_and_a_reason(self, tmp_path: Path) -> None:
        """A refused batch is kept as NDJSON beside a JSON file saying why."""
        spool = DiskSpool(tmp_path, 1 << 20)
        path = spool.set_aside("k", batch_entries(2), {"status": 400})

        assert [0, 1] == [json.loads(line)["i"] for line in path.read_text().splitlines()]
        assert {"key": "k", "status": 400} == json.loads(
            path.with_suffix(".reason.json").read_text()
        )
        spool.close()

    def test_open_spool_shares_one_instance_per_directory(self, tmp_path: Path) -> None:
        """Two sinks of one process on one directory share a spool; the last close releases it."""
        first = open_spool(tmp_path, 1 << 20)
        second = open_spool(str(tmp_path), 1 << 20)
        assert first is second
        close_spool(first)
        assert not first.closed
        close_spool(second)

        assert first.closed

    def test_a_locked_directory_gets_a_pid_directory_then_is_adopted(self, tmp_path: Path) -> None:
        """While another process owns the directory a spool uses pid-N; the owner adopts it later."""
        holder = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import fcntl, os, sys
                    fd = os.open({str(tmp_path / "LOCK")!r}, os.O_RDWR | os.O_CREAT)
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    print("locked", flush=True)
                    sys.stdin.read()
                    """
                ),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert "locked" == holder.stdout.readline().strip()
            second = DiskSpool(tmp_path, 1 << 20)
            second.put("from-second", batch_entries(2), SinkCounters())
            assert tmp_path / f"pid-{os.getpid()}" == second.directory
            second.close()
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(10)
            assert holder.stdout is not None
            holder.stdout.close()
        owner = DiskSpool(tmp_path, 1 << 20)
        head = owner.head()

        assert head is not None
        assert ("from-second", tmp_path, False) == (
            owner.load(head).key,
            owner.directory,
            (tmp_path / f"pid-{os.getpid()}").exists(),
        )
        owner.close()

    def test_unwritable_directory_raises_sink_error(self, tmp_path: Path) -> None:
        """A spool directory that cannot be created is reported as a SinkError naming it."""
        from tapelog.exceptions import SinkError

        blocker = tmp_path / "file"
        blocker.write_text("not a directory")

        with pytest.raises(SinkError, match="cannot open spool directory"):
            DiskSpool(blocker / "spool", 1 << 20)


class TestMemorySpool:
    def test_cap_drops_the_oldest(self) -> None:
        """Over the cap, the oldest batches make room, and are handed back."""
        spool = MemorySpool(100)
        counters = SinkCounters()
        spool.put("a", batch_entries(1), counters, size=60)
        _, dropped = spool.put("b", batch_entries(1, 1), counters, size=60)

        assert (["a"], 1, False) == ([d.parked.key for d in dropped], spool.entries, spool.durable)

    def test_take_all_empties_it(self) -> None:
        """A closing sink takes everything out at once."""
        spool = MemorySpool(1000)
        spool.put("a", batch_entries(2), None, size=10)
        taken = spool.take_all()

        assert (["a"], 0, None) == ([p.key for p in taken], spool.entries, spool.head())
