"""The record: one constructor, and the logger's inlined copy of it and of Dispatcher.put."""

from __future__ import annotations

import gc
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from tapelog import _logger
from tapelog._context import EMPTY, context
from tapelog._dispatch import Dispatcher
from tapelog._event import (
    BOUND,
    CONTEXT,
    EXC,
    FIELDS,
    LEVEL,
    LOGGER,
    MESSAGE,
    META,
    TIME,
    Record,
    make_record,
)
from tapelog._levels import CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING
from tapelog._logger import Logger, LoggerCore
from tapelog._runtime import RUNTIME
from tapelog.config._model import QueueConfig
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence


class IdlePipeline:
    """A pipeline that keeps what it is given; the dispatcher under test never runs it."""

    def process(self, records: Sequence[Record], counters: dict[str, Any]) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self, keep: object = None, timeout: float | None = None) -> None:
        pass

    def wait_delivered(self, timeout: float | None) -> bool:
        return True

    def after_fork(self) -> None:
        pass

    def periodic(self) -> Sequence[Record]:
        return ()


@pytest.fixture(name="dispatcher")
def _dispatcher() -> Iterator[Dispatcher]:
    """A dispatcher as a running one looks to callers (room for 3), its worker not started."""
    dispatcher = Dispatcher(IdlePipeline(), QueueConfig(size=3))
    _logger.set_outlet(dispatcher)
    try:
        yield dispatcher
    finally:
        _logger.set_outlet(RUNTIME.dispatcher)
        dispatcher.queue.clear()
        dispatcher.shutdown(0)


def _without_time(record: object) -> tuple[object, ...]:
    assert isinstance(record, tuple)
    return record[1:]


class TestMakeRecord:
    def test_the_names_index_the_fields(self) -> None:
        """Each named position holds the field of that name."""
        exc = (ValueError, ValueError("v"), None)
        record = make_record(
            INFO,
            "m",
            {"a": 1},
            logger="shop",
            bound={"b": 2},
            context={"c": 3},
            exc=exc,
            meta={"skip_sink": "x"},
            time_ns=7,
        )

        assert (7, INFO, "shop", "m", {"a": 1}, {"b": 2}, {"c": 3}, exc, {"skip_sink": "x"}) == (
            record[TIME],
            record[LEVEL],
            record[LOGGER],
            record[MESSAGE],
            record[FIELDS],
            record[BOUND],
            record[CONTEXT],
            record[EXC],
            record[META],
        )

    def test_tapelogs_own_records_default_to_no_context(self) -> None:
        """By default a record is tapelog's own: logger 'tapelog', empty bound and context."""
        record = make_record(INFO, "m", {"event": "e"})

        assert (INFO, "tapelog", "m", {"event": "e"}, EMPTY, EMPTY, None, None) == record[1:]


class TestLoggerLogAgreesWithPut:
    """Logger._log inlines make_record and Dispatcher.put; these hold the copies to the originals."""

    def _log_both_ways(self, dispatcher: Dispatcher) -> tuple[list[object], list[object]]:
        log = Logger(LoggerCore("shop", INFO), {"strategy": "s1"})
        with context(request_id="r-1"):
            log.info("placed", qty=1)
            expected = make_record(
                INFO,
                "placed",
                {"qty": 1},
                logger="shop",
                bound=(("strategy", "s1"),),  # as pairs: see tapelog._event.Pairs
                context=(("request_id", "r-1"),),
            )
        return [_without_time(r) for r in dispatcher.queue], [_without_time(expected)]

    def test_the_record_is_the_one_make_record_builds(self, dispatcher: Dispatcher) -> None:
        """The tuple the logger builds inline equals make_record's, field for field."""
        logged, expected = self._log_both_ways(dispatcher)

        assert expected == logged

    def test_emit_builds_the_record_make_record_builds(self, dispatcher: Dispatcher) -> None:
        """The domain door (``_emit``) inlines the same tuple, its meta carrying the domain."""
        log = Logger(LoggerCore("shop", INFO), {"strategy": "s1"})
        with context(request_id="r-1"):
            log._emit(INFO, "placed", {"event": "order.placed"}, {"trade": {"qty": 1}})  # pyright: ignore[reportPrivateUsage]
            expected = make_record(
                INFO,
                "placed",
                {"event": "order.placed"},
                logger="shop",
                bound=(("strategy", "s1"),),
                context=(("request_id", "r-1"),),
                meta={"trade": {"qty": 1}},
            )
        assert [_without_time(r) for r in dispatcher.queue] == [_without_time(expected)]

    @pytest.mark.parametrize(
        ("method", "level"),
        [
            ("trace", TRACE),
            ("debug", DEBUG),
            ("info", INFO),
            ("warning", WARNING),
            ("error", ERROR),
            ("critical", CRITICAL),
        ],
    )
    def test_every_level_method_builds_the_record_make_record_builds(
        self, dispatcher: Dispatcher, method: str, level: int
    ) -> None:
        """Each level method inlines the common call; with fields or without, its record
        is make_record's (no dict for a call without fields)."""
        log = Logger(LoggerCore("shop", TRACE), {"strategy": "s1"})
        with context(request_id="r-1"):
            getattr(log, method)("placed", qty=1)
            getattr(log, method)("bare")
            expected = [
                make_record(
                    level,
                    message,
                    fields,
                    logger="shop",
                    bound=(("strategy", "s1"),),
                    context=(("request_id", "r-1"),),
                )
                for message, fields in (("placed", {"qty": 1}), ("bare", ()))
            ]
        assert [_without_time(r) for r in dispatcher.queue] == [_without_time(r) for r in expected]

    @pytest.mark.parametrize("method", ["trace", "debug", "info", "warning", "error", "critical"])
    def test_every_level_method_carries_the_active_span_as_log_does(
        self, dispatcher: Dispatcher, method: str
    ) -> None:
        """With OpenTelemetry's getter set, a span's context goes in the record's meta, and
        an empty context leaves meta None, on the inlined way as in ``_log``."""
        log = Logger(LoggerCore("shop", TRACE))
        span: dict[str, object] = {"span": 1}
        previous = _logger._otel_context  # pyright: ignore[reportPrivateUsage]
        try:
            _logger.set_otel_context(lambda: span)
            getattr(log, method)("in a span", qty=1)
            span = {}
            getattr(log, method)("outside")
        finally:
            _logger.set_otel_context(previous)
        inside, outside = list(dispatcher.queue)
        assert inside[META] == {"otel": {"span": 1}}
        assert outside[META] is None

    @pytest.mark.parametrize("method", ["trace", "debug", "info", "warning", "error", "critical"])
    def test_a_call_with_more_than_fields_takes_the_whole_way(
        self, dispatcher: Dispatcher, method: str
    ) -> None:
        """An exception or call-site fields are not the inlined case: the record carries
        them (and the exception's call site), as ``_log`` makes it."""
        log = Logger(LoggerCore("shop", TRACE))
        error = ValueError("v")
        _logger.CALLSITE.add("source")
        try:
            getattr(log, method)("with site", qty=1)
        finally:
            _logger.CALLSITE.discard("source")
        getattr(log, method)("with error", exc_info=error)
        site, failed = list(dispatcher.queue)
        assert site[FIELDS] == {"qty": 1}
        assert site[META] is not None
        assert str(site[META]["source"]).startswith(__file__)
        assert failed[EXC] == (ValueError, error, None)
        assert failed[FIELDS] == ()
        assert failed[META] is not None
        assert "thread" in failed[META]

    @pytest.mark.parametrize(
        ("queued", "idle"), [(0, False), (0, True), (2, True), (3, False), (3, True)]
    )
    def test_log_and_put_do_the_same_three_steps(
        self, dispatcher: Dispatcher, queued: int, idle: bool
    ) -> None:
        """With room or without, idle worker or busy, _log and put append, wake and fall back alike."""
        outcomes = []
        for path in ("put", "log"):
            dispatcher.queue.clear()
            dispatcher.queue.extend(make_record(INFO, f"old{i}", {}) for i in range(queued))
            slow: list[Record] = []
            dispatcher.room, dispatcher.slow_put, dispatcher.idle = 3, slow.append, idle
            dispatcher._wake.clear()
            record = make_record(INFO, "new", {}, logger="shop")
            if path == "put":
                dispatcher.put(record)
            else:
                Logger(LoggerCore("shop", INFO)).info("new")
            outcomes.append(
                (
                    [r[MESSAGE] for r in dispatcher.queue],  # type: ignore[index]
                    [r[MESSAGE] for r in slow],
                    dispatcher._wake.is_set(),
                )
            )

        assert outcomes[0] == outcomes[1]


class TestRecordsTheCollectorLeavesAlone:
    """A queued record holding no dict is one the garbage collector stops tracking, so a
    deep queue costs its collections nothing (docs/architecture.md, "Records the
    collector leaves alone")."""

    @staticmethod
    def _tracked_after_collections(records: Sequence[object]) -> list[bool]:
        for _ in range(4):  # a nested tuple is untracked one level per collection at worst
            gc.collect()
        return [gc.is_tracked(record) for record in records]

    def test_trade_events_calls_without_fields_bound_fields_and_context_leave_none_tracked(
        self, dispatcher: Dispatcher
    ) -> None:
        """order_placed and order_filled with no extra fields, and a call without fields,
        from a logger with bound fields inside a context: every queued record is untracked."""
        trades = get_trade_logger("desk.collector").bind(strategy="s1")
        _logger.set_outlet(dispatcher)  # the runtime, started just now, set its own
        dispatcher.room, dispatcher.slow_put = 100, dispatcher.queue.append
        with context(request_id="r-1"):
            trades.order_placed("C-1", "BTC-USD", "buy", Decimal("1.0"), Decimal("64000.25"))
            trades.order_filled("C-1", "E-1", Decimal("0.5"), Decimal("64000.25"))
            trades.order_filled("C-1", "E-2", Decimal("0.5"), Decimal("64000.25"))
            Logger(LoggerCore("desk", INFO), {"strategy": "s1"}).info("placed")
        queued = list(dispatcher.queue)
        assert len(queued) == 4
        # From Python 3.13 a Decimal is itself tracked by the collector (the decimal
        # module's types became heap types), so there a trade record, which holds the
        # call's Decimals, stays tracked; up to 3.12 it is untracked like the plain call's.
        decimals_tracked = gc.is_tracked(Decimal("1.0"))
        assert decimals_tracked == (sys.version_info >= (3, 13))
        expected = [decimals_tracked] * 3 + [False]
        assert self._tracked_after_collections(queued) == expected

    def test_a_record_holding_a_call_fields_dict_stays_tracked(
        self, dispatcher: Dispatcher
    ) -> None:
        """The contrast the test above relies on: a call's fields dict keeps its record
        tracked, whatever the dict holds."""
        dispatcher.room, dispatcher.slow_put = 100, dispatcher.queue.append
        Logger(LoggerCore("desk", INFO)).info("placed", qty=1)
        assert self._tracked_after_collections(list(dispatcher.queue)) == [True]
