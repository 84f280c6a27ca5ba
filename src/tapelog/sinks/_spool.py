"""The disk spool: undelivered batches kept on disk until the receiver acknowledges them.

``DiskSpool`` keeps batches oldest first, hands out the oldest for another attempt
(``head``), deletes it once the receiver acknowledged it (``ack``), and stays under a size
cap by dropping the oldest batches, which the caller counts. Without a ``spool_dir`` the
sinks use ``_batching.MemorySpool``, which behaves the same but does not survive exit.

A spool directory (after Vector's disk buffer and Fluent Bit's filesystem chunks)::

    spool_dir/
      LOCK                    flock()ed by the one process that owns this directory
      0000000000000042.batch  one file per batch, replayed in name order, deleted on ack
      poison/                 batches the receiver refused for good: NDJSON + .reason.json
      pid-4242/               the spool of a process that found spool_dir owned by another

A batch file is the magic ``TLSPOOL1`` followed by frames. A frame is the payload length
(4 bytes, big-endian), a CRC32 over those 4 bytes and the payload (4 bytes, big-endian),
then the payload. A payload's first byte says what it holds: the first frame is the batch
header, ``H`` and JSON ``{"v": 1, "key": ..., "count": ..., "created": ...}``; each
further frame is one entry, ``E`` and JSON. A file is written
to a temporary name, fsynced, renamed into place and its directory fsynced, so a batch
file is either whole or absent after a crash; the checksums catch the rest (a bad disk, a
hand edit), and a damaged frame is skipped and counted, never delivered.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import struct
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast, final

import orjson

from tapelog.exceptions import SinkError
from tapelog.formats._json import dumps
from tapelog.sinks._batching import DecodedBatch, Dropped, Parked, oldest_to_drop, take_head


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tapelog._stats import SinkCounters
    from tapelog.typing import EventDict


__all__ = [
    "MAGIC",
    "DiskSpool",
    "FrameScan",
    "close_spool",
    "decode_batch",
    "encode_batch",
    "encode_frames",
    "open_spool",
    "scan_frames",
]

MAGIC: Final = b"TLSPOOL1"
_FRAME: Final = struct.Struct(">II")  # payload length, CRC32 of (length bytes + payload)
_LENGTH: Final = struct.Struct(">I")
_SUFFIX: Final = ".batch"
_LOCK_NAME: Final = "LOCK"
_POISON: Final = "poison"
_ORPHAN_PREFIX: Final = "pid-"
_FILE_MODE: Final = 0o600  # entries may hold what redaction missed: owner only
_DIR_MODE: Final = 0o700
_KEY: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_HEAD: Final = len(MAGIC) + _FRAME.size
_MAX_HEADER: Final = 4096  # a header frame is about 100 bytes
_HEADER_TAG: Final = b"H"  # the first byte of a payload says what it is
_ENTRY_TAG: Final = b"E"


# -- framing --------------------------------------------------------------------------


def encode_frames(payloads: Sequence[bytes]) -> bytes:
    """Return ``MAGIC`` followed by one checksummed frame per payload."""
    parts = [MAGIC]
    for payload in payloads:
        length = _LENGTH.pack(len(payload))
        parts.append(_FRAME.pack(len(payload), zlib.crc32(payload, zlib.crc32(length))))
        parts.append(payload)
    return b"".join(parts)


@final
@dataclass(frozen=True, slots=True)
class FrameScan:
    """What ``scan_frames`` found in a spool file."""

    payloads: list[bytes]
    """The payloads whose checksum matched, in file order."""
    bad: int = 0
    """Frames skipped because their checksum did not match."""
    truncated: bool = False
    """The data ended inside a frame."""
    magic: bool = True
    """The data started with ``MAGIC`` (if not, nothing else was read)."""

    @property
    def clean(self) -> bool:
        """Nothing was wrong with the framing."""
        return self.magic and not self.bad and not self.truncated


def scan_frames(data: bytes) -> FrameScan:
    """Read the frames of a spool file, skipping (and counting) damaged ones."""
    if not data.startswith(MAGIC):
        return FrameScan([], magic=False)
    payloads: list[bytes] = []
    bad = 0
    offset = len(MAGIC)
    end = len(data)
    while offset < end:
        if end - offset < _FRAME.size:
            return FrameScan(payloads, bad, truncated=True)
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        if length > end - start:
            return FrameScan(payloads, bad, truncated=True)
        payload = data[start : start + length]
        if zlib.crc32(payload, zlib.crc32(data[offset : offset + 4])) == crc:
            payloads.append(payload)
        else:
            bad += 1
        offset = start + length
    return FrameScan(payloads, bad)


# -- batches --------------------------------------------------------------------------


def encode_batch(key: str, entries: Sequence[EventDict], *, created: float | None = None) -> bytes:
    """Return a whole batch file: the header frame, then one frame per entry."""
    header = {"v": 1, "key": key, "count": len(entries), "created": created or time.time()}
    frames = [_HEADER_TAG + orjson.dumps(header)]
    frames.extend(_ENTRY_TAG + dumps(entry) for entry in entries)
    return encode_frames(frames)


def _header(payload: bytes) -> tuple[str, int] | None:
    """The key and count of a header frame; None if it is not one (or not a safe one)."""
    if not payload.startswith(_HEADER_TAG):
        return None
    try:
        loaded: object = orjson.loads(payload[1:])
    except orjson.JSONDecodeError:
        return None
    if not isinstance(loaded, dict):
        return None
    header = cast("dict[str, object]", loaded)
    key, count = header.get("key"), header.get("count")
    # The key becomes a header value and a file name: nothing but a UUID-like token.
    if header.get("v") != 1 or not isinstance(key, str) or not _KEY.fullmatch(key):
        return None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        return None
    return key, count


def decode_batch(data: bytes) -> DecodedBatch:
    """Read a batch file; damage is counted, never raised."""
    scan = scan_frames(data)
    damaged = scan.bad + (1 if scan.truncated or not scan.magic else 0)
    payloads = scan.payloads
    header = _header(payloads[0]) if payloads else None
    if header is None:
        key, count = None, None
        damaged = max(damaged, 1)
    else:
        key, count = header
    entries: list[EventDict] = []
    for payload in payloads:
        if not payload.startswith(_ENTRY_TAG):
            continue  # the header (good or bad)
        try:
            entry: object = orjson.loads(payload[1:])
        except orjson.JSONDecodeError:
            damaged += 1
            continue
        if isinstance(entry, dict):
            entries.append(cast("EventDict", entry))
        else:
            damaged += 1
    return DecodedBatch(key, count, entries, damaged)


# -- the disk spool -------------------------------------------------------------------


def _lock(fd: int) -> bool:
    """Take an exclusive lock on ``fd`` without waiting; True if this process has it now."""
    if sys.platform == "win32":  # pragma: no cover - no flock on Windows: one process per dir
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _open_lock(directory: Path) -> int | None:
    """Open and lock ``directory/LOCK``; None when another process holds it."""
    fd = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, _FILE_MODE)
    if _lock(fd):
        return fd
    os.close(fd)
    return None


def _fsync_dir(directory: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _seq_of(path: Path) -> int | None:
    stem = path.name.removesuffix(_SUFFIX)
    return int(stem) if path.name.endswith(_SUFFIX) and stem.isdigit() else None


def _batch_files(directory: Path) -> list[tuple[int, Path]]:
    found: list[tuple[int, Path]] = []
    for path in directory.iterdir():
        seq = _seq_of(path)
        if seq is not None:
            found.append((seq, path))
    found.sort()
    return found


@final
class DiskSpool:
    """A directory of batch files, replayed in order, bounded by ``max_size``.

    Built by :func:`open_spool`, which shares one instance per directory within a process
    (so a reconfigured sink picks up its predecessor's backlog) and takes the directory's
    lock against other processes. Thread-safe: during a reconfiguration two sinks may use
    one spool, and ``head`` never hands the same batch to both.

    Attributes:
        directory: where this process's batch files are (``spool_dir``, or
            ``spool_dir/pid-N`` when another process owns ``spool_dir``).
        recovered: batches and entries left by earlier processes, found at open or adopted
            since, and not yet reported (``take_recovered``).
        corrupt_files: files whose header could not be read.
    """

    def __init__(self, root: Path, max_size: int) -> None:
        self.root = root
        self.max_size = max_size
        self._lock = threading.Lock()
        self._parked: list[Parked] = []
        self._size = 0
        self._entries = 0
        self._next_seq = 0
        self.users = 0  # sinks of this process using it (open_spool, close_spool)
        self.closed = False
        self.recovered = (0, 0)
        self.corrupt_files = 0
        self.directory, self._lock_fd = self._claim(root)
        self._recover(self.directory)
        self.adopt_orphans()

    # -- opening ------------------------------------------------------------------

    @staticmethod
    def _claim(root: Path) -> tuple[Path, int | None]:
        """Lock ``root``, or failing that a ``pid-N`` directory of this process's own."""
        try:
            root.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            fd = _open_lock(root)
            if fd is not None:
                return root, fd
            own = root / f"{_ORPHAN_PREFIX}{os.getpid()}"
            own.mkdir(mode=_DIR_MODE, exist_ok=True)
            return own, _open_lock(own)
        except OSError as exc:
            msg = f"cannot open spool directory {str(root)!r}: {exc.strerror or exc}"
            raise SinkError(msg) from exc

    def _recover(self, directory: Path) -> None:
        """Index the batch files found in ``directory`` (an earlier run's), oldest first."""
        self._salvage_temporaries(directory)
        batches = entries = 0
        for seq, path in _batch_files(directory):
            parked = self._index_file(path)
            self._next_seq = max(self._next_seq, seq + 1)
            if parked is None:
                continue
            batches += 1
            entries += parked.count
        previous_batches, previous_entries = self.recovered
        self.recovered = (previous_batches + batches, previous_entries + entries)

    def _index_file(self, path: Path) -> Parked | None:
        try:
            with path.open("rb") as stream:
                start = stream.read(_HEAD)
                length = _FRAME.unpack_from(start, len(MAGIC))[0] if len(start) == _HEAD else 0
                data = start + stream.read(min(length, _MAX_HEADER))
            size = path.stat().st_size
        except OSError:
            return None
        scan = scan_frames(data)
        header = _header(scan.payloads[0]) if scan.payloads else None
        if header is None:
            # Damaged header: keep the file; load() salvages the good entry frames and
            # sends them under a key derived from the content, the same in every process.
            self.corrupt_files += 1
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
            except OSError:
                return None
            key, count = f"salvaged-{digest}", 0
        else:
            key, count = header
        parked = Parked(key, count, size, None, path=path)
        self._parked.append(parked)
        self._size += size
        self._entries += count
        return parked

    def adopt_orphans(self) -> int:
        """Take over ``pid-N`` spools whose processes are gone; return the batches taken."""
        if self.directory != self.root:
            return 0  # only the owner of the root adopts, so two processes never race
        taken = 0
        for orphan in sorted(self.root.glob(f"{_ORPHAN_PREFIX}*")):
            if not orphan.is_dir():
                continue
            try:
                fd = _open_lock(orphan)
            except OSError:
                continue
            if fd is None:
                continue  # its process is alive
            try:
                taken += self._adopt(orphan)
            except OSError:
                continue  # unreadable or not ours to move: left where it is
            finally:
                os.close(fd)
        return taken

    def _adopt(self, orphan: Path) -> int:
        with self._lock:
            self._salvage_temporaries(orphan)
            moved: list[Path] = []
            for _, path in _batch_files(orphan):
                target = self.directory / f"{self._next_seq:016d}{_SUFFIX}"
                self._next_seq += 1
                path.replace(target)
                moved.append(target)
            poison = orphan / _POISON
            if poison.is_dir():
                (self.root / _POISON).mkdir(mode=_DIR_MODE, exist_ok=True)
                for item in poison.iterdir():
                    item.replace(self.root / _POISON / item.name)
                poison.rmdir()
            (orphan / _LOCK_NAME).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                orphan.rmdir()
            _fsync_dir(self.directory)
            batches = entries = 0
            for path in moved:
                parked = self._index_file(path)
                if parked is not None:
                    batches += 1
                    entries += parked.count
            previous_batches, previous_entries = self.recovered
            self.recovered = (previous_batches + batches, previous_entries + entries)
            return batches

    @staticmethod
    def _salvage_temporaries(directory: Path) -> None:
        """Turn the ``.tmp`` files a killed writer left in ``directory`` into batch files.

        A ``.tmp`` file is a batch being written when its process died: never attempted
        (a batch is on disk before its first attempt), so it may hold the only copy of its
        entries. It becomes the batch file it was going to be (same sequence number, so
        the order holds): renamed as it is when whole, else its whole entry frames are
        written again under its key. Only a file without a single whole entry is deleted.
        """
        for stale in sorted(directory.glob("*.tmp")):
            target = stale.with_suffix(_SUFFIX)
            try:
                if target.exists() or _seq_of(target) is None:
                    continue  # not a batch of ours in the making: left alone
                data = stale.read_bytes()
                decoded = decode_batch(data)
                if not decoded.entries:
                    stale.unlink()  # not one whole entry in it: nothing to lose
                elif decoded.complete:
                    stale.replace(target)
                else:
                    key = decoded.key or f"salvaged-{hashlib.sha256(data).hexdigest()[:32]}"
                    rewritten = stale.with_suffix(".salvage")
                    _write_synced(rewritten, encode_batch(key, decoded.entries))
                    rewritten.replace(target)
                    stale.unlink()
                _fsync_dir(directory)
            except OSError:
                continue  # left as it is, for the next start to try again

    def take_recovered(self) -> tuple[int, int]:
        """Batches and entries found from earlier runs since the last call (to report once)."""
        with self._lock:
            taken, self.recovered = self.recovered, (0, 0)
        return taken

    # -- the Backlog protocol -----------------------------------------------------

    @property
    def durable(self) -> bool:
        """True: parked batches survive a restart."""
        return True

    @property
    def entries(self) -> int:
        """Entries parked (as far as the batch headers tell)."""
        return self._entries

    @property
    def size(self) -> int:
        """Bytes of batch files."""
        return self._size

    @property
    def batches(self) -> int:
        """Batch files."""
        return len(self._parked)

    def put(
        self,
        key: str,
        entries: list[EventDict],
        owner: SinkCounters | None,
        *,
        prepared: list[Any] | None = None,  # noqa: ARG002 - kept in memory spools only
        size: int = 0,  # noqa: ARG002 - a disk spool measures the file it writes
        hold: bool = False,
        sync: bool = True,
    ) -> tuple[Parked | None, list[Dropped]]:
        """Write a batch file (fsynced), dropping the oldest files while it does not fit.

        ``sync=False`` writes and renames without ``fsync``: the file survives the process
        (a kill, a crash) but not necessarily a power loss, until ``sync`` is called.

        Raises:
            SinkError: the file could not be written (disk full, permissions).
        """
        data = encode_batch(key, entries)
        if len(data) > self.max_size:
            return None, []
        with self._lock:
            dropped: list[Dropped] = []
            for old in oldest_to_drop(self._parked, self._size + len(data), self.max_size):
                decoded = self._read(old)
                self._forget(old)
                dropped.append(Dropped(old, decoded.entries, decoded.lost))
            seq = self._next_seq
            self._next_seq += 1
            path = self.directory / f"{seq:016d}{_SUFFIX}"
            self._write(path, data, sync=sync)
            parked = Parked(key, len(entries), len(data), owner, path=path)
            parked.inflight = hold
            self._parked.append(parked)
            self._size += len(data)
            self._entries += parked.count
        return parked, dropped

    def sync(self, parked: Parked) -> None:
        """Make a batch file written with ``sync=False`` durable (fsync it and the directory)."""
        path = parked.path
        if path is None:
            return
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            _fsync_dir(path.parent)
        except OSError:
            pass  # gone (acknowledged meanwhile) or unreadable: nothing more to make durable

    def _write(self, path: Path, data: bytes, *, sync: bool = True) -> None:
        temporary = path.with_suffix(".tmp")
        try:
            fd = os.open(
                temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, _FILE_MODE
            )
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                if sync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            temporary.replace(path)
            if sync:
                _fsync_dir(path.parent)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            msg = f"cannot write spool file {str(path)!r}: {exc.strerror or exc}"
            raise SinkError(msg) from exc

    def head(self) -> Parked | None:
        """The oldest batch not being attempted, marked as being attempted."""
        with self._lock:
            return take_head(self._parked)

    def load(self, parked: Parked) -> DecodedBatch:
        """Read the batch file back; damage is counted in the result."""
        return self._read(parked)

    @staticmethod
    def _read(parked: Parked) -> DecodedBatch:
        path = parked.path
        try:
            data = path.read_bytes() if path is not None else b""
        except OSError:
            data = b""
        decoded = decode_batch(data)
        if decoded.count is None:
            # Header lost: nothing to compare with except what the index knew.
            return DecodedBatch(None, max(parked.count, len(decoded.entries)), decoded.entries, 1)
        return decoded

    def ack(self, parked: Parked) -> None:
        """Delete the batch file (unsynced: one that reappears after a crash is sent again)."""
        with self._lock:
            self._forget(parked)

    def _forget(self, parked: Parked) -> None:
        if parked not in self._parked:
            return
        self._parked.remove(parked)
        self._size -= parked.size
        self._entries -= parked.count
        if parked.path is not None:
            parked.path.unlink(missing_ok=True)

    def release(self, parked: Parked) -> None:
        """Put a batch back first in line."""
        parked.inflight = False

    # -- poison -------------------------------------------------------------------

    def set_aside(self, key: str, entries: Sequence[EventDict], reason: dict[str, object]) -> Path:
        """Keep a batch the receiver refused for good in ``poison/`` as NDJSON, with why.

        The poison directory is kept under ``max_size`` too, oldest files first; its
        batches were already counted as failed, so pruning it changes no counter.
        """
        directory = self.root / _POISON
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = directory / f"{stamp}-{key}.ndjson"
        try:
            directory.mkdir(mode=_DIR_MODE, exist_ok=True)
            self._write(path, b"".join(dumps(entry, newline=True) for entry in entries))
            self._write(path.with_suffix(".reason.json"), dumps({"key": key, **reason}))
            self._prune(directory)
        except (OSError, SinkError):
            return path  # the batch is counted failed either way; keeping it is a courtesy
        return path

    def _prune(self, directory: Path) -> None:
        files = sorted(p for p in directory.iterdir() if p.suffix in {".ndjson", ".json"})
        total = sum(p.stat().st_size for p in files)
        for path in files:
            if total <= self.max_size:
                break
            total -= path.stat().st_size
            path.unlink(missing_ok=True)

    # -- lifetime -----------------------------------------------------------------

    def close(self) -> None:
        """Release the directory lock. The batch files stay for the next process."""
        with self._lock:
            self.closed = True
            fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)

    def after_fork(self) -> None:
        """In a forked child: drop the inherited descriptor; the parent keeps the lock."""
        self.closed = True
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


# -- one DiskSpool per directory per process ------------------------------------------

_OPEN: dict[Path, DiskSpool] = {}
_OPEN_LOCK = threading.Lock()


def open_spool(directory: str | os.PathLike[str], max_size: int) -> DiskSpool:
    """Open (or share, within this process) the spool in ``directory``; pair with ``close_spool``.

    Raises:
        SinkError: the directory cannot be created or locked.
    """
    root = Path(directory).absolute()
    with _OPEN_LOCK:
        spool = _OPEN.get(root)
        if spool is None or spool.closed:
            spool = _OPEN[root] = DiskSpool(root, max_size)
        spool.max_size = max_size
        spool.users += 1
        return spool


def close_spool(spool: DiskSpool) -> None:
    """One user fewer; the last one releases the directory."""
    with _OPEN_LOCK:
        spool.users -= 1
        if spool.users > 0:
            return
        if _OPEN.get(spool.root) is spool:
            del _OPEN[spool.root]
    spool.close()


def _after_fork_in_child() -> None:
    # The child's spools are its own: the parent keeps the directories and their locks.
    for spool in _OPEN.values():
        spool.after_fork()
    _OPEN.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
