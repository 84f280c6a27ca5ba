"""Names of finished files: ``app.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.jsonl.gz``.

A rotated file is named after the live one with the time span it covers inserted before
the suffix: the first and the last entry, to the second, in UTC, with ``-`` for ``:`` so
that the name is valid everywhere; then the rotation's sequence number, at least six
digits (``.000042``), which grows by one at every rotation of the live file and is never
reused. Compression adds ``.gz`` or ``.zst``. Only names of this shape are ever
compressed, moved or purged: anything else in the directory is left alone.

The sequence is what orders finished files: several rotations a second share a span, and
the span of entries written by several processes need not grow with every file, but the
sequence follows the order the files were written in. Names made before sequences
existed carry a small counter instead (``.2``, ``.3``: the lowest number free at the time,
so it could be reused) and no sequence; they are read as they always were, and sort
before every name with a sequence, since they were written before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final, final


if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path


__all__ = [
    "COMPRESSED_SUFFIXES",
    "FinishedName",
    "NamePattern",
    "format_stamp",
    "parse_stamp",
]

COMPRESSED_SUFFIXES: Final = {"gzip": ".gz", "zstd": ".zst"}
"""The suffix each compression adds to a finished file's name."""

_STAMP_FORMAT: Final = "%Y-%m-%dT%H-%M-%SZ"
_STAMP: Final = r"\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ"
_SEQUENCE_DIGITS: Final = 6
"""A sequence is written with at least this many digits; a legacy counter had fewer."""


def format_stamp(seconds: float) -> str:
    """Return ``2026-11-23T07-00-00Z`` for an epoch time (rounded down to the second)."""
    return datetime.fromtimestamp(int(seconds // 1), UTC).strftime(_STAMP_FORMAT)


def parse_stamp(stamp: str) -> float:
    """Return the epoch seconds of a ``2026-11-23T07-00-00Z`` stamp."""
    return datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=UTC).timestamp()


@final
@dataclass(frozen=True, slots=True)
class FinishedName:
    """A parsed finished-file name; sorts oldest first.

    Names with a sequence sort by it; legacy names (no sequence) sort before them, by last
    entry, then first, then counter.
    """

    end: float
    """Epoch seconds of the last entry (rounded down to the second)."""
    start: float
    """Epoch seconds of the first entry."""
    counter: int
    """Legacy names: 1 for the first file with this span, then 2, 3, ...; 1 otherwise."""
    name: str
    """The file name itself."""
    compression: str = field(compare=False, default="none")
    """``gzip``, ``zstd`` or ``none``, from the suffix."""
    sequence: int | None = None
    """The rotation's sequence number; ``None`` for a name made before sequences."""

    @property
    def order(self) -> tuple[int, int, float, float, int, str]:
        """The key finished files sort by: the order they were written in."""
        if self.sequence is not None:
            return (1, self.sequence, 0.0, 0.0, 0, self.name)
        return (0, 0, self.end, self.start, self.counter, self.name)

    def __lt__(self, other: FinishedName) -> bool:
        return self.order < other.order

    def __le__(self, other: FinishedName) -> bool:
        return self.order <= other.order

    def __gt__(self, other: FinishedName) -> bool:
        return self.order > other.order

    def __ge__(self, other: FinishedName) -> bool:
        return self.order >= other.order

    @property
    def plain_name(self) -> str:
        """The name without its compression suffix: what ``restore`` writes."""
        suffix = COMPRESSED_SUFFIXES.get(self.compression, "")
        return self.name.removesuffix(suffix) if suffix else self.name


@final
class NamePattern:
    """Makes and recognises the finished-file names that belong to one live file.

    Args:
        live: the live file's path; ``logs/app.jsonl`` gives ``app.<span>.jsonl``.
    """

    __slots__ = ("_regex", "stem", "suffix")

    def __init__(self, live: Path) -> None:
        self.stem = live.stem if live.suffix else live.name
        self.suffix = live.suffix
        self._regex = re.compile(
            rf"{re.escape(self.stem)}\.({_STAMP})--({_STAMP})(?:\.(\d+))?"
            rf"{re.escape(self.suffix)}(\.gz|\.zst)?"
        )

    def make(
        self, first: float, last: float, counter: int = 1, *, sequence: int | None = None
    ) -> str:
        """Return the plain name for a file whose entries span ``first`` to ``last``.

        With ``sequence`` (what rotation uses), the name carries it; without, the name has
        the legacy form, with ``counter`` when it is above 1.
        """
        if sequence is not None:
            number = f".{sequence:0{_SEQUENCE_DIGITS}d}"
        else:
            number = f".{counter}" if counter > 1 else ""
        return f"{self.stem}.{format_stamp(first)}--{format_stamp(last)}{number}{self.suffix}"

    def parse(self, name: str) -> FinishedName | None:
        """Return the parsed name, or ``None`` when ``name`` is not one of ours."""
        match = self._regex.fullmatch(name)
        if match is None:
            return None
        compression = {".gz": "gzip", ".zst": "zstd"}.get(match[4] or "", "none")
        digits = match[3] or ""
        sequence: int | None = None
        counter = 1
        if len(digits) >= _SEQUENCE_DIGITS:
            sequence = int(digits)
        elif digits:
            if digits.startswith("0"):
                return None  # neither a legacy counter nor a sequence
            counter = int(digits)
        return FinishedName(
            end=parse_stamp(match[2]),
            start=parse_stamp(match[1]),
            counter=counter,
            name=name,
            compression=compression,
            sequence=sequence,
        )

    def unused(self, first: float, last: float, directories: Iterable[Path]) -> str:
        """Return the first legacy name for this span that no file has yet.

        Every directory given (the live one, the archive) is checked, compressed names
        too. Rotation names files with :meth:`next_sequence` instead, which never reuses
        a number; this remains for names without one.
        """
        places = list(directories)
        counter = 1
        while True:
            name = self.make(first, last, counter)
            if not self.taken(name, places):
                return name
            counter += 1

    @staticmethod
    def taken(name: str, directories: Iterable[Path]) -> bool:
        """Whether a file has ``name`` (plain or compressed) in any of ``directories``."""
        return any(
            (place / (name + suffix)).exists()
            for place in directories
            for suffix in ("", *COMPRESSED_SUFFIXES.values())
        )

    def highest_sequence(self, directories: Iterable[Path]) -> int:
        """The highest sequence any finished file in ``directories`` carries (0 if none).

        A file being compressed is counted under its plain name, which stays until the
        archive is in place.
        """
        highest = 0
        for directory in directories:
            for parsed, _ in self.finished_in(directory):
                if parsed.sequence is not None and parsed.sequence > highest:
                    highest = parsed.sequence
        return highest

    def finished_in(self, directory: Path) -> list[tuple[FinishedName, Path]]:
        """Every finished file of this live file in ``directory``, oldest first."""
        try:
            names = [entry.name for entry in directory.iterdir()]
        except FileNotFoundError:
            return []
        found: list[tuple[FinishedName, Path]] = []
        for name in names:
            parsed = self.parse(name)
            if parsed is not None:
                found.append((parsed, directory / name))
        found.sort()
        return found


_ANY_FINISHED: Final = re.compile(rf"[^.].*\.({_STAMP})--({_STAMP})(?:\.\d+)?(?:\..*)?")


def span_of(name: str) -> tuple[float, float] | None:
    """Return the ``(first, last)`` epoch seconds in any finished-file name, else ``None``.

    Unlike :class:`NamePattern`, this needs no live file: it is how ``tapelog archive
    list`` recognises archives in a directory of several logs.
    """
    match = _ANY_FINISHED.fullmatch(name)
    if match is None:
        return None
    return parse_stamp(match[1]), parse_stamp(match[2])
