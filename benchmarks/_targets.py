"""The rows of the comparison: one harness per library and mode, all doing the same work.

Every harness logs ``info("order placed", symbol=..., qty=..., price=..., order_id=...,
attempt=...)`` through a logger carrying three bound fields (``strategy``, ``account``,
``venue``) and writes one JSON line per call, holding a UTC timestamp, the level, the
logger name, the message and the eight fields, to its own file. Each library is set up the
way its own documentation recommends for speed; the imports happen inside each factory so
that a child process loads only the library it measures (peak RSS stays comparable).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from time import time_ns
from typing import TYPE_CHECKING, Protocol

from benchmarks._common import make_stamper


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


LOGGER_NAME = "bench"
MESSAGE = "order placed"
BOUND: dict[str, object] = {"strategy": "mm-1", "account": "ACC-1", "venue": "SIMX"}
FIELDS: dict[str, object] = {
    "symbol": "BTC-USD",
    "qty": 1.5,
    "price": 64000.25,
    "order_id": "a1b2c3",
    "attempt": 3,
}
# The "10 fields" call of the calls table (zap's and zerolog's benchmarks log ten).
FIELDS10: dict[str, object] = {
    **FIELDS,
    "side": "buy",
    "tif": "day",
    "ord_type": "limit",
    "latency_us": 41.5,
    "retry": False,
}
INFO = 20
DEBUG = 10
QUEUE_SIZE = 65536
VARIANT = "variant"  # a Target.group: tapelog set up differently, for the request loop


def _nothing() -> None:
    return None


def _no_stats() -> dict[str, object]:
    return {}


def _no_hold() -> Callable[[], None]:
    return _nothing


@dataclass
class Harness:
    """One configured logger, and how to drive and stop it."""

    info: Callable[..., object]
    """The enabled call: ``info(MESSAGE, **FIELDS)`` (or ``extra=FIELDS`` for stdlib)."""
    debug: Callable[..., object]
    """The same call at a disabled level."""
    style: str
    """``kw``: fields as keyword arguments; ``extra``: fields in stdlib's ``extra=``."""
    drain: Callable[[], None]
    """Wait until everything logged so far is written (used after the warm-up)."""
    finish: Callable[[], None]
    """Make every line logged so far reach the file; the end of the timed section."""
    close: Callable[[], None] = _nothing
    stats: Callable[[], dict[str, object]] = _no_stats
    notes: dict[str, object] = field(default_factory=dict)
    hold: Callable[[], Callable[[], None]] = _no_hold
    """Keep the writer thread (if any) from taking entries; returns the function that
    lets it go again. The allocation pass holds it, so that what a call hands over is
    still alive when it is counted."""


@dataclass(frozen=True)
class Target:
    """A row of the report."""

    name: str
    label: str
    group: str  # "floor", "peer" or "tapelog"
    make: Callable[[Path], Harness]


# -- floors -------------------------------------------------------------------------


def _floor_orjson(path: Path) -> Harness:
    """The least a synchronous JSON logger can do: build the dict, dumps, buffered write."""
    import orjson

    f = path.open("wb")  # an io.BufferedWriter: 8 KiB buffer, one write(2) per ~30 lines
    write = f.write
    dumps = orjson.dumps
    option = orjson.OPT_APPEND_NEWLINE
    stamp = make_stamper()
    bound = BOUND
    threshold = INFO

    def info(message: str, **fields: object) -> None:
        write(
            dumps(
                {
                    "timestamp": stamp(time_ns()),
                    "level": "info",
                    "logger": LOGGER_NAME,
                    "message": message,
                    **bound,
                    **fields,
                },
                option=option,
            )
        )

    def debug(message: str, **fields: object) -> None:
        if threshold <= DEBUG:
            info(message, **fields)

    return Harness(info, debug, "kw", drain=f.flush, finish=f.flush, close=f.close)


def _floor_enqueue(path: Path) -> Harness:
    """The least an asynchronous logger can do on the caller: one tuple, one append.

    A worker thread polls the deque (0.5 ms sleeps when empty), formats as the orjson floor
    does into one ``bytearray`` per batch and writes it with one buffered write. The deque
    is unbounded.
    """
    import orjson

    queue: deque[tuple[int, int, str, dict[str, object]]] = deque()
    append = queue.append
    stopping = threading.Event()
    held = threading.Event()
    f = path.open("wb")
    threshold = INFO

    def worker() -> None:
        dumps = orjson.dumps
        option = orjson.OPT_APPEND_NEWLINE
        popleft = queue.popleft
        stamp = make_stamper()
        bound = BOUND
        while True:
            depth = len(queue)
            if not depth or held.is_set():
                if stopping.is_set():
                    break
                time.sleep(0.0005)
                continue
            # One growing bytearray per batch: joining a list of small bytes measured
            # several times slower (see the architecture doc, "the hot path").
            chunk = bytearray()
            for _ in range(min(depth, 4096)):
                ns, _level, message, fields = popleft()
                chunk += dumps(
                    {
                        "timestamp": stamp(ns),
                        "level": "info",
                        "logger": LOGGER_NAME,
                        "message": message,
                        **bound,
                        **fields,
                    },
                    option=option,
                )
            f.write(chunk)
        f.flush()

    thread = threading.Thread(target=worker, name="floor-worker", daemon=True)
    thread.start()

    def info(message: str, **fields: object) -> None:
        append((time_ns(), INFO, message, fields))

    def debug(message: str, **fields: object) -> None:
        if threshold <= DEBUG:
            info(message, **fields)

    def drain() -> None:
        while queue:
            time.sleep(0.001)
        time.sleep(0.01)  # the last batch popped is being written
        f.flush()

    def finish() -> None:
        stopping.set()
        thread.join()

    def hold() -> Callable[[], None]:
        held.set()
        time.sleep(0.01)  # a batch already taken is being formatted
        return held.clear

    return Harness(info, debug, "kw", drain=drain, finish=finish, close=f.close, hold=hold)


# -- stdlib logging -----------------------------------------------------------------


class _BoundAdapter(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Bound fields for stdlib: the documented LoggerAdapter subclass that merges ``extra``.

    (Python 3.13 has ``merge_extra=True``; 3.11's adapter replaces the caller's ``extra``.)
    """

    def process(self, msg: object, kwargs: dict[str, object]) -> tuple[object, dict[str, object]]:
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self.extra, **extra} if extra else self.extra  # type: ignore[dict-item]
        return msg, kwargs


class _MinimalJsonFormatter(logging.Formatter):
    """The fallback when python-json-logger is missing: the record's fields through orjson."""

    _SKIP = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        import orjson

        data: dict[str, object] = {
            "timestamp": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update((k, v) for k, v in record.__dict__.items() if k not in self._SKIP)
        return orjson.dumps(data, default=str).decode()


def _json_formatter() -> logging.Formatter:
    """python-json-logger's OrjsonFormatter (its fastest), or the minimal fallback."""
    try:
        from pythonjsonlogger.orjson import OrjsonFormatter
    except ImportError:
        return _MinimalJsonFormatter()
    return OrjsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp=True,
    )


class _Listener(Protocol):
    def start(self) -> None: ...
    def stop(self) -> None: ...


def _listener_drain(listener: _Listener) -> Callable[[], None]:
    """Write what a QueueListener has: stopping enqueues the sentinel and joins (everything
    before it is written), then it starts again."""

    def drain() -> None:
        listener.stop()
        listener.start()

    return drain


def _listener_hold(listener: _Listener) -> Callable[[], Callable[[], None]]:
    """A QueueListener holds off by stopping (it writes what it has) and starting again."""

    def hold() -> Callable[[], None]:
        listener.stop()
        return listener.start

    return hold


def _stdlib_logger() -> logging.Logger:
    logger = logging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _stdlib(path: Path, *, queued: bool) -> Harness:
    """stdlib logging, FileHandler, python-json-logger's OrjsonFormatter (its fastest).

    Async: QueueHandler on the logger (which still formats and copies each record on the
    caller, as documented) and a QueueListener thread owning the FileHandler.
    """
    import queue as queue_module
    from logging.handlers import QueueHandler, QueueListener

    logger = _stdlib_logger()
    handler = logging.FileHandler(path, encoding="utf-8")
    formatter = _json_formatter()
    handler.setFormatter(formatter)
    adapter = _BoundAdapter(logger, BOUND)
    notes = {"formatter": f"{type(formatter).__module__}.{type(formatter).__qualname__}"}
    if not queued:
        logger.addHandler(handler)
        return Harness(
            adapter.info,
            adapter.debug,
            "extra",
            drain=handler.flush,
            finish=handler.flush,
            close=handler.close,
            notes=notes,
        )
    records: queue_module.SimpleQueue[logging.LogRecord] = queue_module.SimpleQueue()
    logger.addHandler(QueueHandler(records))
    listener = QueueListener(records, handler)
    listener.start()

    return Harness(
        adapter.info,
        adapter.debug,
        "extra",
        drain=_listener_drain(listener),
        finish=listener.stop,
        close=handler.close,
        notes=notes,
        hold=_listener_hold(listener),
    )


# -- picologging --------------------------------------------------------------------


def _picologging(path: Path, *, queued: bool) -> Harness:
    """picologging (a C replacement of stdlib logging), with a JSON formatter through orjson.

    picologging 0.9 drops ``extra=`` (the record keeps no custom attribute), so the fields
    travel as the one mapping argument, which ``%``-formatting leaves out of the message
    (the stdlib idiom ``log.info("text", mapping)``); the formatter writes them as keys.
    Async: its ``QueueHandler`` formats on the caller, as documented (the JSON line is the
    message it enqueues), and a ``QueueListener`` thread owns the ``FileHandler``.
    """
    import queue as queue_module

    import orjson
    import picologging
    from picologging.handlers import QueueHandler, QueueListener

    stamp = make_stamper()
    dumps = orjson.dumps

    class JsonFormatter(picologging.Formatter):
        def format(self, record: picologging.LogRecord) -> str:
            data: dict[str, object] = {
                "timestamp": stamp(int(record.created * 1e9)),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            }
            if isinstance(record.args, dict):
                data.update(record.args)
            return dumps(data, default=str).decode()

    logger = picologging.getLogger(LOGGER_NAME)
    logger.handlers.clear()
    logger.setLevel(picologging.INFO)
    logger.propagate = False
    handler = picologging.FileHandler(str(path), encoding="utf-8")
    bound = BOUND
    log_info = logger.info
    log_debug = logger.debug

    def info(message: str, **fields: object) -> None:
        log_info(message, {**bound, **fields})

    def debug(message: str, **fields: object) -> None:
        log_debug(message, fields)

    if not queued:
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        return Harness(
            info, debug, "kw", drain=handler.flush, finish=handler.flush, close=handler.close
        )
    handler.setFormatter(picologging.Formatter("%(message)s"))
    records: queue_module.SimpleQueue[object] = queue_module.SimpleQueue()
    queue_handler = QueueHandler(records)
    queue_handler.setFormatter(JsonFormatter())
    logger.addHandler(queue_handler)
    listener = QueueListener(records, handler)
    listener.start()

    return Harness(
        info,
        debug,
        "kw",
        drain=_listener_drain(listener),
        finish=listener.stop,
        close=handler.close,
        hold=_listener_hold(listener),
    )


# -- structlog ----------------------------------------------------------------------


def _structlog_processors(serializer: Callable[..., object]) -> list[object]:
    import structlog

    # The example of structlog's docs/performance.md ("as fast as it gets"), unchanged.
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.format_exc_info,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.JSONRenderer(serializer=serializer),
    ]


def _structlog(path: Path) -> Harness:
    """structlog's fastest documented configuration, writing to a file with BytesLogger."""
    import orjson
    import structlog

    f = path.open("wb")
    structlog.reset_defaults()
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=_structlog_processors(orjson.dumps),  # type: ignore[arg-type]
        logger_factory=structlog.BytesLoggerFactory(f),
    )
    # structlog has no logger name outside stdlib: it is bound like the other fields.
    log = structlog.get_logger().bind(logger=LOGGER_NAME, **BOUND)
    return Harness(log.info, log.debug, "kw", drain=f.flush, finish=f.flush, close=f.close)


def _orjson_str(obj: object, **_: object) -> str:
    import orjson

    return orjson.dumps(obj).decode()


def _structlog_queued(path: Path) -> Harness:
    """structlog rendering JSON on the caller, handing the line to a stdlib logger whose
    QueueHandler/QueueListener pair moves the write to a thread: structlog's async route
    for threaded code (its asyncio methods are for coroutines)."""
    import queue as queue_module
    from logging.handlers import QueueHandler, QueueListener

    import structlog

    logger = _stdlib_logger()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    records: queue_module.SimpleQueue[logging.LogRecord] = queue_module.SimpleQueue()
    logger.addHandler(QueueHandler(records))
    listener = QueueListener(records, handler)
    listener.start()
    structlog.reset_defaults()
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        processors=_structlog_processors(_orjson_str),  # type: ignore[arg-type]
        logger_factory=structlog.stdlib.LoggerFactory(),
    )
    log = structlog.get_logger(LOGGER_NAME).bind(logger=LOGGER_NAME, **BOUND)

    return Harness(
        log.info,
        log.debug,
        "kw",
        drain=_listener_drain(listener),
        finish=listener.stop,
        close=handler.close,
        hold=_listener_hold(listener),
    )


# -- loguru -------------------------------------------------------------------------


def _loguru(path: Path, *, enqueue: bool) -> Harness:
    """loguru's file sink with ``serialize=True`` (its JSON); ``enqueue=True`` for async."""
    from loguru import logger

    logger.remove()
    logger.add(str(path), serialize=True, level="INFO", enqueue=enqueue)
    log = logger.bind(**BOUND)

    def finish() -> None:
        logger.complete()  # waits for the enqueued records (a no-op when not enqueued)
        logger.remove()  # closes the file (line-buffered: already written)

    return Harness(log.info, log.debug, "kw", drain=logger.complete, finish=finish)


# -- tapelog ------------------------------------------------------------------------


def _tapelog(path: Path, *, mode: str) -> Harness:
    """tapelog with one JSON file sink, a 65,536-entry queue and the ``block`` policy."""
    import tapelog

    tapelog.configure(
        level="info",
        sinks=[{"type": "file", "path": str(path), "format": "json"}],
        queue={"size": QUEUE_SIZE, "overflow": "block", "mode": mode},
    )
    log = tapelog.get_logger(LOGGER_NAME).bind(**BOUND)
    flushed: list[bool] = []

    def drain() -> None:
        tapelog.flush(60)

    def finish() -> None:
        flushed.append(tapelog.flush(300))

    def stats() -> dict[str, object]:
        s = tapelog.stats()
        sink = s.sinks.get("file")
        return {
            "flush_ok": all(flushed),
            "emitted": s.emitted,
            "processed": s.processed,
            "dropped_overflow": s.dropped_overflow,
            "queue_high_water": s.queue_high_water,
            "written": sink.written if sink is not None else None,
        }

    def hold() -> Callable[[], None]:
        # The worker runs each batch under the dispatcher's work lock: holding it keeps
        # the entries queued (or in the one batch the worker took, waiting for the lock).
        from tapelog._runtime import RUNTIME

        lock = RUNTIME.dispatcher._work_lock
        lock.acquire()
        return lock.release

    return Harness(
        log.info,
        log.debug,
        "kw",
        drain=drain,
        finish=finish,
        close=tapelog.shutdown,
        stats=stats,
        hold=hold if mode == "async" else _no_hold,
    )


def _tapelog_switch(path: Path, switch_interval: float) -> Harness:
    """tapelog (async) under a shorter switch interval.

    A row of the request loop only: it shows, in the same run, what CPython's switch
    interval (the application's choice) changes (docs/architecture.md, "The worker's GIL
    holds").
    """
    sys.setswitchinterval(switch_interval)
    return _tapelog(path, mode="async")


def _tapelog_compiled(path: Path) -> Harness:
    """tapelog (async) from the compiled build (``benchmarks/_compiled.py`` puts it first
    on this child's path); refuses to run on the pure package."""
    import tapelog

    if tapelog.build() != "compiled":
        msg = f"the compiled row imported a {tapelog.build()} tapelog from {tapelog.__file__}"
        raise RuntimeError(msg)
    return _tapelog(path, mode="async")


def _target(name: str, label: str, group: str, make: Callable[[Path], Harness]) -> Target:
    return Target(name, label, group, make)


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        _target(
            "floor-enqueue", "floor: `deque.append` of a tuple (+ worker)", "floor", _floor_enqueue
        ),
        _target(
            "floor-orjson", "floor: dict + `orjson.dumps` + buffered write", "floor", _floor_orjson
        ),
        _target(
            "stdlib",
            "stdlib + python-json-logger (orjson)",
            "peer",
            lambda p: _stdlib(p, queued=False),
        ),
        _target(
            "stdlib-async",
            "stdlib QueueHandler + QueueListener",
            "peer",
            lambda p: _stdlib(p, queued=True),
        ),
        _target(
            "picologging",
            "picologging + orjson formatter",
            "peer",
            lambda p: _picologging(p, queued=False),
        ),
        _target(
            "picologging-async",
            "picologging QueueHandler + QueueListener",
            "peer",
            lambda p: _picologging(p, queued=True),
        ),
        _target("structlog", "structlog, fastest documented", "peer", _structlog),
        _target("structlog-async", "structlog over a stdlib queue", "peer", _structlog_queued),
        _target("loguru", "loguru `serialize=True`", "peer", lambda p: _loguru(p, enqueue=False)),
        _target(
            "loguru-async", "loguru `enqueue=True`", "peer", lambda p: _loguru(p, enqueue=True)
        ),
        _target("tapelog", "**tapelog (async)**", "tapelog", lambda p: _tapelog(p, mode="async")),
        _target("tapelog-sync", "tapelog (sync)", "tapelog", lambda p: _tapelog(p, mode="sync")),
        _target("tapelog-compiled", "tapelog (async, compiled)", "tapelog", _tapelog_compiled),
        # A variant: the request loop's row only (VARIANT group), unless named in --targets.
        _target(
            "tapelog-switch-1ms",
            "tapelog (async), `sys.setswitchinterval(0.001)`",
            VARIANT,
            lambda p: _tapelog_switch(p, 0.001),
        ),
    )
}
