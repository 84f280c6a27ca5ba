"""Reading log files back: plain, gzip or zstd, line by line, in constant memory.

Used by the compressor (counts, time range), by ``tapelog query`` and ``tapelog tail``,
and by ``archive restore``. The compression is recognised by the file's first bytes,
not its name, so a renamed archive still reads.
"""

from __future__ import annotations

import io
import os
import re
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Final, cast

import orjson

from tapelog.formats._logfmt import parse_logfmt, unflatten


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


__all__ = [
    "CONTINUATION",
    "ZSTD_MISSING",
    "compression_of",
    "edge_times",
    "entry_time",
    "iter_lines",
    "line_time",
    "open_decompressed",
    "parse_entry",
    "parse_time",
    "require_zstandard",
    "time_key",
]

ZSTD_MISSING: Final = 'zstd needs the zstandard package: pip install "tapelog[zstd]"'
CONTINUATION: Final = "  │ ".encode()
"""How the console format starts an entry's continuation lines (a traceback)."""

_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_READ_SIZE: Final = 1 << 20
_EDGE_READ: Final = 64 * 1024

# A canonical tapelog timestamp: what every format writes, and what sorts as text.
_CANONICAL: Final = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_JSON_PREFIX: Final = b'{"timestamp":"'
_LOGFMT_PREFIX: Final = b"timestamp="
_ANY_JSON_TIME: Final = re.compile(rb'"timestamp"\s*:\s*"([^"]{10,40})"')
_CONSOLE_TIME: Final = re.compile(rb"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?) ")


def require_zstandard() -> Any:
    """Import and return ``zstandard``.

    Raises:
        ModuleNotFoundError: it is not installed; the message says how to install it.
    """
    import importlib

    try:
        return importlib.import_module("zstandard")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(ZSTD_MISSING, name="zstandard") from exc


def compression_of(path: Path) -> str:
    """Return ``gzip``, ``zstd`` or ``none``, from the file's first bytes."""
    with path.open("rb") as file:
        head = file.read(4)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZSTD_MAGIC):
        return "zstd"
    return "none"


def open_decompressed(raw: IO[bytes], compression: str) -> IO[bytes]:
    """Wrap a binary stream so that reading it gives the uncompressed bytes."""
    if compression == "gzip":
        import gzip

        return cast("IO[bytes]", gzip.GzipFile(fileobj=raw, mode="rb"))
    if compression == "zstd":
        zstandard = require_zstandard()
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return cast("IO[bytes]", io.BufferedReader(reader, _READ_SIZE))
    return raw


def iter_lines(raw: IO[bytes], compression: str) -> Iterator[bytes]:
    """Yield the lines of a (possibly compressed) stream, each with its newline."""
    stream = open_decompressed(raw, compression)
    try:
        if compression == "none" and not isinstance(stream, io.BufferedReader):
            stream = io.BufferedReader(cast("Any", stream), _READ_SIZE)
        yield from stream
    finally:
        if stream is not raw:
            stream.close()


def _canonical_text(text: str) -> str | None:
    """Return ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for any RFC 3339 time, or ``None``."""
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def time_key(value: object) -> str | None:
    """Return a timestamp value as canonical text, which sorts in time order; else ``None``."""
    if not isinstance(value, str):
        return None
    if len(value) == 27 and _CANONICAL.fullmatch(value.encode()):  # noqa: PLR2004 - the canonical length
        return value
    return _canonical_text(value)


def parse_time(text: str) -> float:
    """Return the epoch seconds of an RFC 3339 time.

    Raises:
        ValueError: ``text`` is not an RFC 3339 time.
    """
    canonical = _canonical_text(text)
    if canonical is None:
        msg = f"expected an RFC 3339 time like 2026-11-23T07:01:02Z, got {text!r}"
        raise ValueError(msg)
    return datetime.strptime(canonical, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC).timestamp()


def line_time(line: bytes) -> str | None:
    """Return the canonical timestamp of one written line (JSON, logfmt or console), cheaply.

    tapelog's formats write the timestamp first, so this is a slice in the usual case;
    other layouts fall back to a search.
    """
    if line.startswith(_JSON_PREFIX):
        stamp = line[14:41]
    elif line.startswith(_LOGFMT_PREFIX):
        stamp = line[10:37]
    else:
        stamp = b""
    if _CANONICAL.fullmatch(stamp):
        return stamp.decode()
    found = _ANY_JSON_TIME.search(line, 0, 512)
    if found is not None:
        return _canonical_text(found[1].decode("utf-8", "replace"))
    console = _CONSOLE_TIME.match(line)
    if console is not None:
        return _canonical_text(f"{console[1].decode()}T{console[2].decode()}Z")
    return None


def parse_entry(line: bytes) -> dict[str, object] | None:
    """Parse one line as a JSON object or a logfmt entry; ``None`` if it is neither.

    A logfmt line counts as an entry only when it has a ``timestamp`` or a ``level``, so
    plain text (which logfmt would read as bare keys) is not mistaken for one. Logfmt
    entries get their nested objects back (``trade.side`` becomes ``trade: {side}``).
    """
    stripped = line.strip()
    if not stripped:
        return None
    if stripped.startswith(b"{"):
        try:
            value = orjson.loads(stripped)
        except orjson.JSONDecodeError:
            return None
        return cast("dict[str, object]", value) if isinstance(value, dict) else None
    try:
        flat = parse_logfmt(stripped.decode("utf-8"))
    except ValueError:  # also UnicodeDecodeError
        return None
    if "timestamp" not in flat and "level" not in flat:
        return None
    return unflatten(flat)


def entry_time(entry: dict[str, object]) -> str | None:
    """Return an entry's timestamp as canonical text, or ``None``."""
    return time_key(entry.get("timestamp"))


def edge_times(path: Path) -> tuple[str | None, str | None]:
    """Return the timestamps of the first and the last entry of a plain file.

    Reads at most 64 KiB from each end, so it is cheap on any size of file.
    """
    with path.open("rb") as file:
        head = file.read(_EDGE_READ)
        size = os.fstat(file.fileno()).st_size
        if size > _EDGE_READ:
            file.seek(max(0, size - _EDGE_READ))
            tail = file.read(_EDGE_READ)
        else:
            tail = head
    first = next((t for t in map(line_time, head.split(b"\n")) if t is not None), None)
    last = next((t for t in map(line_time, reversed(tail.split(b"\n"))) if t is not None), None)
    return first, last
