"""Context fields carried by ``contextvars``: each thread and each asyncio task sees its own.

The context is held in one ``ContextVar`` as a tuple of ``(key, value)`` pairs and never
mutated: binding replaces it with a new tuple, so a caller's snapshot never changes under
the worker thread that reads it later. A tuple rather than a dict because every record
carries it: the garbage collector stops tracking a tuple of plain values, never one that
holds a dict, and a queue of tracked records is walked by every collection (see
docs/architecture.md, "Records the collector leaves alone"). The worker turns each tuple
into cleaned fields once and reuses them while the tuple lives. Reading the context on the
hot path is one ``ContextVar.get``.
"""

from __future__ import annotations

import functools
import inspect
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, final


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tapelog._event import Pairs


__all__ = ["bind_context", "clear_context", "context", "get_context", "unbind_context"]

_P = ParamSpec("_P")
_R = TypeVar("_R")

#: The empty bound fields. Shared, so never mutated.
EMPTY: Mapping[str, object] = {}

CONTEXT: ContextVar[Pairs] = ContextVar("tapelog_context", default=())

#: The hot path reads the context (as pairs) through this bound method.
get_current = CONTEXT.get


def _set(fields: Mapping[str, object]) -> Token[Pairs]:
    return CONTEXT.set(tuple(fields.items()))


def bind_context(**fields: object) -> None:
    """Add fields to the current context (this thread, or this asyncio task).

    Example:
        >>> bind_context(request_id="r-1")
        >>> get_context()["request_id"]
        'r-1'
        >>> clear_context()
    """
    current = CONTEXT.get()
    _set({**dict(current), **fields} if current else fields)


def unbind_context(*keys: str) -> None:
    """Remove fields from the current context; missing keys are ignored."""
    current = CONTEXT.get()
    if any(key in keys for key, _ in current):
        CONTEXT.set(tuple(pair for pair in current if pair[0] not in keys))


def clear_context() -> None:
    """Remove every field from the current context."""
    CONTEXT.set(())


def get_context() -> dict[str, object]:
    """Return a copy of the current context fields."""
    return dict(CONTEXT.get())


@final
class context:  # noqa: N801 - reads like the function it is used as
    """Bind fields for the duration of a ``with`` block or a decorated call.

    Works with plain functions and coroutine functions; each call gets its own scope, so
    the decorator is safe under recursion, threads and concurrent tasks.

    Example:
        >>> with context(order_id="o-1"):
        ...     get_context()["order_id"]
        'o-1'
        >>> "order_id" in get_context()
        False
    """

    __slots__ = ("_fields", "_tokens")

    def __init__(self, **fields: object) -> None:
        self._fields = fields
        self._tokens: list[Token[Pairs]] = []

    def __enter__(self) -> dict[str, object]:
        current = CONTEXT.get()
        merged = {**dict(current), **self._fields} if current else dict(self._fields)
        self._tokens.append(_set(merged))
        return merged

    def __exit__(self, *exc: object) -> None:
        CONTEXT.reset(self._tokens.pop())

    def __call__(self, func: Callable[_P, _R]) -> Callable[_P, _R]:
        fields = self._fields
        if inspect.iscoroutinefunction(func):
            async_func = cast("Callable[_P, Any]", func)

            @functools.wraps(func)
            async def async_wrapper(*args: _P.args, **kwargs: _P.kwargs) -> Any:
                with context(**fields):
                    return await async_func(*args, **kwargs)

            return cast("Callable[_P, _R]", async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
            with context(**fields):
                return func(*args, **kwargs)

        return wrapper
