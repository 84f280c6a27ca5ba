"""The console format: aligned, optionally coloured lines for people, with readable tracebacks.

A line reads ``time LEVEL logger message key=value ...``. An error's traceback follows on
continuation lines, each starting with ``ConsoleFormat.CONTINUATION``, so that text inside
a value can never pass for the start of another entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Final, cast, final

from tapelog.errors._info import ErrorInfo

from ._logfmt import encode_value, flat_items
from ._text import escape_controls, escape_invisible, safe_text


if TYPE_CHECKING:
    from tapelog.typing import EventDict


__all__ = ["ConsoleFormat", "should_color"]

_RESET: Final = "\x1b[0m"
_DIM: Final = "\x1b[2m"
_LOGGER_STYLE: Final = "\x1b[34m"
_ERROR_STYLE: Final = "\x1b[31m"
_LEVEL_STYLES: Final = {
    "trace": "\x1b[90m",
    "debug": "\x1b[36m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;97;41m",
}
_LEVEL_WIDTH: Final = 8  # len("CRITICAL")
_LOGGER_WIDTH: Final = 16
_MESSAGE_WIDTH: Final = 30
_DATE_LENGTH: Final = 10  # "2026-11-23", then "T"
_MAX_CHAIN: Final = 16  # linked errors rendered before "..." (a cycle, or a runaway chain)
_SKIPPED: Final = frozenset({"timestamp", "level", "logger", "message"})

_CAUSE: Final = "The above exception was the direct cause of the following exception:"
_CONTEXT: Final = "During handling of the above exception, another exception occurred:"


def should_color(stream: object) -> bool:
    """Return whether output to ``stream`` should be coloured.

    ``FORCE_COLOR`` set to anything but the empty string forces colour. Otherwise colour
    needs all three: ``NO_COLOR`` unset or empty (https://no-color.org), ``TERM`` other
    than ``dumb``, and a stream whose ``isatty()`` returns true.

    Args:
        stream: the stream the console sink writes to, such as ``sys.stderr``.

    Returns:
        True to colour.
    """
    environ = os.environ
    if environ.get("FORCE_COLOR"):
        return True
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    if not callable(isatty):
        return False
    try:
        return bool(isatty())
    except Exception:  # a closed or exotic stream
        return False


@final
class ConsoleFormat:
    """Writes an entry for people to read.

    ``2026-11-23 07:01:02.123456 INFO     trading          order filled    trade.side=buy``:
    the time without ``T`` and ``Z``, the level upper-case and padded, the logger padded,
    the message, then the other fields as logfmt pairs. Control characters and line
    breaks are escaped everywhere on that line. An ``error`` object follows as its
    traceback (or ``type: message`` and its chain), one continuation line each.

    Args:
        color: add ANSI colours: per level, dim keys, red tracebacks. Pass
            ``should_color(stream)`` to colour only terminals.
    """

    __slots__ = ("_color", "_levels")

    CONTINUATION: ClassVar[str] = "  │ "
    """Starts every line after an entry's first."""

    def __init__(self, color: bool = False) -> None:
        self._color = color
        self._levels = {
            name: (
                f"{style}{name.upper():<{_LEVEL_WIDTH}}{_RESET}"
                if color
                else f"{name.upper():<{_LEVEL_WIDTH}}"
            )
            for name, style in _LEVEL_STYLES.items()
        }

    def __repr__(self) -> str:
        return f"ConsoleFormat(color={self._color!r})"

    def __call__(self, entry: EventDict) -> bytes:
        """Return the entry as one line, plus continuation lines for an error."""
        try:
            text = self._render(entry)
        except Exception as exc:  # only a hostile value gets here; still write something
            text = escape_controls(f"<console format failed: {safe_text(exc)}> {safe_text(entry)}")
        # Last, over the whole text: no value may reorder or hide what the terminal shows.
        return (escape_invisible(text) + "\n").encode("utf-8", "backslashreplace")

    def _render(self, entry: EventDict) -> str:
        color = self._color
        stamp = _timestamp(entry.get("timestamp"))
        level_value = entry.get("level")
        level = self._levels.get(level_value) if type(level_value) is str else None
        if level is None:
            level = f"{escape_controls(safe_text(level_value)).upper():<{_LEVEL_WIDTH}}"
        logger = f"{escape_controls(safe_text(entry.get('logger', ''))):<{_LOGGER_WIDTH}}"
        message = escape_controls(safe_text(entry.get("message", "")))
        error = entry.get("error")
        rest = {
            key: value
            for key, value in entry.items()
            if key not in _SKIPPED and (key != "error" or not isinstance(error, Mapping))
        }
        if color:
            stamp = f"{_DIM}{stamp}{_RESET}"
            logger = f"{_LOGGER_STYLE}{logger}{_RESET}"
            pairs = [
                f"{_DIM}{key}={_RESET}{encode_value(value)}" for key, value in flat_items(rest)
            ]
        else:
            pairs = [f"{key}={encode_value(value)}" for key, value in flat_items(rest)]
        line = f"{stamp} {level} {logger} {message}"
        if pairs:
            line = f"{line:<{len(line) - len(message) + _MESSAGE_WIDTH}}  {' '.join(pairs)}"
        if not isinstance(error, Mapping):
            return line
        marker = self.CONTINUATION
        details = _traceback_lines(cast("Mapping[str, object]", error))
        if details is None:
            details = _describe(cast("Mapping[str, object]", error), 0)
        if color:
            return "\n".join([line, *(_colored(marker, text) for text in details)])
        return "\n".join(
            [line, *(marker + _clean(text.replace(_LOCAL_LINE, "")) for text in details)]
        )


def _timestamp(value: object) -> str:
    text = escape_controls(safe_text(value)) if value is not None else ""
    if len(text) > _DATE_LENGTH + 1 and text[_DATE_LENGTH] == "T" and text[-1] == "Z":
        return f"{text[:10]} {text[11:-1]}"
    return text


def _clean(text: str) -> str:
    return escape_controls(text.expandtabs(4))


_LOCAL_LINE: Final = "\x00tapelog-local\x00"  # marks a local variable's line, for dimming


def _colored(marker: str, text: str) -> str:
    if not text:
        return marker
    if _LOCAL_LINE in text:  # after a group's margin, if any
        return f"{marker}{_DIM}{_clean(text.replace(_LOCAL_LINE, ''))}{_RESET}"
    return f"{marker}{_ERROR_STYLE}{_clean(text)}{_RESET}"


def _traceback_lines(error: Mapping[str, object]) -> list[str] | None:
    """The traceback rebuilt from the error's data (locals marked), or None if it has none."""
    if not isinstance(error.get("frames"), list):
        return None  # an object from elsewhere, or no traceback: _describe shows it
    try:
        info = ErrorInfo.from_dict(error)
        text = "".join(info.lines(locals_style=(_LOCAL_LINE, "")))
    except (ValueError, TypeError, RecursionError):
        return None
    return text.splitlines()


def _describe(error: Mapping[str, object], depth: int) -> list[str]:
    """Return the lines that show an error: its stack trace, else its chain, built here."""
    stack_trace = error.get("stack_trace")
    if isinstance(stack_trace, str) and stack_trace.strip():
        # Python's own text already holds the chain, the notes and any group members.
        return stack_trace.splitlines()
    if depth >= _MAX_CHAIN:
        return ["..."]
    lines: list[str] = []
    cause, context = error.get("cause"), error.get("context")
    if isinstance(cause, Mapping):
        lines += [*_describe(cast("Mapping[str, object]", cause), depth + 1), "", _CAUSE, ""]
    elif isinstance(context, Mapping):
        lines += [*_describe(cast("Mapping[str, object]", context), depth + 1), "", _CONTEXT, ""]
    kind = safe_text(error.get("type", "Exception"))
    message = safe_text(error.get("message", ""))
    lines += f"{kind}: {message}".splitlines() if message else [kind]
    notes = error.get("notes")
    if isinstance(notes, list):
        lines += [
            line for note in cast("list[object]", notes) for line in safe_text(note).splitlines()
        ]
    members = error.get("exceptions")
    if isinstance(members, list):
        for number, member in enumerate(cast("list[object]", members), 1):
            lines.append(f"+---- {number} ----")
            if isinstance(member, Mapping):
                member_lines = _describe(cast("Mapping[str, object]", member), depth + 1)
            else:
                member_lines = safe_text(member).splitlines()
            lines += [f"| {line}" for line in member_lines]
    return lines
