"""Sizes and durations as people write them: ``"100 MiB"``, ``"1h30m"``, ``"250ms"``.

Both parsers accept every form once, at configuration time, and return one plain number
(bytes as ``int``, seconds as ``float``), so nothing downstream ever parses a unit again.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Final


__all__ = [
    "DURATION_EXPECTED",
    "MAX_DURATION",
    "MAX_SIZE",
    "SIZE_EXPECTED",
    "OutOfRangeError",
    "parse_duration",
    "parse_size",
]

SIZE_EXPECTED: Final = 'a size like "100 MiB" or a number of bytes'
DURATION_EXPECTED: Final = 'a duration like "90d", "1h30m" or "250ms", or a number of seconds'

MAX_DURATION: Final = 100 * 365 * 86400.0
"""The longest duration accepted: 100 years (365-day years), in seconds. Every duration
ends up as a wait (``threading`` refuses more than about 292 years) or a socket timeout
(refused beyond about 300 years on Linux): a larger one would raise on a sink's thread,
long after ``configure()`` accepted it."""
MAX_SIZE: Final = 1 << 50
"""The largest size accepted: 1 PiB."""
MAX_DURATION_TEXT: Final = "100 years"
MAX_SIZE_TEXT: Final = "1 PiB"


class OutOfRangeError(ValueError):
    """A size or duration that reads well but is larger than tapelog accepts."""

    def __init__(self, value: object, expected: str) -> None:
        self.expected = expected
        super().__init__(f"expected {expected}, got {value!r}")


def _units(table: dict[str, tuple[str, ...]]) -> dict[str, Decimal]:
    return {name: Decimal(factor) for factor, names in table.items() for name in names}


# Binary units (KiB) are powers of 1024; decimal ones (kB) and bare prefixes (k) powers of
# 1000, as in SI and IEC 80000-13. Matching is case-insensitive, so "MB" and "mb" agree.
_SIZE_UNITS: Final = _units(
    {
        "1": ("", "b", "byte", "bytes"),
        "1e3": ("k", "kb"),
        "1e6": ("m", "mb"),
        "1e9": ("g", "gb"),
        "1e12": ("t", "tb"),
        str(2**10): ("ki", "kib"),
        str(2**20): ("mi", "mib"),
        str(2**30): ("gi", "gib"),
        str(2**40): ("ti", "tib"),
    }
)

# Both the micro sign and the Greek mu, which look the same.
_MICRO: Final = "\N{MICRO SIGN}\N{GREEK SMALL LETTER MU}"
_DURATION_UNITS: Final = _units(
    {
        "1e-9": ("ns", "nanosecond", "nanoseconds"),
        "1e-6": ("us", *(f"{mu}s" for mu in _MICRO), "microsecond", "microseconds"),
        "1e-3": ("ms", "millisecond", "milliseconds"),
        "1": ("s", "sec", "secs", "second", "seconds"),
        "60": ("m", "min", "mins", "minute", "minutes"),
        "3600": ("h", "hr", "hrs", "hour", "hours"),
        "86400": ("d", "day", "days"),
        "604800": ("w", "week", "weeks"),
    }
)

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_SIZE_RE: Final = re.compile(rf"{_NUMBER}\s*([a-z]*)")
_DURATION_PART_RE: Final = re.compile(_NUMBER + r"\s*([a-z" + _MICRO + r"]*)\s*")
_DURATION_RE: Final = re.compile(rf"(?:{_DURATION_PART_RE.pattern})+")


def _plain_number(value: object) -> Decimal | None:
    """Return a non-negative finite ``int`` or ``float`` as a Decimal, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Decimal(value) if value >= 0 else None


def parse_size(value: object) -> int:
    """Return a size in bytes.

    Accepts a non-negative number of bytes (``1048576``) or a string with an optional
    unit: binary ``KiB MiB GiB TiB`` (powers of 1024), decimal ``kB MB GB TB`` or bare
    ``k m g t`` (powers of 1000), or ``B``. Case does not matter and a space between the
    number and the unit is optional. A fractional result rounds to the nearest byte.

    >>> parse_size("100 MiB"), parse_size("1.5GB"), parse_size("512k"), parse_size(10)
    (104857600, 1500000000, 512000, 10)

    Raises:
        ValueError: ``value`` is not a size, or is negative; ``OutOfRangeError`` (a
            ``ValueError``) when it is larger than ``MAX_SIZE``.
    """
    number = _plain_number(value)
    if number is None and isinstance(value, str):
        match = _SIZE_RE.fullmatch(value.strip().lower())
        if match is not None and match[2] in _SIZE_UNITS:
            number = Decimal(match[1]) * _SIZE_UNITS[match[2]]
    if number is None:
        msg = f"expected {SIZE_EXPECTED}, got {value!r}"
        raise ValueError(msg)
    if number > MAX_SIZE:
        raise OutOfRangeError(value, f"a size of at most {MAX_SIZE_TEXT} ({MAX_SIZE} bytes)")
    return int(number.to_integral_value(ROUND_HALF_UP))


def parse_duration(value: object) -> float:
    """Return a duration in seconds.

    Accepts a non-negative number of seconds, a :class:`~datetime.timedelta`, or a string
    of one or more ``<number><unit>`` parts: ``"90d"``, ``"1h30m"``, ``"1.5 hours"``,
    ``"250ms"``. Units: ``w d h m s ms us ns`` and their long names (``weeks``, ``days``,
    ``hours``, ``minutes``/``min``, ``seconds``/``sec``, ``milliseconds``,
    ``microseconds``/``µs``, ``nanoseconds``). A bare numeric string is seconds.

    >>> parse_duration("1h30m"), parse_duration("250ms"), parse_duration(2)
    (5400.0, 0.25, 2.0)

    Raises:
        ValueError: ``value`` is not a duration, or is negative; ``OutOfRangeError`` (a
            ``ValueError``) when it is longer than ``MAX_DURATION``.
    """
    if isinstance(value, timedelta) and value >= timedelta(0):
        return value.total_seconds()
    seconds = _plain_number(value)
    if seconds is None and isinstance(value, str):
        text = value.strip().lower()
        if _DURATION_RE.fullmatch(text):
            parts = _DURATION_PART_RE.findall(text)
            bare = len(parts) == 1 and parts[0][1] == ""
            if bare or all(unit in _DURATION_UNITS and unit for _, unit in parts):
                seconds = sum(
                    (Decimal(n) * _DURATION_UNITS[unit or "s"] for n, unit in parts), Decimal(0)
                )
    if seconds is None:
        msg = f"expected {DURATION_EXPECTED}, got {value!r}"
        raise ValueError(msg)
    if seconds > Decimal(MAX_DURATION):
        raise OutOfRangeError(value, f"a duration of at most {MAX_DURATION_TEXT}")
    return float(seconds)
