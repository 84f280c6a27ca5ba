"""Destinations for entries, and the contract a sink keeps.

``BaseSink`` states every call tapelog makes to a sink; ``register_sink`` adds a sink type
to the configuration, with its options validated like the built-in ones
(docs/sinks.md).

Every sink, the console's included, is imported on first use, so ``import tapelog`` does
not pay for formats, rotation and archives, ``ssl``, ``http.client`` or protobuf until a
configuration asks for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapelog._lazy import lazy_exports as _lazy_exports
from tapelog.sinks._base import BaseSink as BaseSink


if TYPE_CHECKING:
    from tapelog.sinks._background import BackgroundSink as BackgroundSink
    from tapelog.sinks._console import ConsoleSink as ConsoleSink
    from tapelog.sinks._file import FileSink as FileSink
    from tapelog.sinks._http import HttpSink as HttpSink
    from tapelog.sinks._otlp import OtlpSink as OtlpSink
    from tapelog.sinks._registry import register_sink as register_sink
    from tapelog.sinks._syslog import SyslogSink as SyslogSink


__all__ = [
    "BackgroundSink",
    "BaseSink",
    "ConsoleSink",
    "FileSink",
    "HttpSink",
    "OtlpSink",
    "SyslogSink",
    "register_sink",
]

__getattr__ = _lazy_exports(
    __name__,
    {
        "ConsoleSink": "tapelog.sinks._console",
        "register_sink": "tapelog.sinks._registry",
        "BackgroundSink": "tapelog.sinks._background",
        "FileSink": "tapelog.sinks._file",
        "HttpSink": "tapelog.sinks._http",
        "OtlpSink": "tapelog.sinks._otlp",
        "SyslogSink": "tapelog.sinks._syslog",
    },
)
