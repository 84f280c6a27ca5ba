"""Trace correlation with OpenTelemetry, when its API is installed.

The caller's thread captures OpenTelemetry's current context (one call, only when the
API is installed); the worker reads the active span from it and writes ``trace_id``,
``span_id`` and ``trace_flags`` as lowercase hex.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any, cast


if TYPE_CHECKING:
    from collections.abc import Callable


__all__ = ["context_getter", "trace_fields"]


def context_getter() -> Callable[[], object] | None:
    """OpenTelemetry's ``context.get_current``, or None when the API is not installed."""
    try:
        if importlib.util.find_spec("opentelemetry.context") is None:
            return None
        module = importlib.import_module("opentelemetry.context")
    except (ImportError, ValueError):
        return None
    # The runtime context's ContextVar.get is what get_current() ends in; calling it
    # directly saves two Python calls on every log call. Fall back to the public API.
    runtime = getattr(module, "_RUNTIME_CONTEXT", None)
    variable = getattr(runtime, "_current_context", None)
    getter = getattr(variable, "get", None)
    if callable(getter):
        return cast("Callable[[], object]", getter)
    return cast("Callable[[], object]", module.get_current)


_TRACE: list[Any] = []


def _load_trace() -> Any:
    trace = importlib.import_module("opentelemetry.trace")
    _TRACE.append(trace)
    return trace


def trace_fields(otel_context: object) -> dict[str, str] | None:
    """The active span's ids in ``otel_context``, or None when no valid span is active."""
    trace = _TRACE[0] if _TRACE else _load_trace()
    span_context = trace.get_current_span(otel_context).get_span_context()
    if not span_context.is_valid:
        return None
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
        "trace_flags": format(int(span_context.trace_flags), "02x"),
    }
