"""The otlp sink: OTLP/HTTP protobuf logs to ``/v1/logs``, on the http sink's engine.

Batching, retries, the spool and the idempotency key are ``DeliverySink``'s. This module
maps an entry to an OpenTelemetry ``LogRecord`` (the table is in ``docs/http.md``) and reads
OTLP responses: 2xx delivered (a ``partial_success`` counts its rejected records as
failed), 429, 502, 503 and 504 retried (honouring ``Retry-After``), anything else refused,
as the OTLP specification says.

Encoding needs ``opentelemetry-proto`` (``pip install "tapelog[otlp]"``), imported when
the first ``OtlpSink`` is built, never by ``import tapelog``.
"""

from __future__ import annotations

import importlib
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, TypeAlias, cast, final

from tapelog.exceptions import SinkError
from tapelog.sinks._batching import Outcome
from tapelog.sinks._http import DeliverySink, delivery_options, parse_retry_after


if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from tapelog.config._model import SinkConfig
    from tapelog.sinks._http import Response
    from tapelog.typing import EventDict, Formatter


__all__ = ["SEVERITY_NUMBERS", "OtlpEncoder", "OtlpSink"]

SEVERITY_NUMBERS: Final[Mapping[str, int]] = {
    "trace": 1,
    "debug": 5,
    "info": 9,
    "warning": 13,
    "error": 17,
    "critical": 21,
}
"""tapelog level to OpenTelemetry SeverityNumber: the floor of each range."""

_RETRYABLE: Final = frozenset({429, 502, 503, 504})  # OTLP/HTTP: only these are retried
_MISSING_EXTRA: Final = 'the otlp sink needs opentelemetry-proto: pip install "tapelog[otlp]"'
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_INT64: Final = 1 << 63
_MAX_DEPTH: Final = 32
_RECORD_OVERHEAD: Final = 8  # the tag and length around each record inside a request

# Entry keys that become LogRecord fields, resource attributes or renamed attributes.
_TOP: Final = frozenset(
    {"timestamp", "level", "logger", "message", "event", "trace_id", "span_id", "trace_flags"}
)
_RESOURCE: Final = {"service": "service.name", "host": "host.name", "pid": "process.pid"}
_RENAMED: Final = {"seq": "tapelog.seq", "thread": "thread.name", "function": "code.function.name"}
_EXCEPTION: Final = {
    "type": "exception.type",
    "message": "exception.message",
    "stack_trace": "exception.stacktrace",
}

ResourceKey: TypeAlias = tuple[tuple[str, object], ...]
Prepared: TypeAlias = tuple[ResourceKey, str, Any]
"""An encoded entry: its resource attributes, its scope (the logger) and its ``LogRecord``.

The protobuf classes are typed ``Any`` here: type checkers run without the optional extra.
"""


def _time_ns(timestamp: object) -> int:
    if not isinstance(timestamp, str):
        return 0
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return 0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND * 1000


def _set_value(target: Any, value: object, depth: int = 0) -> None:
    """Fill an ``AnyValue``: typed scalars, arrays, maps as kvlists; None stays empty."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        if -_INT64 <= value < _INT64:
            target.int_value = value
        else:
            target.string_value = str(value)
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif depth >= _MAX_DEPTH:
        target.string_value = "<too deep>"
    elif isinstance(value, dict):
        pairs = cast("dict[object, object]", value)
        values: Any = target.kvlist_value.values
        for key, item in pairs.items():
            _set_value(values.add(key=str(key)).value, item, depth + 1)
    elif isinstance(value, (list, tuple)):
        items = cast("Sequence[object]", value)
        array: Any = target.array_value.values
        for item in items:
            _set_value(array.add(), item, depth + 1)
    else:
        target.string_value = str(value)


def _add_attribute(attributes: Any, key: str, value: object) -> None:
    _set_value(attributes.add(key=key).value, value)


def _unique_key(key: str, taken: set[str]) -> str:
    """``key``, or ``key_`` (``key__`` ...) when a record already has an attribute by that name.

    Entry keys are distinct, but renaming can bring two together (``thread`` becomes
    ``thread.name``, ``source`` ``code.file.path``): the later keeps its value, suffixed.
    """
    while key in taken:
        key = f"{key}_"
    taken.add(key)
    return key


@final
class OtlpEncoder:
    """Turns entries into ``ExportLogsServiceRequest`` bodies.

    Args:
        resource: resource attributes for every record (``service.name`` ...); an entry's
            ``service``, ``host`` and ``pid`` fill in ``service.name``, ``host.name`` and
            ``process.pid`` when not given here. ``service.name`` defaults to
            ``unknown_service:<program>``, as the OpenTelemetry SDKs do.

    Raises:
        SinkError: ``opentelemetry-proto`` is not installed.
    """

    content_type = "application/x-protobuf"

    def __init__(self, resource: Mapping[str, str] | None = None) -> None:
        try:
            logs: Any = importlib.import_module("opentelemetry.proto.logs.v1.logs_pb2")
            service: Any = importlib.import_module(
                "opentelemetry.proto.collector.logs.v1.logs_service_pb2"
            )
        except ImportError as exc:
            raise SinkError(_MISSING_EXTRA) from exc
        self._logs = logs
        self._service = service
        self._event_field = "event_name" in logs.LogRecord.DESCRIPTOR.fields_by_name
        self.resource = dict(resource or {})
        program = os.path.basename(sys.executable or "python") or "python"  # noqa: PTH119 - a str
        self._default_service = f"unknown_service:{program}"

    def prepare(self, entry: EventDict) -> tuple[Prepared, int]:
        """Build the entry's ``LogRecord``; a value that will not encode becomes text."""
        try:
            record = self._record(entry)
        except Exception as exc:
            record = self._logs.LogRecord(
                time_unix_nano=_time_ns(entry.get("timestamp")),
                severity_number=cast("Any", SEVERITY_NUMBERS.get(str(entry.get("level")), 0)),
                severity_text=str(entry.get("level", "")),
            )
            record.body.string_value = str(entry.get("message", ""))
            _add_attribute(
                record.attributes, "tapelog.encode_error", f"{type(exc).__name__}: {exc}"
            )
        prepared = (self._resource_key(entry), str(entry.get("logger", "")), record)
        return prepared, record.ByteSize() + _RECORD_OVERHEAD

    def _record(self, entry: EventDict) -> Any:
        level = str(entry.get("level", ""))
        moment = _time_ns(entry.get("timestamp"))
        record = self._logs.LogRecord(
            time_unix_nano=moment,
            observed_time_unix_nano=moment,
            severity_number=cast("Any", SEVERITY_NUMBERS.get(level, 0)),
            severity_text=level,
        )
        record.body.string_value = str(entry.get("message", ""))
        attributes = record.attributes
        taken: set[str] = set()

        def add(key: str, value: object) -> None:
            _add_attribute(attributes, _unique_key(key, taken), value)

        event = entry.get("event")
        if isinstance(event, str) and event:
            if self._event_field:
                record.event_name = event
            else:  # pragma: no cover - opentelemetry-proto before 1.5 of the protocol
                add("event.name", event)
        for key, size in (("trace_id", 16), ("span_id", 8)):
            value = _hex(entry.get(key), size)
            if value is not None:
                setattr(record, key, value)
            elif key in entry:
                add(key, entry[key])
        flags = _hex(entry.get("trace_flags"), 1)
        if flags is not None:
            record.flags = flags[0]
        for key, value in entry.items():
            if key in _TOP or key in _RESOURCE:
                continue
            if key == "source" and isinstance(value, str) and ":" in value:
                path, _, line = value.rpartition(":")
                add("code.file.path", path)
                add("code.line.number", int(line) if line.isdigit() else line)
            elif key == "error" and isinstance(value, dict):
                error = cast("dict[str, object]", value)
                rest = {k: v for k, v in error.items() if k not in _EXCEPTION}
                for name, attribute in _EXCEPTION.items():
                    if name in error:
                        add(attribute, error[name])
                if rest:
                    add("tapelog.error", rest)
            else:
                add(_RENAMED.get(key, key), value)
        return record

    def _resource_key(self, entry: EventDict) -> ResourceKey:
        resource: dict[str, object] = dict(self.resource)
        for key, attribute in _RESOURCE.items():
            value = entry.get(key)
            if value is not None and attribute not in resource:
                # A key of dicts: only hashable scalars (process.pid stays an int).
                resource[attribute] = value if isinstance(value, (str, int, float)) else str(value)
        resource.setdefault("service.name", self._default_service)
        return tuple(resource.items())

    def encode(self, prepared: Sequence[Prepared]) -> bytes:
        """One request: a ResourceLogs per resource, a ScopeLogs per logger, records in order."""
        request = self._service.ExportLogsServiceRequest()
        resources: dict[ResourceKey, Any] = {}
        scopes: dict[tuple[ResourceKey, str], Any] = {}
        for resource_key, scope_name, record in prepared:
            scope_logs = scopes.get((resource_key, scope_name))
            if scope_logs is None:
                resource_logs = resources.get(resource_key)
                if resource_logs is None:
                    resource_logs = resources[resource_key] = request.resource_logs.add()
                    for key, value in resource_key:
                        _add_attribute(resource_logs.resource.attributes, key, value)
                scope_logs = scopes[resource_key, scope_name] = resource_logs.scope_logs.add()
                scope_logs.scope.name = scope_name
            scope_logs.log_records.append(record)
        return request.SerializeToString()

    def rejected(self, body: bytes) -> tuple[int, str]:
        """The ``partial_success`` of an ``ExportLogsServiceResponse``: rejected count, message."""
        try:
            response = self._service.ExportLogsServiceResponse.FromString(body)
        except Exception:
            return 0, ""
        partial = response.partial_success
        return int(partial.rejected_log_records), str(partial.error_message)


def _hex(value: object, size: int) -> bytes | None:
    if not isinstance(value, str) or len(value) != size * 2:
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return None
    return raw if size == 1 or any(raw) else None  # all-zero ids are invalid in OTLP


@final
class OtlpSink(DeliverySink["Prepared"]):
    """Exports entries as OTLP/HTTP protobuf logs.

    Example configuration::

        [[sinks]]
        type = "otlp"
        endpoint = "http://localhost:4318"     # or url = ".../v1/logs"
        resource = { "service.name" = "proxy-rotator", "deployment.environment" = "prod" }
        spool_dir = "logs/otlp-spool"

    See ``DeliverySink`` for the arguments.
    """

    def __init__(
        self, name: str, url: str, *, resource: Mapping[str, str] | None = None, **options: Any
    ) -> None:
        self._otlp = OtlpEncoder(resource)
        super().__init__(name, url, self._otlp, **options)

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> OtlpSink:  # noqa: ARG003 - protobuf, not a format
        """Build from a validated ``[[sinks]] type = "otlp"`` table.

        Raises:
            SinkError: ``opentelemetry-proto`` is missing, or the spool directory is unusable.
        """
        options = config.options
        return cls(
            config.name,
            options["url"],
            resource=dict(options["resource"]),
            **delivery_options(config),
        )

    def classify(self, response: Response, count: int) -> Outcome:
        """OTLP's reading: 2xx delivered (minus partial rejections); 429/502/503/504 retried."""
        status = response.status
        if 200 <= status < 300:  # noqa: PLR2004 - the success range
            rejected, message = self._otlp.rejected(response.body) if response.body else (0, "")
            rejected = max(0, min(rejected, count))
            reason = f"partial success: {rejected} rejected: {message}" if rejected else ""
            return Outcome("ok", reason, status, rejected=rejected)
        reason = f"HTTP {status} {response.reason}".rstrip()
        if status in _RETRYABLE:
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            return Outcome("retry", reason, status, retry_after)
        return Outcome("poison", reason, status)
