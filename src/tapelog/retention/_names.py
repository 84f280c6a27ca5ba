"""Names of finished files: ``app.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.jsonl.gz``.

A rotated file is named after the live one with the time span it covers inserted before
the suffix: the first and the last entry, to the second, in UTC, with ``-`` for ``:`` so
that the name is valid everywhere. Two rotations whose spans share a name get a counter
(``.2``, ``.3``, ...). Compression adds ``.gz`` or ``.zst``. Only names of this shape are
ever compressed, moved or purged: anything else in the directory is left alone.
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


def format_stamp(seconds: float) -> str:
    """Return ``2026-11-23T07-00-00Z`` for an epoch time (rounded down to the second)."""
    return datetime.fromtimestamp(int(seconds // 1), UTC).strftime(_STAMP_FORMAT)


def parse_stamp(stamp: str) -> float:
    """Return the epoch seconds of a ``2026-11-23T07-00-00Z`` stamp."""
    return datetime.strptime(stamp, _STAMP_FORMAT).replace(tzinfo=UTC).timestamp()


@final
@dataclass(frozen=True, slots=True, order=True)
class FinishedName:
    """A parsed finished-file name; sorts oldest first (by last entry, then first, then counter)."""

    end: float
    """Epoch seconds of the last entry (rounded down to the second)."""
    start: float
    """Epoch seconds of the first entry."""
    counter: int
    """1 for the first file with this span, then 2, 3, ..."""
    name: str = field(compare=True)
    """The file name itself."""
    compression: str = field(compare=False, default="none")
    """``gzip``, ``zstd`` or ``none``, from the suffix."""

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
            rf"{re.escape(self.stem)}\.({_STAMP})--({_STAMP})(?:\.([1-9]\d*))?"
            rf"{re.escape(self.suffix)}(\.gz|\.zst)?"
        )

    def make(self, first: float, last: float, counter: int = 1) -> str:
        """Return the plain name for a file whose entries span ``first`` to ``last``."""
        count = f".{counter}" if counter > 1 else ""
        return f"{self.stem}.{format_stamp(first)}--{format_stamp(last)}{count}{self.suffix}"

    def parse(self, name: str) -> FinishedName | None:
        """Return the parsed name, or ``None`` when ``name`` is not one of ours."""
        match = self._regex.fullmatch(name)
        if match is None:
            return None
        compression = {".gz": "gzip", ".zst": "zstd"}.get(match[4] or "", "none")
        return FinishedName(
            end=parse_stamp(match[2]),
            start=parse_stamp(match[1]),
            counter=int(match[3] or 1),
            name=name,
            compression=compression,
        )

    def unused(self, first: float, last: float, directories: Iterable[Path]) -> str:
        """Return the first name for this span that no file has yet, compressed or not.

        Every directory given (the live one, the archive) is checked, so a name is never
        reused while an older file with it exists anywhere.
        """
        places = list(directories)
        counter = 1
        while True:
            name = self.make(first, last, counter)
            taken = any(
                (place / (name + suffix)).exists()
                for place in places
                for suffix in ("", *COMPRESSED_SUFFIXES.values())
            )
            if not taken:
                return name
            counter += 1

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


_ANY_FINISHED: Final = re.compile(rf"[^.].*\.({_STAMP})--({_STAMP})(?:\.[1-9]\d*)?(?:\..*)?")


def span_of(name: str) -> tuple[float, float] | None:
    """Return the ``(first, last)`` epoch seconds in any finished-file name, else ``None``.

    Unlike :class:`NamePattern`, this needs no live file: it is how ``tapelog archive
    list`` recognises archives in a directory of several logs.
    """
    match = _ANY_FINISHED.fullmatch(name)
    if match is None:
        return None
    return parse_stamp(match[1]), parse_stamp(match[2])
