"""Formats by name, as the configuration names them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, get_args

from tapelog.typing import FormatName

from ._console import ConsoleFormat
from ._json import JsonFormat
from ._logfmt import LogfmtFormat


if TYPE_CHECKING:
    from tapelog.typing import Formatter


__all__ = ["FORMAT_NAMES", "get_formatter"]

FORMAT_NAMES: Final[tuple[str, ...]] = tuple(sorted(get_args(FormatName)))
"""The names ``get_formatter`` accepts."""


def get_formatter(name: str, *, color: bool = False) -> Formatter:
    """Return the formatter called ``name``.

    Args:
        name: ``"json"``, ``"logfmt"`` or ``"console"``.
        color: colour the console format (ignored by the others).

    Returns:
        A callable turning an entry into one line of bytes.

    Raises:
        ValueError: ``name`` is not one of the names above.

    Example:
        >>> get_formatter("console", color=True)
        ConsoleFormat(color=True)
    """
    if name == "json":
        return JsonFormat()
    if name == "logfmt":
        return LogfmtFormat()
    if name == "console":
        return ConsoleFormat(color=color)
    allowed = ", ".join(f'"{known}"' for known in FORMAT_NAMES)
    msg = f"format: expected one of {allowed}, got {name!r}"
    raise ValueError(msg)
