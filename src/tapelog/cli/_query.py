"""Search live and archived (gzip, zstd) logs by time, level, logger and field, in time order.

Each file is read as a stream, line by line, and the files are merged by timestamp with
``heapq.merge``, so memory stays constant however large the archives are. Files whose
names say they lie outside ``--since``/``--until`` are not opened at all.
"""

from __future__ import annotations

import heapq
import io
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final, TextIO, TypeVar, cast, final

import orjson

from tapelog._levels import LEVEL_NUMBERS, parse_level
from tapelog._logger import name_under
from tapelog.config._units import parse_duration
from tapelog.errors._info import ErrorInfo
from tapelog.formats._console import ConsoleFormat, should_color
from tapelog.formats._json import JsonFormat
from tapelog.formats._logfmt import LogfmtFormat
from tapelog.formats._registry import FORMAT_NAMES
from tapelog.formats._text import escape_controls, escape_invisible
from tapelog.retention._manifest import MANIFEST_NAME, read_manifest
from tapelog.retention._names import COMPRESSED_SUFFIXES, span_of
from tapelog.retention._reader import (
    compression_of,
    entry_time,
    iter_lines,
    parse_entry,
    time_key,
)


if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Iterator

    from tapelog.typing import Formatter


__all__ = [
    "EntryFilter",
    "Hit",
    "Progress",
    "ReadStats",
    "add_arguments",
    "add_filter_arguments",
    "expand_paths",
    "query_paths",
    "run",
    "search",
]

_LOG_SUFFIXES: Final = frozenset({".jsonl", ".ndjson", ".json", ".log", ".logfmt", ".txt"})
_PROGRESS_INTERVAL: Final = 0.1
_T = TypeVar("_T")
_BAR_WIDTH: Final = 30
_TICK_EVERY: Final = 0xFFF  # lines between progress checks, minus one (a bit mask)


# -- filters --------------------------------------------------------------------------------


def parse_when(text: str, now: float | None = None) -> str:
    """Return a ``--since``/``--until`` value as a canonical timestamp.

    Accepts RFC 3339 (``2026-11-23T07:00:00Z``, a date alone means midnight UTC) or a
    duration before now (``90s``, ``15m``, ``1h``, ``2d``).

    Raises:
        ValueError: neither form.
    """
    key = time_key(text.strip())
    if key is not None:
        return key
    try:
        ago = parse_duration(text)
    except ValueError:
        expected = 'an RFC 3339 time like 2026-11-23T07:00:00Z or a duration like "1h"'
        msg = f"expected {expected}, got {text!r}"
        raise ValueError(msg) from None
    moment = (time.time() if now is None else now) - ago
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_where(text: str) -> tuple[str, str]:
    """Split ``key=value`` (the key may be dotted: ``trade.symbol=BTC-USD``).

    Raises:
        ValueError: no ``=`` or an empty key.
    """
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        msg = f"expected key=value, got {text!r}"
        raise ValueError(msg)
    return key.strip(), value


def lookup(entry: Mapping[str, object], key: str) -> tuple[bool, object]:
    """Find a dotted key: as a flat key first (``server.address``), else through objects.

    Inside objects, dotted names are tried longest first, since OpenTelemetry attribute
    names contain dots themselves (``metric.attributes.network.io.direction``).
    """
    return _walk(entry, key.split("."))


def _walk(mapping: Mapping[str, object], parts: list[str]) -> tuple[bool, object]:
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if name not in mapping:
            continue
        value = mapping[name]
        if end == len(parts):
            return True, value
        if isinstance(value, Mapping):
            found = _walk(cast("Mapping[str, object]", value), parts[end:])
            if found[0]:
                return found
    return False, None


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool | int | float):
        return orjson.dumps(value).decode()
    return orjson.dumps(value, default=str).decode()


@final
@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Which entries to keep. Every condition given must hold (``loggers``: any of them)."""

    since: str | None = None
    """Canonical timestamp: keep entries at or after it."""
    until: str | None = None
    """Canonical timestamp: keep entries before it."""
    level: int | None = None
    """Keep entries at this level or above."""
    loggers: tuple[str, ...] = ()
    """Keep entries from these loggers or their children."""
    where: tuple[tuple[str, str], ...] = ()
    """``(dotted key, value)`` pairs that must all match, compared as text."""

    @classmethod
    def build(
        cls,
        *,
        since: str | datetime | None = None,
        until: str | datetime | None = None,
        level: str | int | None = None,
        loggers: Iterable[str] = (),
        where: Mapping[str, object] | Iterable[str] = (),
        now: float | None = None,
    ) -> EntryFilter:
        """Build from what a person writes; see ``parse_when`` and ``parse_where``.

        Raises:
            ValueError: a value cannot be read.
        """

        def when(value: str | datetime | None) -> str | None:
            if value is None:
                return None
            if isinstance(value, datetime):
                moment = value if value.tzinfo else value.replace(tzinfo=UTC)
                return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return parse_when(value, now)

        if isinstance(where, Mapping):
            fields = cast("Mapping[str, object]", where)
            pairs = tuple((str(k), _as_text(v)) for k, v in fields.items())
        else:
            pairs = tuple(parse_where(item) for item in where)
        return cls(
            since=when(since),
            until=when(until),
            level=parse_level(level) if level is not None else None,
            loggers=tuple(loggers),
            where=pairs,
        )

    @property
    def filters_time(self) -> bool:
        """True when ``since`` or ``until`` is set."""
        return self.since is not None or self.until is not None

    def __call__(self, entry: Mapping[str, object], stamp: str | None) -> bool:
        """Return whether ``entry`` (whose canonical time is ``stamp``) is kept."""
        if self.since is not None and (stamp is None or stamp < self.since):
            return False
        if self.until is not None and (stamp is None or stamp >= self.until):
            return False
        if self.level is not None:
            level = entry.get("level")
            number = LEVEL_NUMBERS.get(level.lower()) if isinstance(level, str) else None
            if number is None or number < self.level:
                return False
        if self.loggers:
            name = entry.get("logger")
            if not isinstance(name, str) or not name_under(name, self.loggers):
                return False
        for key, wanted in self.where:
            found, value = lookup(entry, key)
            if not found or _as_text(value) != wanted:
                return False
        return True

    def may_hold(self, span: tuple[float, float] | None) -> bool:
        """Whether a file spanning ``span`` (epoch seconds, from its name) can match."""
        if span is None or not self.filters_time:
            return True
        first = datetime.fromtimestamp(span[0], UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # A name keeps whole seconds: the last entry may be up to a second later.
        last = datetime.fromtimestamp(span[1] + 1, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        if self.since is not None and last < self.since:
            return False
        return not (self.until is not None and first >= self.until)


# -- reading --------------------------------------------------------------------------------


@final
@dataclass(slots=True)
class ReadStats:
    """What a search read and what it could not use."""

    total_bytes: int = 0
    """Bytes on disk of every file to read."""
    read_bytes: int = 0
    """Bytes on disk read so far (compressed bytes, for archives)."""
    skipped: int = 0
    """Lines that are neither a JSON object nor a logfmt entry."""
    first_skipped: str | None = None
    """``path:line`` of the first of them."""
    errors: list[str] = field(default_factory=list[str])
    """Files that could not be read to the end, and why."""
    tick: Callable[[], None] | None = None
    """Called every few thousand lines while reading (the progress bar)."""


@final
class _Counting(io.RawIOBase):
    """A raw reader that counts the bytes read from the file under it."""

    def __init__(self, file: io.BufferedReader, stats: ReadStats) -> None:
        super().__init__()
        self._file = file
        self._stats = stats

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._file.readinto(buffer)
        self._stats.read_bytes += count
        return count

    def close(self) -> None:
        self._file.close()
        super().close()


@final
@dataclass(frozen=True, slots=True)
class Hit:
    """One matching entry, with the line it came from."""

    entry: dict[str, object]
    """The parsed entry (logfmt entries with their nested objects rebuilt)."""
    line: bytes
    """The line as written, without its newline."""
    is_json: bool
    """Whether the line is JSON (else logfmt)."""
    path: Path
    """The file it came from."""


def _is_log_file(path: Path) -> bool:
    name = path.name
    if name.startswith(".") or name == MANIFEST_NAME or name.endswith(".lock"):
        return False
    inner = name
    for suffix in COMPRESSED_SUFFIXES.values():
        inner = inner.removesuffix(suffix)
    return Path(inner).suffix in _LOG_SUFFIXES or span_of(name) is not None


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files named, plus the log files under directories named (recursively).

    Raises:
        FileNotFoundError: a path does not exist.
    """
    found: dict[Path, Path] = {}  # by resolved path, so a file named twice is read once
    for item in paths:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and _is_log_file(child):
                    found.setdefault(child.resolve(), child)
        elif path.exists():
            found.setdefault(path.resolve(), path)
        else:
            raise FileNotFoundError(2, "no such file or directory", str(path))
    return [path for path in found.values() if not _archived_beside(path)]


def _archived_beside(path: Path) -> bool:
    """Whether ``path`` is a rotated file whose finished archive lies beside it.

    Between an archive's rename into place and the removal of its source (a moment in a
    running process; longer when the process was killed there, until any writer's next
    pass), both exist. The archive holds the same lines, complete (it is renamed into
    place only after it was written and synced), so the plain file is not read twice.
    Only names are looked at, and the manifest only when an archive is there.
    """
    suffixes = tuple(COMPRESSED_SUFFIXES.values())
    if span_of(path.name) is None or path.name.endswith(suffixes):
        return False
    beside = [archive for s in suffixes if (archive := path.with_name(path.name + s)).is_file()]
    if not beside:
        return False
    try:
        size = path.stat().st_size
    except OSError:
        return False
    records = read_manifest(path.parent).records
    return any(
        (record := records.get(archive.name)) is not None
        and record.source == path.name
        and record.content_size == size
        for archive in beside
    )


def _read_file(
    path: Path, index: int, keep: EntryFilter, stats: ReadStats
) -> Iterator[tuple[str, int, int, Hit]]:
    """Yield ``(time, file index, line number, hit)`` for each match in one file."""
    try:
        compression = compression_of(path)
        raw = _Counting(path.open("rb"), stats)
    except OSError as exc:
        stats.errors.append(f"{path}: {exc.strerror or exc}")
        return
    number = 0
    try:
        with raw:
            tick = stats.tick
            for number, line in enumerate(iter_lines(cast("IO[bytes]", raw), compression), 1):
                if tick is not None and not number & _TICK_EVERY:
                    tick()
                entry = parse_entry(line)
                if entry is None:
                    if line.strip():
                        stats.skipped += 1
                        if stats.first_skipped is None:
                            stats.first_skipped = f"{path}:{number}"
                    continue
                stamp = entry_time(entry)
                if keep(entry, stamp):
                    hit = Hit(entry, line.rstrip(b"\r\n"), line.lstrip().startswith(b"{"), path)
                    yield stamp or "", index, number, hit
    except (OSError, EOFError, ValueError) as exc:  # gzip.BadGzipFile, zstd errors, truncation
        stats.errors.append(f"{path}: unreadable after line {number}: {exc}")


def _lanes(paths: list[Path], keep: EntryFilter) -> list[list[tuple[int, Path]]]:
    """Group files into lanes of files that follow each other in time.

    Finished files carry their span in their name; files whose spans do not overlap are
    read one after another in one lane, so a merge holds one file open per lane rather
    than per file. A file without a span (the live file) gets a lane of its own.
    """
    spanned: list[tuple[float, float, int, Path]] = []
    lanes: list[list[tuple[int, Path]]] = []
    for index, path in enumerate(paths):
        span = span_of(path.name)
        if not keep.may_hold(span):
            continue
        if span is None:
            lanes.append([(index, path)])
        else:
            spanned.append((span[0], span[1] + 1, index, path))
    ends: list[float] = []
    chained: list[list[tuple[int, Path]]] = []
    for start, end, index, path in sorted(spanned):
        for lane, lane_end in enumerate(ends):
            if lane_end <= start:
                chained[lane].append((index, path))
                ends[lane] = end
                break
        else:
            chained.append([(index, path)])
            ends.append(end)
    return chained + lanes


def search(
    paths: Iterable[str | Path], keep: EntryFilter, stats: ReadStats | None = None
) -> Iterator[Hit]:
    """Yield the entries of every file that ``keep`` accepts, merged in time order.

    Each file is assumed to be in time order already (rotation keeps it so; several
    processes writing one file keep it so to within a batch), and entries without a
    timestamp sort first in their file's place.

    Raises:
        FileNotFoundError: a path does not exist (before anything is yielded).
    """
    files = expand_paths(paths)
    stats = stats if stats is not None else ReadStats()
    for path in files:
        try:
            stats.total_bytes += path.stat().st_size
        except OSError:
            continue

    def lane_items(lane: list[tuple[int, Path]]) -> Iterator[tuple[str, int, int, Hit]]:
        for index, path in lane:
            yield from _read_file(path, index, keep, stats)

    merged = heapq.merge(*(lane_items(lane) for lane in _lanes(files, keep)))
    for _, _, _, hit in merged:
        yield hit


def query_paths(
    paths: Iterable[str | Path],
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    level: str | int | None = None,
    loggers: Iterable[str] = (),
    where: Mapping[str, object] | Iterable[str] = (),
) -> Iterator[dict[str, object]]:
    """Yield the matching entries of live and archived log files, in time order.

    The library face of ``tapelog query``: directories are searched recursively for log
    files (``.jsonl``, ``.log``, ... plain, ``.gz`` or ``.zst``), and lines that are
    neither JSON nor logfmt are skipped.

    Args:
        paths: files and directories.
        since: keep entries at or after this: a ``datetime``, RFC 3339 text, or a
            duration before now (``"1h"``).
        until: keep entries before this (same forms).
        level: keep entries at this level or above.
        loggers: keep entries from these loggers or their children.
        where: fields that must match, as ``{"trade.symbol": "BTC-USD"}`` or
            ``["trade.symbol=BTC-USD"]``; values compare as text (``200`` matches
            ``"200"``).

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a filter cannot be read.

    Example:
        >>> for entry in query_paths(["logs/"], level="error", since="1h"):  # doctest: +SKIP
        ...     print(entry["message"])
    """
    keep = EntryFilter.build(since=since, until=until, level=level, loggers=loggers, where=where)
    for hit in search(paths, keep):
        yield hit.entry


# -- output ---------------------------------------------------------------------------------


def output_formatter(name: str, stream: TextIO) -> Formatter:
    """The formatter for ``--format``; the console format is coloured on a terminal."""
    if name == "json":
        return JsonFormat()
    if name == "logfmt":
        return LogfmtFormat()
    return ConsoleFormat(color=should_color(stream))


def for_people(data: bytes) -> bytes:
    r"""Escape bidirectional controls and invisible characters in a line bound for a terminal.

    JSON and logfmt lines are printed as they are stored, and a raw U+202E (right-to-left
    override) in a value would make a terminal show the rest of the line reversed; on a
    terminal it is shown as ``\u202e`` instead (the console format does this itself).
    """
    if data.isascii():
        return data
    text = data.decode("utf-8", "surrogateescape")
    escaped = escape_invisible(text)
    return data if escaped is text else escaped.encode("utf-8", "surrogateescape")


def escaping(output: Callable[[bytes], _T]) -> Callable[[bytes], _T]:
    """``output`` with ``for_people`` applied to what it is given."""
    return lambda data: output(for_people(data))


def is_terminal(stream: object) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return callable(isatty) and bool(isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def render(hit: Hit, name: str, formatter: Formatter) -> bytes:
    """A hit as output: the original line when it is already in the format asked for."""
    if (name == "json" and hit.is_json) or (name == "logfmt" and not hit.is_json):
        return hit.line + b"\n"
    try:
        return formatter(hit.entry)
    except Exception:  # a value the formatter cannot take: show the line as it was
        return hit.line + b"\n"


def traceback_text(entry: Mapping[str, object]) -> str | None:
    """A header naming the entry, then its error's traceback; None if it logged no error.

    The traceback is rebuilt from the ``error`` object (``tapelog.errors.ErrorInfo``), so
    it needs no source file; an entry whose object cannot be read shows its
    ``stack_trace`` text as written.
    """
    error = entry.get("error")
    if not isinstance(error, Mapping):
        return None
    error = cast("Mapping[str, object]", error)
    try:
        body = ErrorInfo.from_dict(error).render()
    except (ValueError, TypeError, RecursionError):
        stack = error.get("stack_trace")
        body = stack if isinstance(stack, str) else f"{error.get('type')}: {error.get('message')}\n"
    head = " ".join(
        escape_controls(_as_text(entry.get(key, "")))
        for key in ("timestamp", "level", "logger", "message")
    )
    return f"--- {head}\n{body}\n"


@final
class Progress:
    """A progress bar on stderr: bytes read of the total (compressed bytes for archives).

    Drawn at most ten times a second, and cleared before each output line, so that output
    to the same terminal is never mixed with it.
    """

    def __init__(self, stats: ReadStats, stream: TextIO, before_draw: Callable[[], object]) -> None:
        self._stats = stats
        self._stream = stream
        self._before_draw = before_draw
        self._last = 0.0
        self._shown = False

    def tick(self) -> None:
        """Redraw the bar if it is time to."""
        now = time.monotonic()
        if now - self._last < _PROGRESS_INTERVAL:
            return
        self._last = now
        self._before_draw()
        total = max(self._stats.total_bytes, 1)
        share = min(self._stats.read_bytes / total, 1.0)
        filled = math.floor(share * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        read_mib = self._stats.read_bytes / 2**20
        total_mib = self._stats.total_bytes / 2**20
        self._stream.write(f"\r\x1b[K[{bar}] {share:4.0%} {read_mib:.1f}/{total_mib:.1f} MiB")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        """Remove the bar from the terminal, if it is there."""
        if self._shown:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self._shown = False


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """``--level``, ``--logger`` and ``--where``, shared with ``tapelog tail``."""
    parser.add_argument("--level", help="keep entries at this level or above (e.g. warning)")
    parser.add_argument(
        "--logger",
        action="append",
        default=[],
        metavar="NAME",
        help="keep entries from this logger or its children (repeatable: any of them)",
    )
    parser.add_argument(
        "--where",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep entries whose field equals the value; dotted keys reach into objects "
        "(trade.symbol=BTC-USD); repeatable: all must match",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Paths, filters and ``--format``."""
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log files or directories")
    parser.add_argument(
        "--since", help="keep entries at or after: RFC 3339 (2026-11-23T07:00:00Z) or 1h, 2d ago"
    )
    parser.add_argument("--until", help="keep entries before: RFC 3339, or 1h, 2d ago")
    add_filter_arguments(parser)
    parser.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default="json",
        help="output format (default json)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="print the traceback of each matching entry that logged an error, as Python "
        "printed it (locals under their frame when captured); entries without one are skipped",
    )


def build_filter(args: argparse.Namespace, *, with_time: bool = True) -> EntryFilter:
    """The filter from parsed arguments.

    Raises:
        ValueError: a value cannot be read (the message names the option).
    """
    try:
        return EntryFilter.build(
            since=args.since if with_time else None,
            until=args.until if with_time else None,
            level=args.level,
            loggers=args.logger,
            where=args.where,
        )
    except ValueError as exc:
        raise ValueError(f"tapelog: {exc}") from None


def report(stats: ReadStats, command: str) -> None:
    """Tell stderr about skipped lines and unreadable files."""
    if stats.skipped:
        sys.stderr.write(
            f"tapelog {command}: skipped {stats.skipped} line(s) that are not JSON or logfmt "
            f"entries (first at {stats.first_skipped})\n"
        )
    for error in stats.errors:
        sys.stderr.write(f"tapelog {command}: {error}\n")


def _writer(stream: TextIO) -> Callable[[bytes], object]:
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        return cast("Callable[[bytes], object]", buffer.write)
    return lambda data: stream.write(data.decode("utf-8", "replace"))


def run(args: argparse.Namespace) -> int:
    """Search, print the matches to stdout; 2 on a bad argument, 1 if a file was unreadable."""
    try:
        keep = build_filter(args)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    stats = ReadStats()
    out = sys.stdout
    formatter = output_formatter(args.format, out)
    write = _writer(out)
    if args.format != "console" and is_terminal(out):  # the console format escapes itself
        write = escaping(write)

    progress = Progress(stats, sys.stderr, out.flush) if sys.stderr.isatty() else None
    stats.tick = progress.tick if progress is not None else None
    tracebacks = bool(getattr(args, "traceback", False))
    try:
        for hit in search(args.paths, keep, stats):
            if tracebacks:
                text = traceback_text(hit.entry)
                if text is None:
                    continue
                output = text.encode("utf-8", "backslashreplace")
            else:
                output = render(hit, args.format, formatter)
            if progress is not None:
                progress.clear()
            write(output)
        if progress is not None:
            progress.clear()
        out.flush()
    except FileNotFoundError as exc:
        sys.stderr.write(f"tapelog query: {exc.filename}: no such file or directory\n")
        return 2
    report(stats, "query")
    return 1 if stats.errors else 0
