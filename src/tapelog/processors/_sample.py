"""Sampling: keep a share of entries, always keep some levels, keep requests whole.

With a ``key`` (say ``request_id``), the decision is a hash of the key's value, so every
entry of one request is kept or dropped together, in every process, run after run.
Without one, each entry is kept with probability ``rate``.
"""

from __future__ import annotations

import random
import zlib
from typing import TYPE_CHECKING, Final, final


if TYPE_CHECKING:
    from tapelog.typing import EventDict


__all__ = ["Sampler"]

_SCALE: Final = 2**32


@final
class Sampler:
    """Decides, per entry, whether a sampled sink gets it.

    Args:
        rate: the share of entries to keep, 0.0 to 1.0.
        keep_levels: level numbers that are never sampled out.
        key: a field whose value decides for all entries that share it; entries without
            the field are sampled at random.
    """

    __slots__ = ("_keep_levels", "_key", "_random", "_threshold", "rate")

    def __init__(
        self, rate: float, keep_levels: frozenset[int] = frozenset(), key: str | None = None
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            msg = f"sample.rate: expected a number from 0 to 1, got {rate!r}"
            raise ValueError(msg)
        self.rate = rate
        self._threshold = int(rate * _SCALE)
        self._keep_levels = keep_levels
        self._key = key
        self._random = random.Random()  # noqa: S311 - sampling, not security

    def __call__(self, level: int, entry: EventDict) -> bool:
        """True to keep the entry."""
        if level in self._keep_levels:
            return True
        if self._key is not None:
            value = entry.get(self._key)
            if value is not None:
                return zlib.crc32(str(value).encode("utf-8", "surrogatepass")) < self._threshold
        return self._random.random() < self.rate
