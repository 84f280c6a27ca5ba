"""The otlp sink against a receiver that decodes requests with the official protobuf messages."""

from __future__ import annotations

import importlib.util
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need, read_jsonl
from tests.integration.test_http_sink import wait_until

import tapelog
from tapelog._runtime import RUNTIME
from tapelog.cli._collector import Collector


if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path


def decode(body: bytes, headers: Mapping[str, str]) -> list[dict[str, Any]]:
    """Each LogRecord of an ExportLogsServiceRequest, with its resource and scope."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    assert "application/x-protobuf" == headers["content-type"]
    request = ExportLogsServiceRequest.FromString(body)
    found = []
    for resource_logs in request.resource_logs:
        resource = {kv.key: value_of(kv.value) for kv in resource_logs.resource.attributes}
        for scope_logs in resource_logs.scope_logs:
            found.extend(
                {
                    "resource": resource,
                    "scope": scope_logs.scope.name,
                    "record": record,
                    "attributes": {kv.key: value_of(kv.value) for kv in record.attributes},
                    "kinds": {kv.key: kv.value.WhichOneof("value") for kv in record.attributes},
                }
                for record in scope_logs.log_records
            )
    return found


def value_of(value: Any) -> Any:
    """An AnyValue as plain Python: kvlists as dicts, arrays as lists."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    if kind == "array_value":
        return [value_of(item) for item in value.array_value.values]
    return getattr(value, kind)


@pytest.fixture(name="receiver")
def _receiver() -> Iterator[Collector]:
    need(importlib.util.find_spec("opentelemetry.proto") is not None, "opentelemetry-proto")
    collector = Collector(path="/v1/logs", parse=decode).up()
    yield collector
    collector.close()


def configure(receiver: Collector, *others: dict[str, Any], **settings: Any) -> None:
    otlp = {
        "type": "otlp",
        "endpoint": receiver.url.removesuffix("/v1/logs"),
        "batch": {"max_delay": "50ms"},
        "retry": {"initial_delay": "50ms", "max_delay": "200ms"},
        **settings.pop("otlp", {}),
    }
    tapelog.configure(sinks=[otlp, *others], **settings)
    tapelog.flush(5)
    RUNTIME.dispatcher.reset_counters()


def otlp_stats() -> Any:
    return tapelog.stats().sinks.get("otlp")


def received(receiver: Collector, logger: str, count: int) -> list[dict[str, Any]]:
    assert wait_until(lambda: len([r for r in receiver.records if r["scope"] == logger]) >= count)
    return [r for r in receiver.records if r["scope"] == logger]


class TestMapping:
    def test_severity_body_scope_and_resource(self, receiver: Collector) -> None:
        """Each level has its SeverityNumber; message is Body; logger is the scope; resource as set."""
        configure(
            receiver,
            level="trace",
            otlp={"resource": {"service.name": "orders", "deployment.environment": "test"}},
        )
        log = tapelog.get_logger("otlp.levels")
        for level in ("trace", "debug", "info", "warning", "error", "critical"):
            log.log(level, "at", level_name=level)
        records = received(receiver, "otlp.levels", 6)

        assert [1, 5, 9, 13, 17, 21] == [r["record"].severity_number for r in records]
        assert ["trace", "debug", "info", "warning", "error", "critical"] == [
            r["record"].severity_text for r in records
        ]
        assert ["at"] * 6 == [r["record"].body.string_value for r in records]
        assert ["trace", "debug"] == [r["attributes"]["level_name"] for r in records[:2]]
        assert {"service.name": "orders", "deployment.environment": "test"} == records[0][
            "resource"
        ]

    def test_typed_attributes_event_and_time(self, receiver: Collector, tmp_path: Path) -> None:
        """Fields keep their types (nested maps as kvlists); event is EventName; the time is exact."""
        path = tmp_path / "app.jsonl"
        configure(receiver, {"type": "file", "path": str(path)})
        tapelog.get_logger("otlp.types").info(
            "filled",
            event="order.filled",
            qty=42,
            ratio=0.25,
            final=True,
            venue="XNAS",
            missing=None,
            legs={"a": {"px": [1, 2.5, "s"]}},
        )
        (found,) = received(receiver, "otlp.types", 1)
        tapelog.flush(5)
        (entry,) = [e for e in read_jsonl(path) if e["logger"] == "otlp.types"]
        record = found["record"]
        moment = datetime.fromisoformat(entry["timestamp"])

        assert {
            "tapelog.seq": "int_value",
            "qty": "int_value",
            "ratio": "double_value",
            "final": "bool_value",
            "venue": "string_value",
            "missing": None,
            "legs": "kvlist_value",
        } == found["kinds"]
        assert {"a": {"px": [1, 2.5, "s"]}} == found["attributes"]["legs"]
        assert (entry["seq"], "order.filled", "filled") == (
            found["attributes"]["tapelog.seq"],
            record.event_name,
            record.body.string_value,
        )
        expected_ns = int(moment.timestamp()) * 10**9 + moment.microsecond * 1000
        assert (expected_ns, expected_ns) == (record.time_unix_nano, record.observed_time_unix_nano)

    def test_trace_context_as_bytes(self, receiver: Collector) -> None:
        """trace_id and span_id become bytes, trace_flags the flags."""
        need(importlib.util.find_spec("opentelemetry.sdk") is not None, "opentelemetry-sdk")
        from opentelemetry.sdk.trace import TracerProvider

        configure(receiver)
        tracer = TracerProvider().get_tracer("test")
        with tracer.start_as_current_span("work") as span:
            tapelog.get_logger("otlp.trace").info("inside")
            context = span.get_span_context()
        (found,) = received(receiver, "otlp.trace", 1)
        record = found["record"]

        assert (
            context.trace_id.to_bytes(16, "big"),
            context.span_id.to_bytes(8, "big"),
            int(context.trace_flags),
        ) == (record.trace_id, record.span_id, record.flags)
        assert not {"trace_id", "span_id", "trace_flags"} & set(found["attributes"])

    def test_exceptions_follow_the_semantic_conventions(self, receiver: Collector) -> None:
        """An error's type, message and stack trace become exception.* attributes."""
        configure(receiver)
        try:
            {}["missing"]
        except KeyError:
            tapelog.get_logger("otlp.error").exception("lookup failed")
        (found,) = received(receiver, "otlp.error", 1)
        attributes = found["attributes"]

        assert ("KeyError", "'missing'", 17) == (
            attributes["exception.type"],
            attributes["exception.message"],
            found["record"].severity_number,
        )
        assert "Traceback (most recent call last)" in attributes["exception.stacktrace"]

    def test_resource_from_entry_fields(self, receiver: Collector) -> None:
        """Without a configured resource, service, host and pid fill service.name, host.name, process.pid."""
        configure(receiver, service="proxy", fields={"include": ["service", "host", "pid"]})
        tapelog.get_logger("otlp.resource").info("up")
        (found,) = received(receiver, "otlp.resource", 1)
        resource = found["resource"]

        assert ("proxy", os.getpid(), True) == (
            resource["service.name"],
            resource["process.pid"],
            bool(resource["host.name"]),
        )
        assert not {"service", "host", "pid"} & set(found["attributes"])

    def test_default_service_name(self, receiver: Collector) -> None:
        """With no service anywhere, service.name is unknown_service:<program>, as the SDKs do."""
        configure(receiver)
        tapelog.get_logger("otlp.default").info("hello")
        (found,) = received(receiver, "otlp.default", 1)

        assert found["resource"]["service.name"].startswith("unknown_service:")


class TestDelivery:
    def test_retry_gzip_and_one_delivery(self, receiver: Collector) -> None:
        """503 and 429 are retried (with the same key), gzip is accepted, every record arrives once."""
        receiver.fail(503, times=1)
        receiver.fail(429, times=1, retry_after=0.1)
        configure(receiver, otlp={"gzip": True})
        log = tapelog.get_logger("otlp.retry")
        for i in range(20):
            log.info("m", i=i)
        records = received(receiver, "otlp.retry", 20)

        assert list(range(20)) == [r["attributes"]["i"] for r in records]
        assert "gzip" == receiver.requests[-1]["content-encoding"]
        assert receiver.requests[0]["idempotency-key"] == receiver.requests[2]["idempotency-key"]
        assert wait_until(lambda: otlp_stats().written == 20)

    def test_non_retryable_status_fails_the_batch(self, receiver: Collector) -> None:
        """A 500 is not retried by OTLP's rules: the batch counts as failed."""
        receiver.fail(500, times=1)
        configure(receiver)
        tapelog.get_logger("otlp.refused").info("lost")

        assert wait_until(lambda: otlp_stats() is not None and otlp_stats().failed == 1)
        assert 1 == len(receiver.requests)

    def test_partial_success_counts_rejected_records(self, receiver: Collector) -> None:
        """Records the receiver says it rejected are counted failed, the rest written."""
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsPartialSuccess,
            ExportLogsServiceResponse,
        )

        receiver.reply = ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=1, error_message="too old"
            )
        ).SerializeToString()
        receiver.reply_type = "application/x-protobuf"
        configure(receiver, otlp={"batch": {"max_delay": "200ms"}})
        log = tapelog.get_logger("otlp.partial")
        for i in range(3):
            log.info("m", i=i)
        received(receiver, "otlp.partial", 3)

        assert wait_until(lambda: otlp_stats() is not None and otlp_stats().failed == 1)
        assert 2 == otlp_stats().written
