"""Output formats: each turns one entry into one line of bytes.

``JsonFormat`` (NDJSON, the default), ``LogfmtFormat`` (``key=value``, with
``parse_logfmt``, ``flatten`` and ``unflatten`` for reading it back) and ``ConsoleFormat``
(for people). ``get_formatter`` picks one by the name the configuration uses.
"""

from __future__ import annotations

from ._console import ConsoleFormat as ConsoleFormat
from ._console import should_color as should_color
from ._json import JsonFormat as JsonFormat
from ._logfmt import LogfmtFormat as LogfmtFormat
from ._logfmt import flatten as flatten
from ._logfmt import parse_logfmt as parse_logfmt
from ._logfmt import unflatten as unflatten
from ._registry import get_formatter as get_formatter
from ._rfc5424 import Rfc5424Format as Rfc5424Format


__all__ = [
    "ConsoleFormat",
    "JsonFormat",
    "LogfmtFormat",
    "Rfc5424Format",
    "flatten",
    "get_formatter",
    "parse_logfmt",
    "should_color",
    "unflatten",
]
