"""The writing side of the audit chain: one chain per writing process, across files.

Each audited line ends with the ``audit`` object, and ``hash`` is its last key::

    {"timestamp":...,"message":"...","audit":{"seq":7,"prev":"<hex>","alg":"sha256","writer":"w","hash":"<hex>"}}

A hash seals a *run*: up to ``RUN`` lines written one after the other in one batch
(fewer when the batch ends). Every line of a run carries the run's ``prev`` (the hash of
the run before, so the runs form a chain), ``alg``, ``key_id``, ``writer`` and ``hash``,
the same on each of its lines. The hashed bytes are the run's first line from its first
byte up to (not including) ``,"hash":"`` (the entry as written, then ``seq``, ``prev``,
``alg``, ``key_id``, ``writer``), then, for each other line, a newline and that line up
to (not including) ``,"prev":"`` (the entry and its ``seq``): what follows is the same
on every line of the run, and ``verify`` checks that it is. A run of one line is the
line alone (the format before runs, which ``verify`` still reads). One hash a run, not
a line: a fresh SHA-256 a line measured most of sealing's cost. ``verify`` recomputes
each run's hash from the bytes it reads, so it never re-serialises anything. With a key
the hash is HMAC-SHA256 and ``key_id`` names the key (not the key itself).

The chain writes a few records of its own (logger ``tapelog.audit``): ``audit.opened``
when a process starts its chain, ``audit.rotated`` naming the file that came before
(its name and size), ``audit.checkpoint`` every N entries or T seconds (also appended
to a side file, to be shipped elsewhere), ``audit.retention`` before retention removes
audited files, and ``audit.closed`` when the sink closes. See ``docs/audit.md``.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import socket
import threading
import time
from binascii import hexlify
from itertools import repeat
from operator import contains, itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, final

import orjson

from tapelog.exceptions import ConfigError
from tapelog.formats._json import dumps as json_dumps
from tapelog.formats._json import escape_separators


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from tapelog.typing import EventDict


__all__ = [
    "GENESIS",
    "RUN",
    "AuditKey",
    "AuditWriter",
    "key_id_of",
    "load_key",
    "writer_for",
]

GENESIS: Final = "0" * 64
"""The ``prev`` of a chain's first line."""

RUN: Final = 32
"""The most lines one hash seals (a run: lines of one batch, in turn)."""

DEFAULT_KEY_ENV: Final = "TAPELOG_AUDIT_KEY"
AUDIT_LOGGER: Final = "tapelog.audit"
_HASH_MARK: Final = b',"hash":"'
_LINE_END: Final = b'"}}\n'
_GENESIS: Final = GENESIS.encode()
_IPAD: Final = bytes(byte ^ 0x36 for byte in range(256))
_OPAD: Final = bytes(byte ^ 0x5C for byte in range(256))
_BLOCK: Final = 64  # SHA-256's block size, in bytes
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")


def key_id_of(key: bytes) -> str:
    """A public name for a key: 16 hex digits derived from it (the key cannot be recovered)."""
    return hashlib.sha256(b"tapelog-audit-key-id:" + key).hexdigest()[:16]


def hmac_sha256(key: bytes) -> Callable[[bytes], bytes]:
    """HMAC-SHA256 with ``key``, as hex digits: equal to ``hmac.new(key, data, "sha256")``.

    The key's padded inner and outer states are hashed once (RFC 2104) and copied for each
    message, which measured half the cost of ``hmac.digest`` per line.
    """
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD)).copy
    outer = hashlib.sha256(key.translate(_OPAD)).copy

    def digest(data: bytes) -> bytes:
        first = inner()
        first.update(data)
        second = outer()
        second.update(first.digest())
        return hexlify(second.digest())

    return digest


@final
class AuditKey:
    """An HMAC key and its ``key_id``."""

    __slots__ = ("key", "key_id")

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("an audit key must not be empty")
        self.key = key
        self.key_id = key_id_of(key)


def load_key(
    env: str | None = DEFAULT_KEY_ENV, key_file: str | os.PathLike[str] | None = None
) -> AuditKey | None:
    """The audit key from ``key_file`` (whole file, one trailing newline dropped) or ``env``.

    Raises:
        ConfigError: the key file cannot be read, or it (or the variable) is empty.
    """
    if key_file is not None:
        try:
            raw = Path(key_file).read_bytes()
        except OSError as exc:
            raise ConfigError("audit_key_file", str(key_file), f"a readable file ({exc})") from exc
        raw = raw.removesuffix(b"\n").removesuffix(b"\r")
        if not raw:
            raise ConfigError("audit_key_file", str(key_file), "a file holding a non-empty key")
        return AuditKey(raw)
    if env:
        value = os.environ.get(env)
        if value is not None:
            if not value:
                raise ConfigError("audit_key_env", env, "a variable holding a non-empty key")
            return AuditKey(value.encode("utf-8"))
    return None


def _line(entry: EventDict | dict[str, Any]) -> bytes:
    """One entry as the JSON format writes it (no newline), whatever orjson refuses."""
    try:
        return orjson.dumps(entry)
    except Exception:
        return json_dumps(entry)


_SEQ_HEAD: Final = b',"audit":{"seq":'
_TRIM: Final = itemgetter(slice(None, -1))  # a line without its closing brace
_THOUSAND: Final = 1000
_digits: list[list[bytes]] = []  # the last three digits and a newline: plain, then padded


def _seq_parts(first: int, count: int) -> tuple[list[bytes], list[bytes]]:
    r"""The ``,"audit":{"seq":`` heads and the digit tails of ``count`` seqs from ``first``.

    A seq is written as a head that holds its thousands (the same for a thousand lines
    in turn) and a tail from a table of its three last digits and a newline (``"7\n"``
    below a thousand, ``"007\n"`` above): two list items, nothing formatted a line.
    """
    if not _digits:  # built on first use: importing the file sink stays cheap
        plain = [b"%d\n" % low for low in range(_THOUSAND)]
        _digits[:] = (plain, [b"%03d\n" % low for low in range(_THOUSAND)])  # at once
    heads: list[bytes] = []
    tails: list[bytes] = []
    thousands, low = divmod(first, _THOUSAND)
    while count > 0:
        take = min(count, _THOUSAND - low)
        heads += [_SEQ_HEAD + b"%d" % thousands if thousands else _SEQ_HEAD] * take
        tails += _digits[1 if thousands else 0][low : low + take]
        count -= take
        thousands, low = thousands + 1, 0
    return heads, tails


def _timestamp(time_ns: int) -> str:
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos // 1000:06d}Z"


@final
class AuditWriter:
    """One process's chain into one audited file (and the files it rotates into).

    Not for direct use: the file sink drives it. ``lock`` is held by the sink across
    sealing and writing, so lines reach the file in chain order. ``writer`` names the
    chain (default: host, pid and a random part); ``run`` is the most lines one hash
    seals (1: a hash a line, the format before runs).
    """

    def __init__(
        self,
        path: Path,
        key: AuditKey | None,
        *,
        checkpoint_entries: int = 10_000,
        checkpoint_interval: float = 60.0,
        checkpoint_file: Path | None = None,
        writer: str | None = None,
        run: int = RUN,
    ) -> None:
        if run < 1:
            raise ValueError(f"an audit run holds at least one line, got {run}")
        self.run = run
        self.path = path
        self.key = key
        self.checkpoint_entries = checkpoint_entries
        self.checkpoint_interval = checkpoint_interval
        self.checkpoint_file = checkpoint_file or path.with_name(path.name + ".checkpoints")
        self.lock = threading.RLock()
        self._start(writer)

    def _start(self, writer: str | None = None) -> None:
        if writer is None:
            host = _UNSAFE.sub("_", socket.gethostname()) or "host"
            writer = f"{host}-{os.getpid()}-{secrets.token_hex(4)}"
        self.writer = writer
        self.seq = 0
        self.prev = _GENESIS
        self._opened = False
        self._closed = False
        self._pending: list[tuple[str, str, dict[str, Any]]] = []
        self._checkpoint_seq = 0
        self._checkpoint_at = time.monotonic()
        self._checkpoints: list[bytes] = []
        key = self.key
        alg = b"hmac-sha256" if key is not None else b"sha256"
        tail = b',"alg":"' + alg + b'"'
        if key is not None:
            tail += b',"key_id":"' + key.key_id.encode() + b'"'
        tail += b',"writer":"' + self.writer.encode() + b'"'
        self._tail = tail
        self._keyed = hmac_sha256(key.key) if key is not None else None

    @property
    def alg(self) -> str:
        """``sha256`` or ``hmac-sha256``."""
        return "hmac-sha256" if self.key is not None else "sha256"

    def after_fork(self) -> None:
        """A forked child is another writer: a new id and a new chain, from the start."""
        self.lock = threading.RLock()
        self._start()

    # -- sealing -------------------------------------------------------------------------

    def _record(self, event: str, message: str, chain: dict[str, Any], out: bytearray) -> None:
        entry = {
            "timestamp": _timestamp(time.time_ns()),
            "level": "info",
            "logger": AUDIT_LOGGER,
            "message": message,
            "event": event,
            "chain": {"writer": self.writer, **chain},
        }
        self._seal([entry], out)

    def _preamble(self, out: bytearray) -> None:
        if not self._opened:
            self._opened = True
            if self.seq == 0:
                chain = {
                    "alg": self.alg,
                    "pid": os.getpid(),
                    "file": self.path.name,
                    "checkpoint_entries": self.checkpoint_entries,
                    "checkpoint_interval_s": self.checkpoint_interval,
                }
                if self.key is not None:
                    chain["key_id"] = self.key.key_id
                self._record("audit.opened", f"audit chain {self.writer} opened", chain, out)
        for event, message, chain in self._pending:
            self._record(event, message, chain, out)
        self._pending.clear()

    def seal(self, entries: Sequence[EventDict]) -> bytearray:
        """Render and seal a batch (with any pending records of the chain's own first).

        An audited file holds JSON lines (the file sink refuses any other format): the
        lines are rendered here, one at a time, with the bytes
        :class:`~tapelog.formats.JsonFormat` writes; a batch buffer split again into lines
        measured a tenth of the cost of auditing a line.
        """
        out = bytearray()
        self._closed = False
        self._preamble(out)
        if any(map(contains, entries, repeat("audit"))):  # tapelog writes this; nothing else
            entries = [{k: v for k, v in e.items() if k != "audit"} for e in entries]
        self._seal(entries, out)
        self._maybe_checkpoint(out)
        return out

    def _seal(self, entries: Iterable[EventDict | dict[str, Any]], out: bytearray) -> None:
        """Append ``entries`` to ``out`` as sealed JSON lines, ``run`` lines a hash.

        The worker's per-entry cost of auditing is this loop: one encoding and one slice a
        line (its closing brace off); a join, a check for non-ASCII text, one hash and one
        replace a run (the lines of a run end alike: their ``prev``, writer and hash are
        the run's). Each line's ``seq`` is not formatted: its digits come from a table
        (``_seq_parts``), since formatting an ``int`` into bytes measured as much as the
        rest of the line's own work. Measured in ``benchmarks/trading_audit.py``.
        """
        seq = self.seq
        prev = self.prev
        tail = self._tail
        keyed = self._keyed
        run = self.run
        encode = orjson.dumps
        trim = _TRIM
        # The heads of the thousand the last run was in (none yet), and its digits' table.
        heads_of = -1
        heads: list[bytes] = []
        padded: list[bytes] = []
        every = entries if isinstance(entries, list) else list(entries)
        for start in range(0, len(every), run):
            lines = every[start : start + run]
            # The JSON format's line (``JsonFormat.__call__``), inlined, without its
            # closing brace, then ``,"audit":{"seq":N`` and a newline, joined once.
            try:
                encoded = [encode(entry) for entry in lines]
            except Exception:  # a value orjson refuses: this run again, converting it
                encoded = [_line(entry) for entry in lines]
            count = len(encoded)
            parts: list[bytes] = [_SEQ_HEAD] * (3 * count)
            parts[::3] = map(trim, encoded)
            thousands, low = divmod(seq + 1, _THOUSAND)
            if thousands == heads_of and low + count <= _THOUSAND:  # a run of one thousand
                parts[1::3] = heads[:count]
                parts[2::3] = padded[low : low + count]
            else:
                parts[1::3], parts[2::3] = _seq_parts(seq + 1, count)
                if thousands:
                    heads_of, heads, padded = thousands, [parts[1]] * run, _digits[1]
            seq += count
            joined = b"".join(parts)
            if not joined.isascii():  # escape the line separators (no newline moves)
                joined = escape_separators(joined)
            shared = b',"prev":"' + prev + b'"' + tail
            # Hashed: the first line up to its hash, then each other line up to its prev.
            cut = joined.find(b"\n")
            data = b"".join((joined[:cut], shared, joined[cut:-1]))
            prev = hexlify(hashlib.sha256(data).digest()) if keyed is None else keyed(data)
            out += joined.replace(b"\n", shared + _HASH_MARK + prev + _LINE_END)
        self.seq = seq
        self.prev = prev

    def _maybe_checkpoint(self, out: bytearray) -> None:
        since = self.seq - self._checkpoint_seq
        if since <= 0:
            return
        now = time.monotonic()
        if since < self.checkpoint_entries and now - self._checkpoint_at < self.checkpoint_interval:
            return
        self.checkpoint(out)

    def due_checkpoint(self) -> bytearray:
        """A checkpoint of an idle chain whose interval ran out (empty when none is due).

        Called from the sink's timer, so a quiet chain's head is shipped on time too.
        """
        out = bytearray()
        if (
            self.seq > self._checkpoint_seq
            and not self._closed
            and time.monotonic() - self._checkpoint_at >= self.checkpoint_interval
        ):
            self.checkpoint(out)
        return out

    def checkpoint(self, out: bytearray) -> None:
        """Seal an ``audit.checkpoint`` record into ``out`` and queue its side-file line."""
        head_seq, head = self.seq, self.prev.decode()
        self._record(
            "audit.checkpoint",
            f"audit checkpoint at seq {head_seq}",
            {"seq": head_seq, "hash": head},
            out,
        )
        self._checkpoint_seq = self.seq
        self._checkpoint_at = time.monotonic()
        line = {
            "timestamp": _timestamp(time.time_ns()),
            "writer": self.writer,
            "seq": self.seq,
            "hash": self.prev.decode(),
            "file": self.path.name,
        }
        self._checkpoints.append(orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE))

    def written(self) -> None:
        """The sealed bytes are on disk (fsynced): append the checkpoints to the side file."""
        if not self._checkpoints:
            return
        data = b"".join(self._checkpoints)
        self._checkpoints.clear()
        fd = os.open(
            self.checkpoint_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640
        )
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- the chain's own records -----------------------------------------------------------

    def rotated(self, previous: Path, size: int) -> None:
        """The live file was rotated to ``previous``: the next batch names it first."""
        self._pending.append(
            (
                "audit.rotated",
                f"audit chain continues after {previous.name}",
                {"previous": previous.name, "previous_size": size, "file": self.path.name},
            )
        )

    def retention(self, paths: Iterable[Path], reason: str = "retention") -> bytearray:
        """A sealed ``audit.retention`` record naming the files about to be removed."""
        out = bytearray()
        self._preamble(out)
        names = sorted(path.name for path in paths)
        chain: dict[str, Any] = {"removed": names, "reason": reason}
        self._record(
            "audit.retention", f"retention removes {len(names)} audited file(s)", chain, out
        )
        if self._closed:  # the sink was closed: the chain's end stays sealed
            self._close_into(out)
        return out

    def closing(self) -> bytearray:
        """The ``audit.closed`` record (after any pending ones): the chain's end so far."""
        out = bytearray()
        if not self._opened and not self._pending:
            return out  # nothing was ever written by this chain
        self._preamble(out)
        self._close_into(out)
        return out

    def _close_into(self, out: bytearray) -> None:
        chain = {"seq": self.seq + 1, "file": self.path.name}
        self._record("audit.closed", f"audit chain {self.writer} closed", chain, out)
        self._opened = True
        self._closed = True


_writers: dict[str, AuditWriter] = {}
_writers_lock = threading.Lock()


def writer_for(
    path: Path,
    key: AuditKey | None,
    *,
    checkpoint_entries: int = 10_000,
    checkpoint_interval: float = 60.0,
    run: int = RUN,
) -> AuditWriter:
    """The process's chain for ``path``: a sink rebuilt by ``configure()`` continues it.

    A new key, new checkpoint settings or a new run length apply from the next batch; a
    different algorithm (a key added or removed) starts a new chain.
    """
    name = os.path.realpath(path)
    with _writers_lock:
        writer = _writers.get(name)
        same_key = writer is not None and (
            (writer.key is None and key is None)
            or (writer.key is not None and key is not None and writer.key.key == key.key)
        )
        if writer is None or not same_key:
            writer = AuditWriter(
                path,
                key,
                checkpoint_entries=checkpoint_entries,
                checkpoint_interval=checkpoint_interval,
                run=run,
            )
            _writers[name] = writer
        else:
            writer.checkpoint_entries = checkpoint_entries
            writer.checkpoint_interval = checkpoint_interval
            writer.run = run
        return writer


def _after_fork_in_child() -> None:
    global _writers_lock
    _writers_lock = threading.Lock()
    for writer in _writers.values():
        writer.after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
