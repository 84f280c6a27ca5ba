"""Pretty-print the end of JSON or logfmt logs; with -f, follow them through rotations."""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Final, final

from tapelog.cli._query import (
    EntryFilter,
    add_filter_arguments,
    build_filter,
    for_people,
    is_terminal,
    output_formatter,
)
from tapelog.formats._registry import FORMAT_NAMES
from tapelog.retention._reader import compression_of, entry_time, iter_lines, parse_entry


if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterable, Iterator
    from typing import BinaryIO

    from tapelog.typing import Formatter


__all__ = ["Follower", "add_arguments", "follow", "last_lines", "run"]

_BLOCK: Final = 64 * 1024
_MAX_READ: Final = 1 << 20  # bytes read from one file per poll, so that others get a turn
_MIN_INTERVAL: Final = 0.05


def _kept(line: bytes, keep: EntryFilter | None) -> bool:
    """Whether to show a line: every line without filters; matching entries with them."""
    if keep is None:
        return bool(line.strip())
    entry = parse_entry(line)
    return entry is not None and keep(entry, entry_time(entry))


def _reverse_lines(file: BinaryIO, end: int) -> Iterator[bytes]:
    """The lines before offset ``end``, last first, reading backwards in blocks."""
    position = end
    head = b""  # the start of a line whose beginning lies in an earlier block
    while position > 0:
        start = max(0, position - _BLOCK)
        file.seek(start)
        block = file.read(position - start) + head
        position = start
        lines = block.split(b"\n")
        head = lines.pop(0)
        yield from reversed(lines)
    yield head


def _complete_end(file: BinaryIO, end: int) -> int:
    """The offset just after the last newline: bytes after it are a line still being written."""
    start = max(0, end - _BLOCK)
    file.seek(start)
    cut = file.read(end - start).rfind(b"\n")
    return start + cut + 1 if cut >= 0 else end


def last_lines(path: Path, count: int, keep: EntryFilter | None) -> tuple[list[bytes], int | None]:
    """Return the last ``count`` shown lines of ``path``, and where following should start.

    A plain file is read backwards in blocks, so this is quick on any size of file; a
    compressed one is read through, keeping only ``count`` lines, and is not followed
    (the position is ``None``). A last line without its newline yet is left for
    following to pick up whole.
    """
    compression = compression_of(path)
    with path.open("rb") as file:
        if compression != "none":
            kept: deque[bytes] = deque(maxlen=count)
            for line in iter_lines(file, compression):
                if count and _kept(line, keep):
                    kept.append(line.rstrip(b"\r\n"))
            return list(kept), None
        end = _complete_end(file, os.fstat(file.fileno()).st_size)
        found: list[bytes] = []
        if count:
            for line in _reverse_lines(file, end):
                if _kept(line, keep):
                    found.append(line.rstrip(b"\r"))
                    if len(found) == count:
                        break
        found.reverse()
        return found, end


@final
class Follower:
    """Reads what is appended to one file, reopening it when it is rotated or truncated.

    Rotation is noticed as a change of inode at the path (the old file is read to its end
    first, so nothing written before the rotation is missed); truncation as a size below
    the position read.

    Args:
        path: the file.
        position: where to start reading (after the lines already shown).
    """

    def __init__(self, path: Path, position: int = 0) -> None:
        self.path = path
        self._file: BinaryIO | None = None
        self._identity: tuple[int, int] | None = None
        self._position = position
        self._partial = b""
        self._open()  # now, so that a rotation before the first poll is noticed

    def _open(self) -> bool:
        try:
            file = self.path.open("rb")
        except FileNotFoundError:
            return False
        status = os.fstat(file.fileno())
        self._file = file
        self._identity = (status.st_dev, status.st_ino)
        if self._position > status.st_size:
            self._position = 0
        file.seek(self._position)
        return True

    def _read_available(self) -> list[bytes]:
        assert self._file is not None
        data = self._file.read(_MAX_READ)
        if not data:
            return []
        self._position += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        return [line.rstrip(b"\r") for line in lines]

    def poll(self) -> list[bytes]:
        """Return the complete lines appended since the last poll."""
        if self._file is None and not self._open():
            return []
        lines = self._read_available()
        if lines:
            return lines
        try:
            status = self.path.stat()
        except FileNotFoundError:
            return lines  # rotated away, the new file not there yet: keep the old one
        if (status.st_dev, status.st_ino) != self._identity:
            # Rotated: the old file is read to its end above; switch to the new one.
            self.close()
            self._position = 0
            self._partial = b""
            if self._open():
                lines.extend(self._read_available())
        elif status.st_size < self._position:
            assert self._file is not None
            self._file.seek(0)
            self._position = 0
            self._partial = b""
            lines.extend(self._read_available())
        return lines

    def close(self) -> None:
        """Close the file (``poll`` opens it again)."""
        if self._file is not None:
            self._file.close()
            self._file = None


def follow(
    followers: Iterable[Follower],
    show: Callable[[Path, bytes], None],
    *,
    interval: float = 0.5,
    stop: Callable[[], bool] = lambda: False,
) -> None:
    """Poll the files until ``stop()`` is true, calling ``show`` for every new line.

    Polls every 50 ms while lines arrive, backing off to ``interval`` when they do not.
    """
    watched = list(followers)
    wait = _MIN_INTERVAL
    try:
        while not stop():
            got = False
            for follower in watched:
                for line in follower.poll():
                    got = True
                    show(follower.path, line)
            wait = _MIN_INTERVAL if got else min(wait * 2, interval)
            if not got:
                time.sleep(wait)
    finally:
        for follower in watched:
            follower.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Files, ``-n``, ``-f``, filters and ``--format``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help="log files (plain, .gz, .zst)")
    parser.add_argument(
        "-n", "--lines", type=int, default=10, metavar="N", help="show the last N lines (10)"
    )
    parser.add_argument(
        "-f", "--follow", action="store_true", help="keep printing lines as they are written"
    )
    add_filter_arguments(parser)
    parser.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default="console",
        help="how to print entries (default console, coloured on a terminal)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="longest wait between polls when following (0.5)",
    )


def _printer(formatter: Formatter, name: str) -> Callable[[bytes], bytes]:
    def render(line: bytes) -> bytes:
        entry = parse_entry(line)
        if entry is None:
            return line + b"\n"
        is_json = line.lstrip().startswith(b"{")
        if (name == "json" and is_json) or (name == "logfmt" and not is_json):
            return line + b"\n"
        try:
            return formatter(entry)
        except Exception:  # a value the formatter cannot take: show the line as it was
            return line + b"\n"

    return render


def _then_escaped(render: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """``render``, its output made safe for a terminal (see ``for_people``)."""
    return lambda line: for_people(render(line))


def run(args: argparse.Namespace) -> int:
    """Print the last lines of each file, then follow them with ``-f`` (Ctrl-C ends it)."""
    try:
        keep = build_filter(args, with_time=False)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    filtered = keep if (keep.level is not None or keep.loggers or keep.where) else None
    out = sys.stdout
    buffer = getattr(out, "buffer", None)
    render = _printer(output_formatter(args.format, out), args.format)
    if args.format != "console" and is_terminal(out):  # the console format escapes itself
        render = _then_escaped(render)

    paths = [Path(name) for name in args.files]
    many = len(paths) > 1
    current: list[Path | None] = [None]

    def show(path: Path, line: bytes) -> None:
        if filtered is not None and not _kept(line, filtered):
            return
        if many and current[0] != path:
            out.write(f"{'' if current[0] is None else chr(10)}==> {path} <==\n")
            current[0] = path
        data = render(line)
        if buffer is not None:
            out.flush()
            buffer.write(data)
        else:
            out.write(data.decode("utf-8", "replace"))

    status = 0
    followers: list[Follower] = []
    for path in paths:
        try:
            lines, position = last_lines(path, max(args.lines, 0), filtered)
        except FileNotFoundError:
            if not args.follow:
                sys.stderr.write(f"tapelog tail: {path}: no such file\n")
                status = 1
                continue
            lines, position = [], 0
        for line in lines:
            show(path, line)
        if args.follow and position is not None:
            followers.append(Follower(path, position))
    out.flush()
    if not args.follow:
        return status

    def show_now(path: Path, line: bytes) -> None:
        show(path, line)
        out.flush()

    try:
        follow(followers, show_now, interval=max(args.interval, _MIN_INTERVAL))
    finally:
        for follower in followers:
            follower.close()
    return status
