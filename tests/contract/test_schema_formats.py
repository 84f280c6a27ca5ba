"""JSON output, and logfmt output parsed back, validate against the shipped log-entry schema."""

from __future__ import annotations

import traceback
from decimal import Decimal
from typing import Any

import orjson
import pytest

from tapelog.formats import JsonFormat, LogfmtFormat, parse_logfmt, unflatten


def money(text: str) -> str:
    """A Decimal written the way tapelog writes money: format(d, "f")."""
    return format(Decimal(text), "f")


def captured_error() -> dict[str, Any]:
    """An error object built from a real chained exception with a note."""

    def check(url: str) -> None:
        try:
            raise TimeoutError(110, "Connection timed out")
        except TimeoutError as exc:
            msg = f"timed out after 5.0s\nurl={url}"
            raise ConnectionError(msg) from exc

    try:
        check("https://api.example.com/")
    except ConnectionError as exc:
        exc.add_note("proxy 203.0.113.7 retired")
        frames = traceback.extract_tb(exc.__traceback__)
        cause = exc.__cause__
        assert cause is not None
        return {
            "type": "ConnectionError",
            "message": str(exc),
            "stack_trace": "".join(traceback.format_exception(exc)),
            "frames": [
                {
                    "file": frame.filename,
                    "line": frame.lineno or 0,
                    "function": frame.name,
                    "code": frame.line or "",
                    "locals": {"url": "'https://api.example.com/'"},
                }
                for frame in frames
            ],
            "notes": list(exc.__notes__),
            "cause": {"type": "TimeoutError", "message": str(cause)},
        }
    raise AssertionError("unreachable")


HEAD = {"timestamp": "2026-11-23T07:01:02.123456Z", "level": "info"}
ENTRIES: dict[str, dict[str, Any]] = {
    "plain": {
        **HEAD,
        "logger": "proxy.health",
        "message": "proxy check ok — 東京 «fast»",
        "event": "proxy.health_check",
        "seq": 1041,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "span_id": "00f067aa0ba902b7",
        "trace_flags": "01",
        "pid": 4242,
        "host": "web-1",
        "service": "proxy-rotator",
        "source": "rotator/health.py:88",
        "function": "check",
        "server.address": "api.example.com",
        "server.port": 443,
        "http.response.status_code": 200,
        "duration_s": 0.0123,
        "cached": False,
        "region": None,
        "tags": ["eu", "primary"],
        "user_note": "line one\nline two\u2028three",
    },
    "error": {
        **HEAD,
        "level": "error",
        "logger": "rotator.health",
        "message": "proxy check failed",
        "event": "proxy.health_check.exception",
        "network.peer.address": "203.0.113.7",
        "http.request.resend_count": 2,
        "error": captured_error(),
    },
    "trade": {
        **HEAD,
        "logger": "trading",
        "message": "order filled",
        "event": "order.filled",
        "seq": 1042,
        "trade": {
            "cl_ord_id": "A1",
            "order_id": "X9",
            "exec_id": "E3",
            "exec_type": "trade",
            "ord_status": "partially_filled",
            "side": "buy",
            "ord_type": "limit",
            "time_in_force": "day",
            "symbol": "BTC-USD",
            "order_qty": money("10"),
            "price": money("101.2500"),
            "last_qty": money("4"),
            "last_px": money("101.2500"),
            "cum_qty": money("4"),
            "leaves_qty": money("6"),
            "avg_px": money("101.25"),
            "commission": money("0E-8"),
            "comm_type": "absolute",
            "currency": "USD",
            "transact_time": "2026-11-23T07:01:02.123456789Z",
            "strategy": "mm-1",
            "retries": 0,
        },
        "audit": {"seq": 17, "prev": "0" * 64, "hash": "a1" * 32, "alg": "sha256"},
    },
    "reject": {
        **HEAD,
        "level": "warning",
        "logger": "trading",
        "message": "order rejected",
        "event": "order.rejected",
        "trade": {
            "cl_ord_id": "A2",
            "exec_type": "rejected",
            "ord_status": "rejected",
            "side": "sell",
            "ord_type": "stop_limit",
            "symbol": "ETH-USD",
            "order_qty": money("0.00000001"),
            "price": money("-1.5"),
            "stop_px": money("2000"),
            "ord_rej_reason": "insufficient_margin",
            "text": "[1, 2] true",
        },
    },
    "histogram": {
        **HEAD,
        "timestamp": "2026-11-23T07:01:10.000000Z",
        "logger": "tapelog.metrics",
        "message": "metrics snapshot",
        "event": "metrics.snapshot",
        "metric": {
            "name": "order.submit.duration",
            "type": "histogram",
            "unit": "s",
            "temporality": "delta",
            "start_time": "2026-11-23T07:01:00Z",
            "count": 1000,
            "sum": 1.9,
            "min": 0.0004,
            "max": 0.051,
            "p50": 0.0011,
            "p99": 0.012,
            "p999": 0.049,
            "relative_error": 0.01,
            "attributes": {"venue": "XNAS"},
        },
    },
    "alert": {
        **HEAD,
        "level": "warning",
        "logger": "tapelog.metrics",
        "message": "process.cpu.utilization above 0.9",
        "event": "metrics.alert",
        "metric": {
            "name": "process.cpu.utilization",
            "type": "gauge",
            "unit": "1",
            "value": 0.93,
            "attributes": {"cpu.mode": "user", "network.io.direction": "transmit"},
            "threshold": {"above": 0.9, "state": "firing"},
        },
    },
}


def logfmt_read_back(entry: dict[str, Any]) -> dict[str, object]:
    """Write ``entry`` as logfmt, parse the line and rebuild tapelog's objects."""
    return unflatten(parse_logfmt(LogfmtFormat()(entry).decode()))


@pytest.mark.parametrize("name", ENTRIES)
class TestSchemaFormats:
    def test_entry_is_valid(self, name: str, validator: Any) -> None:
        """The sample entry itself fits the schema (so the tests below test the formats)."""
        assert [] == list(validator.iter_errors(ENTRIES[name]))

    def test_json_line_validates(self, name: str, validator: Any) -> None:
        """A JSON line read back validates against the schema and equals the entry."""
        read_back = orjson.loads(JsonFormat()(ENTRIES[name]))

        assert [] == list(validator.iter_errors(read_back))
        assert ENTRIES[name] == read_back

    def test_logfmt_line_validates(self, name: str, validator: Any) -> None:
        """A logfmt line parsed back and unflattened validates and equals the entry."""
        entry = ENTRIES[name]
        # Outside tapelog's objects a list stays the JSON text logfmt wrote for it.
        expected = {
            k: orjson.dumps(v).decode() if isinstance(v, list) else v for k, v in entry.items()
        }

        read_back = logfmt_read_back(entry)

        assert [] == list(validator.iter_errors(read_back))
        assert expected == read_back


class TestSchemaCatchesMistakes:
    def test_unquoted_decimal_would_not_validate(self, validator: Any) -> None:
        """Were a Decimal string written bare, it would read back as a number and fail."""
        line = (
            LogfmtFormat()(ENTRIES["trade"])
            .decode()
            .replace('trade.order_qty="10"', "trade.order_qty=10")
        )

        errors = list(validator.iter_errors(unflatten(parse_logfmt(line))))

        assert [["trade", "order_qty"]] == [list(error.absolute_path) for error in errors]

    def test_bad_timestamp_is_rejected(self, validator: Any) -> None:
        """The validator is not vacuous: a timestamp without microseconds fails."""
        entry = {**ENTRIES["plain"], "timestamp": "2026-11-23T07:01:02Z"}

        assert not validator.is_valid(orjson.loads(JsonFormat()(entry)))
