"""Text helpers shared by the formats: safe ``str()``, quoting and control-character escapes.

Three character classes drive everything here:

- *escaped*: characters that never appear raw in a written line. They are the C0 controls,
  DEL, the C1 controls (U+0085 among them), U+2028, U+2029 and lone surrogates. Together
  they cover every character ``str.splitlines()`` breaks on, so no value can split a line.
- *quoted*: characters that make a logfmt value need quotes. They are the escaped ones, plus
  the space, ``=``, ``"`` and the Unicode spaces a reader would mistake for a separator.
- *typed-looking*: a string that a reader could take for a number, boolean, null, list or
  object. It is quoted so that it reads back as a string.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final


__all__ = [
    "NEEDS_QUOTES_SEARCH",
    "TYPED_START",
    "escape_controls",
    "escape_invisible",
    "looks_typed",
    "quote",
    "safe_text",
]

# Inside quotes: the JSON escapes, plus DEL, C1, U+2028/U+2029 and lone surrogates.
_ESCAPED_IN_QUOTES: Final = re.compile('[\x00-\x1f"\\\\\x7f-\x9f\u2028\u2029\ud800-\udfff]')
# Outside quotes (console message, logger name): the same without the quote and backslash.
_CONTROLS: Final = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Shown to people (the console): the bidirectional controls, which reorder what a terminal
# displays (so a line can read differently from what it holds), and the invisible
# characters that hide text. ZWJ and ZWNJ stay: emoji and several scripts need them.
_INVISIBLE: Final = re.compile("[\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
# A bare logfmt value ends at the first of these (go-logfmt: runes <= ' ', '=', '"').
NEEDS_QUOTES_SEARCH: Final = re.compile(
    '[\x00-\x20"=\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ud800-\udfff]'
).search
# A superset of what a reader might parse as a number: JSON numbers and Python's float()
# syntax (underscores, a leading dot or plus). Words are matched separately, below.
_NUMBER_LIKE: Final = re.compile(
    r"[+-]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9][0-9_]*)?\Z"
)
_NUMBER_START: Final = frozenset("0123456789+-.")
_NUMBER_CHARS: Final = "0123456789_.eE+-"
_WORDS: Final = frozenset(
    {"true", "false", "null", "none"}
    | {f"{sign}{word}" for sign in ("", "+", "-") for word in ("nan", "inf", "infinity")}
)
_LONGEST_WORD: Final = len("-infinity")
TYPED_START: Final = frozenset("0123456789+-.tTfFnNiI[{")
"""Every string ``looks_typed`` accepts starts with one of these: a cheap pre-check."""

_SHORT_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_match(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def safe_text(value: object) -> str:
    """Return ``value`` as text, whatever it is; never raises.

    A ``Decimal`` is written with ``format(d, "f")`` (so ``0E-8`` reads ``0.00000000``).
    Anything else uses ``str()``, then ``repr()``, then a placeholder naming its type.

    Args:
        value: any object.

    Returns:
        The text to write in place of the value.
    """
    if type(value) is str:
        return value
    try:
        if isinstance(value, Decimal) and value.is_finite():
            return format(value, "f")
        if isinstance(value, str):
            return str.__str__(value)  # the text of a str subclass, such as a StrEnum member
        return str(value)
    except Exception:  # a __str__ that raises: try repr, then give up gracefully
        return _safe_repr(value)


def _safe_repr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


def quote(text: str) -> str:
    r"""Return ``text`` in double quotes, with JSON-style escapes for anything unsafe.

    ``\" \\ \n \r \t`` are written short; other controls, DEL, C1, U+2028, U+2029 and
    lone surrogates as ``\u00XX`` (``\u2028``).

    Args:
        text: the value to quote.

    Returns:
        The quoted value; decoding it as a JSON string gives ``text`` back.
    """
    if _ESCAPED_IN_QUOTES.search(text) is None:  # the usual case, and cheaper than sub()
        return f'"{text}"'
    return f'"{_ESCAPED_IN_QUOTES.sub(_escape_match, text)}"'


def escape_invisible(text: str) -> str:
    r"""Return ``text`` with bidirectional controls and invisible characters escaped.

    For text a person reads in a terminal: ``"pay\u202eusd"`` would otherwise show its
    tail reversed. Each such character becomes ``\uXXXX``.
    """
    if text.isascii() or _INVISIBLE.search(text) is None:
        return text
    return _INVISIBLE.sub(_escape_match, text)


def escape_controls(text: str) -> str:
    """Return ``text`` with control characters and line breaks escaped, and nothing else.

    Used where text is shown unquoted (the console's message): quotes and backslashes
    stay as they are, so a Windows path reads naturally.

    Args:
        text: the text to show.

    Returns:
        Text that holds no control character or line break.
    """
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(_escape_match, text)


def looks_typed(text: str) -> bool:
    """Return whether a reader could take ``text`` for something other than a string.

    Args:
        text: a non-empty string.

    Returns:
        True for numbers (``10``, ``0.00000001``, ``1e5``, ``+1``, ``1_000``), constants
        (``nan``, ``-Inf``, ``true``, ``NULL``) and JSON containers (text starting with
        ``[`` or ``{``). Quoting more than needed is harmless, so this errs towards True.
    """
    if text in _WORDS or text[0] in "[{":
        return True
    # Cheap rejections first: most values are neither numeric nor a mixed-case word.
    if text[0] in _NUMBER_START and not text.strip(_NUMBER_CHARS):
        return _NUMBER_LIKE.match(text) is not None
    return len(text) <= _LONGEST_WORD and not text.islower() and text.lower() in _WORDS
