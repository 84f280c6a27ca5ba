"""Which build of tapelog is running: pure Python, or with its hot modules compiled.

``TAPELOG_COMPILE=1 pip install .`` compiles the modules in ``COMPILED_MODULES`` with
mypyc (the same source, compiled to C extension modules; see docs/architecture.md, "The
optional compiled core"). A plain ``pip install .`` gives the pure-Python package; both
behave the same, and the test suite runs against each. This module is never compiled.
"""

from __future__ import annotations

import importlib.util
from importlib.machinery import EXTENSION_SUFFIXES
from typing import Final


__all__ = ["COMPILED_MODULES", "build_name", "compiled_modules"]

COMPILED_MODULES: Final = (
    "tapelog._entry",
    "tapelog._pipeline",
    "tapelog.audit._chain",
    "tapelog.formats._json",
    "tapelog.processors._normalize",
    "tapelog.processors._redact",
)
"""The modules the compiled build compiles (the build hook reads this tuple)."""


def compiled_modules() -> tuple[str, ...]:
    """The modules of ``COMPILED_MODULES`` that this installation runs compiled.

    Empty for the pure-Python package. Looks at where each module would be (or was)
    loaded from, without running it.

    Example:
        >>> set(compiled_modules()) <= set(COMPILED_MODULES)
        True
    """
    found: list[str] = []
    for name in COMPILED_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is not None and origin.endswith(tuple(EXTENSION_SUFFIXES)):
            found.append(name)
    return tuple(found)


def build_name() -> str:
    """``"compiled"`` when every module of the list runs compiled, else ``"pure Python"``.

    A partly compiled installation (which no build makes) says which modules it has.
    """
    found = compiled_modules()
    if not found:
        return "pure Python"
    if len(found) == len(COMPILED_MODULES):
        return "compiled"
    return "partly compiled: " + ", ".join(found)
