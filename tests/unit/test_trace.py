from __future__ import annotations

from tests.conftest import need_module

import tapelog
from tapelog.testing import capture


trace = need_module("opentelemetry.trace")
sdk_trace = need_module("opentelemetry.sdk.trace")


class TestTraceCorrelation:
    def test_active_span_ids_are_written(self) -> None:
        """Inside an active span, entries carry its trace_id, span_id and trace_flags."""
        tapelog.configure()  # picks up the installed OpenTelemetry API
        tracer = sdk_trace.TracerProvider().get_tracer("test")

        with capture() as entries, tracer.start_as_current_span("place-order") as span:
            tapelog.get_logger("traced").info("inside")
        ctx = span.get_span_context()

        entry = entries[0]
        assert (
            format(ctx.trace_id, "032x"),
            format(ctx.span_id, "016x"),
            format(ctx.trace_flags, "02x"),
        ) == (
            entry["trace_id"],
            entry["span_id"],
            entry["trace_flags"],
        )

    def test_no_span_no_ids(self) -> None:
        """Outside any span, no trace fields are written."""
        tapelog.configure()

        with capture() as entries:
            tapelog.get_logger("traced").info("outside")

        assert set() == {"trace_id", "span_id", "trace_flags"} & set(entries[0])
