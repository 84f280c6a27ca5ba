"""The exceptions tapelog raises.

::

    TapelogError(Exception)
    ├── ConfigError(TapelogError, ValueError)     a bad configuration value; .path .value .expected
    └── SinkError(TapelogError)                   a sink could not write; worker side only,
                                                  counted in stats(), never raised to a caller

Each refines the builtin it also subclasses, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from typing import final


__all__ = ["ConfigError", "SinkError", "TapelogError"]


class TapelogError(Exception):
    """Base class of every error tapelog raises."""


@final
class ConfigError(TapelogError, ValueError):
    """A configuration value is invalid; the running configuration was not changed.

    Raised by ``configure()``, config loading and public constructors. The message reads
    ``<path>: expected <what is allowed>, got <value>``.

    Attributes:
        path: where the bad value sits, like ``sinks[1].rotation``; empty for the whole config.
        value: the value that came in.
        expected: what would have been accepted.
    """

    def __init__(self, path: str, value: object, expected: str, *, source: str = "") -> None:
        self.path = path
        self.value = value
        self.expected = expected
        self.source = source
        where = path or "config"
        origin = f" (from {source})" if source else ""
        super().__init__(f"{where}: expected {expected}, got {value!r}{origin}")


@final
class SinkError(TapelogError):
    """A sink failed to write. Counted under the sink in ``stats()``; never reaches a caller.

    Attributes:
        written: how many entries of the batch, from its start, reached the destination
            before the failure (a full disk can stop a batch part way); they are counted
            ``written``, and only the rest is counted ``failed`` and handed to a fallback.
    """

    def __init__(self, message: str, *, written: int = 0) -> None:
        super().__init__(message)
        self.written = written
