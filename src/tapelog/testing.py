"""Helpers for testing code that logs with tapelog.

Example:
    >>> import tapelog
    >>> from tapelog.testing import capture
    >>> with capture() as entries:
    ...     tapelog.get_logger("shop").info("order placed", password="hunter2")
    >>> entries[0]["message"], entries[0]["password"]
    ('order placed', '[REDACTED]')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapelog._runtime import RUNTIME, CapturingSink


if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from tapelog.typing import EventDict


__all__ = ["CapturingSink", "capture"]


def capture(level: int | str | None = None) -> AbstractContextManager[list[EventDict]]:
    """Collect the entries logged inside the ``with`` block as dicts, instead of writing them.

    Entries are built exactly as for a real sink (redaction applied, values converted)
    and appended synchronously, so they can be inspected inside the block.

    Args:
        level: a temporary global level for the block (default: the configured levels).
    """
    return RUNTIME.capturing(level)
