"""Destinations for entries. Each sink satisfies ``tapelog.typing.Sink``."""

from tapelog.sinks._console import ConsoleSink as ConsoleSink
from tapelog.sinks._file import FileSink as FileSink


__all__ = ["ConsoleSink", "FileSink"]
