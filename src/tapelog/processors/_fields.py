"""Field selection: ``[fields]`` ``exclude`` and ``rename``, applied to a finished entry."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Final, final

from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from tapelog.processors._normalize import JsonValue


__all__ = ["FieldSelector"]

_NO_RENAMES: Final[Mapping[str, str]] = MappingProxyType({})
_VALID_KEY: Final = re.compile(r"[\w.]{1,128}")  # as a sanitised top-level key
_KEY_LENGTH: Final = 128


@final
class FieldSelector:
    """Drops excluded top-level keys, then renames keys, keeping the entry's key order.

    Excluded and renamed keys are the names before renaming. A renamed key takes its new
    name even if the entry already has a key of that name: the key it displaces is kept
    as ``name_``, as a user field next to a reserved key is.

    Args:
        exclude: top-level keys never written.
        rename: new names for top-level keys, like ``{"message": "msg"}``.

    Raises:
        ConfigError: a new name is not a valid key, or two keys are renamed to the same
            name (a ``ValueError``, naming the offending entry of ``rename``).

    >>> select = FieldSelector(exclude=["thread"], rename={"message": "msg"})
    >>> select({"level": "info", "message": "hi", "thread": "main", "msg": "user's"})
    {'level': 'info', 'msg': 'hi', 'msg_': "user's"}
    """

    __slots__ = ("_exclude", "_rename", "_touched")

    def __init__(
        self, exclude: Iterable[str] = (), rename: Mapping[str, str] = _NO_RENAMES
    ) -> None:
        targets: dict[str, str] = {}
        for old, new in rename.items():
            if not _VALID_KEY.fullmatch(new):
                raise ConfigError(
                    f"fields.rename.{old}",
                    new,
                    "a key of letters and digits of any script, _ and . (at most 128)",
                )
            if new in targets:
                raise ConfigError(
                    f"fields.rename.{old}",
                    new,
                    f"a name no other key is renamed to ({targets[new]!r} is)",
                )
            targets[new] = old
        self._exclude = frozenset(exclude)
        self._rename = {
            old: new for old, new in rename.items() if old != new and old not in self._exclude
        }
        self._touched = self._exclude | self._rename.keys()

    def __call__(self, entry: dict[str, JsonValue]) -> dict[str, JsonValue]:
        """Return the entry without excluded keys and with renamed keys.

        Args:
            entry: a finished entry; not modified.

        Returns:
            ``entry`` itself when nothing applies to it, else a new dict.
        """
        if self._touched.isdisjoint(entry):
            return entry
        exclude, rename = self._exclude, self._rename
        if not rename:
            return {key: value for key, value in entry.items() if key not in exclude}
        claimed = {rename[key] for key in entry if key in rename}
        out: dict[str, JsonValue] = {}
        for key, value in entry.items():
            if key in exclude:
                continue
            new = rename.get(key)
            if new is None:
                new = key
                if new in claimed:
                    new = _displaced(key, entry, claimed, out)
            out[new] = value
        return out


def _displaced(
    key: str, entry: Mapping[str, object], claimed: set[str], out: Mapping[str, object]
) -> str:
    """Return a free name for ``key``, whose name a renamed key took: ``key_``, ``key__``..."""
    count = 1
    while True:
        suffix = "_" * count if len(key) + count <= _KEY_LENGTH else f"_{count}"
        candidate = key[: _KEY_LENGTH - len(suffix)] + suffix
        if candidate not in entry and candidate not in claimed and candidate not in out:
            return candidate
        count += 1
