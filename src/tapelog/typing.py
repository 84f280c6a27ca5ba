"""Types and protocols for extending tapelog: formatters and sinks.

Users satisfy these structurally; nothing here needs to be subclassed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol, TypeAlias, runtime_checkable


__all__ = ["EventDict", "FormatName", "Formatter", "LevelName", "Sink"]

EventDict: TypeAlias = dict[str, Any]
"""One log entry on the worker side: ordered keys, JSON-ready values after normalisation.

The required keys come first: ``timestamp``, ``level``, ``logger``, ``message``.
"""

LevelName: TypeAlias = Literal["trace", "debug", "info", "warning", "error", "critical"]
"""The six level names, lowest first."""

FormatName: TypeAlias = Literal["json", "logfmt", "console"]
"""The formats a sink can write, by the names the configuration uses."""

Formatter: TypeAlias = Callable[[EventDict], bytes]
"""Renders one normalised entry as one line of bytes, ending with ``b"\\n"``."""


@runtime_checkable
class Sink(Protocol):
    """A destination. The worker thread calls it; it never runs on the caller's thread.

    ``write_batch`` receives entries that already passed the sink's level and filter, in
    order. It may raise: the dispatcher counts the batch under the sink as failed and goes
    on with the other sinks. Other sinks receive the same entries (often the same
    sequence), so a sink reads them and never changes them; it may keep the sequence to
    deliver later, since the dispatcher never reuses it.
    """

    name: str

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Write a batch of entries, ideally with one system call."""
        ...

    def flush(self) -> None:
        """Push anything buffered to its destination."""
        ...

    def close(self) -> None:
        """Flush and release resources. Called once, from the worker or at shutdown."""
        ...
