"""Level names and numbers, and the one function that reads any level a user may write."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final


if TYPE_CHECKING:
    from tapelog.typing import LevelName


TRACE: Final = 5
DEBUG: Final = 10
INFO: Final = 20
WARNING: Final = 30
ERROR: Final = 40
CRITICAL: Final = 50

#: A level above every real one: a logger set to it writes nothing.
OFF: Final = 100

LEVEL_NUMBERS: Final[dict[str, int]] = {
    "trace": TRACE,
    "debug": DEBUG,
    "info": INFO,
    "warning": WARNING,
    "error": ERROR,
    "critical": CRITICAL,
}
_ALIASES: Final[dict[str, int]] = {"warn": WARNING, "fatal": CRITICAL, "off": OFF}

LEVEL_NAMES: Final[dict[int, LevelName]] = {
    TRACE: "trace",
    DEBUG: "debug",
    INFO: "info",
    WARNING: "warning",
    ERROR: "error",
    CRITICAL: "critical",
}

ALLOWED: Final = "one of trace, debug, info, warning, error, critical (or a number 0..100)"


def parse_level(level: object) -> int:
    """Return the number of a level given by name (any case) or number.

    Raises:
        ValueError: the level is not a known name or a number in 0..100.
    """
    if isinstance(level, bool):
        msg = f"expected {ALLOWED}, got {level!r}"
        raise ValueError(msg)
    if isinstance(level, int):
        if 0 <= level <= OFF:
            return level
    elif isinstance(level, str):
        key = level.strip().lower()
        number = LEVEL_NUMBERS.get(key) or _ALIASES.get(key)
        if number is not None:
            return number
        if key.isdigit():
            return parse_level(int(key))
    msg = f"expected {ALLOWED}, got {level!r}"
    raise ValueError(msg)


def level_name(number: int) -> LevelName:
    """Return the name of the highest named level at or below ``number``.

    Numbers between levels (a stdlib custom level 25, say) round down, so every entry
    carries one of the six names the schema allows.
    """
    name = LEVEL_NAMES.get(number)
    if name is not None:
        return name
    if number < TRACE:
        return "trace"
    best: LevelName = "trace"
    for value, candidate in LEVEL_NAMES.items():
        if value <= number:
            best = candidate
    return best
