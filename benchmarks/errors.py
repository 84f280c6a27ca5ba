"""What capturing an exception costs, beside the stdlib and structlog, and how big the entry is.

Run with ``python -m benchmarks.errors`` (``--quick`` for fewer rounds). Writes
``benchmarks/results/errors.json`` and ``errors.md``. Not a test: nothing asserts on time.

The exception is a chain of two (a ``ValueError`` raised six calls deep, re-raised as a
``RuntimeError`` ``from`` it six calls further up): twelve frames, each with a few locals.
"""

from __future__ import annotations

import argparse
import json
import linecache
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

import tapelog
from tapelog.errors._capture import clear_caches, finish, snapshot
from tapelog.processors import Redactor
from tapelog.testing import capture as capture_entries


if TYPE_CHECKING:
    from tapelog.errors import ErrorInfo


RESULTS = Path(__file__).resolve().parent / "results"


def _inner(depth: int, order: dict[str, Any]) -> None:
    quantity, price = order["qty"], order["px"]
    if depth == 0:
        raise ValueError(f"price {price} outside the band for {quantity}")
    _inner(depth - 1, order)


def _outer(depth: int, order: dict[str, Any]) -> None:
    attempt = depth
    if depth == 0:
        try:
            _inner(4, order)
        except ValueError as exc:
            raise RuntimeError("order rejected by risk checks") from exc
    _outer(depth - 1, order)
    del attempt


def chained() -> BaseException:
    order = {"symbol": "BTC-USD", "qty": "0.5", "px": "64250.10", "api_key": "k-0123456789"}
    try:
        _outer(4, order)
    except RuntimeError as exc:
        return exc
    raise AssertionError  # pragma: no cover


def _frames(exc: BaseException | None) -> int:
    count = 0
    while exc is not None:
        count += len(traceback.extract_tb(exc.__traceback__))
        exc = exc.__cause__
    return count


def _time(function: Any, rounds: int, repeats: int = 7) -> float:
    """Median microseconds per call over ``repeats`` runs of ``rounds`` calls."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(rounds):
            function()
        runs.append((time.perf_counter() - start) / rounds * 1e6)
    return statistics.median(runs)


def measure(rounds: int) -> dict[str, Any]:
    exc = chained()
    exc_info = (type(exc), exc, exc.__traceback__)
    redactor = Redactor()
    cases: dict[str, Any] = {
        "traceback.format_exception": lambda: traceback.format_exception(exc),
        "traceback.TracebackException": lambda: traceback.TracebackException.from_exception(exc),
        "tapelog snapshot, no locals (worker)": lambda: snapshot(exc),
        "tapelog error object, no locals (worker: snapshot, redact, to_dict, render; code that failed before)": lambda: (
            _object(snapshot(exc), redactor)
        ),
        "tapelog error object, no locals, first time this code failed (no frame facts or text kept)": lambda: (
            clear_caches(),
            _object(snapshot(exc), redactor),
        ),
        "tapelog error object, no locals, first failure, source file not read yet (linecache emptied)": lambda: (
            clear_caches(),
            linecache.clearcache(),
            _object(snapshot(exc), redactor),
        ),
        "tapelog snapshot with locals (caller)": lambda: snapshot(exc, locals=True),
        "tapelog error object with locals (caller + worker)": lambda: _object(
            snapshot(exc, locals=True), redactor
        ),
    }
    try:
        from structlog.tracebacks import ExceptionDictTransformer

        plain = ExceptionDictTransformer(show_locals=False)
        with_locals = ExceptionDictTransformer(show_locals=True)
        cases["structlog dict_tracebacks, show_locals=False"] = lambda: plain(exc_info)
        cases["structlog dict_tracebacks, show_locals=True"] = lambda: with_locals(exc_info)
        structlog_sizes = {
            "structlog, no locals": len(orjson.dumps(plain(exc_info))),
            "structlog, locals": len(orjson.dumps(with_locals(exc_info))),
        }
    except ImportError:  # pragma: no cover - structlog is a dev dependency
        structlog_sizes = {}
    timings = {name: round(_time(function, rounds), 1) for name, function in cases.items()}
    return {
        "frames": _frames(exc),
        "microseconds_per_exception": timings,
        "entry_bytes": {**entry_sizes(), **structlog_sizes},
    }


def _object(info: ErrorInfo, redactor: Redactor) -> dict[str, Any]:
    done = finish(info, redactor)
    data = done.to_dict()
    data["stack_trace"] = done.render()
    return data


def entry_sizes() -> dict[str, int]:
    """Bytes of one whole JSON entry (with the error object) for the chained exception,
    and the median over a mix of shapes (plain, chained, with notes, a group)."""
    sizes: dict[str, int] = {}
    shapes = [chained(), *_mix()]
    for locals_on in (False, True):
        tapelog.configure({"errors": {"locals": locals_on}})
        measured = []
        for exc in shapes:
            with capture_entries() as entries:
                tapelog.get_logger("strategy.mm").bind(strategy="mm-1").error(
                    "order failed", exc_info=exc, cl_ord_id="c-17"
                )
                tapelog.flush()
            measured.append(len(orjson.dumps(entries[0])))
        label = "locals" if locals_on else "no locals"
        sizes[f"tapelog entry, 12-frame chain, {label}"] = measured[0]
        sizes[f"tapelog entry, median of {len(shapes)} shapes, {label}"] = int(
            statistics.median(measured)
        )
    tapelog.configure({})
    return sizes


def _throw(exc: BaseException) -> None:
    raise exc


def _raise(exc: BaseException) -> BaseException:
    try:
        _throw(exc)
    except BaseException as caught:
        return caught
    raise AssertionError  # pragma: no cover


def _mix() -> list[BaseException]:
    noted = ValueError("quantity must be positive")
    noted.add_note("while validating order c-17")
    refused = ConnectionRefusedError(111, "Connection refused")
    return [
        _raise(KeyError("BTC-USD")),
        _raise(noted),
        _raise(refused),
        _raise(
            ExceptionGroup(
                "2 venues failed", [_raise(TimeoutError("a")), _raise(OSError(104, "reset"))]
            )
        ),
    ]


def write(results: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "errors.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    lines = [
        "# Capturing an exception",
        "",
        (
            f"{results['when']}, Python {results['python']}, {results['machine']}; "
            f"a chain of two exceptions, {results['frames']} frames; median of 7 runs."
        ),
        "",
        "| what | µs per exception |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in results["microseconds_per_exception"].items()),
        "",
        "| entry | bytes |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in results["entry_bytes"].items()),
        "",
    ]
    (RESULTS / "errors.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    results = measure(200 if args.quick else 2000)
    results["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results["python"] = platform.python_version()
    results["machine"] = f"{platform.machine()}, {sys.platform}"
    write(results)
    print((RESULTS / "errors.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
