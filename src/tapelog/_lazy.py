"""Names a package exports but imports only when first used.

So that ``import tapelog`` stays cheap (docs/architecture.md, "Import time").
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping


__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` for ``package`` that imports each name on first use.

    Each name in ``homes`` comes from the module given for it, and is kept in the package
    so that the next use is a plain attribute.

    >>> getattr_ = lazy_exports("tapelog.config", {"parse_size": "tapelog.config._units"})
    >>> getattr_("parse_size")("1 KiB")
    1024
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> object:  # noqa: N807 - what the package will call it
        home = homes.get(name)
        if home is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__
