"""The record a log call leaves in the queue: one plain tuple, cheap to build.

A tuple rather than an object: the caller allocates as little as possible (see
``../docs/architecture.md``, "the hot path"), and the worker unpacks it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import TypeAlias


__all__ = ["ExcInfo", "Record"]

ExcInfo: TypeAlias = tuple[type[BaseException], BaseException, TracebackType | None]
"""An exception as ``sys.exc_info()`` gives it."""

Record: TypeAlias = tuple[
    int,  # 0 time_ns: wall clock at the call
    int,  # 1 level number
    str,  # 2 logger name
    str,  # 3 message
    Mapping[str, object],  # 4 call fields
    Mapping[str, object],  # 5 bound fields (immutable)
    Mapping[str, object],  # 6 context fields (immutable snapshot)
    "ExcInfo | None",  # 7 exception, captured on the caller's thread
    "Mapping[str, object] | None",  # 8 meta: call-site facts and domain objects, or None
]
"""What one call leaves in the queue. Built on the caller's thread, read on the worker's."""
