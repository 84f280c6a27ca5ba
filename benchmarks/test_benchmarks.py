"""tapelog's hot paths as plain pytest functions (STYLE §3.10).

The same file runs locally (``pytest benchmarks``) and under pytest-codspeed, which times
each function. Nothing here asserts on time: the assertions only check that the work was
really done. The side-by-side comparison with the peers is ``python -m benchmarks``.
The normal test run does not collect this file (``testpaths = ["tests"]``).
"""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

import tapelog


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


pytestmark = pytest.mark.benchmark()

ROUNDS = 10_000
BOUND = {"strategy": "mm-1", "account": "ACC-1", "venue": "SIMX"}


def _configure(path: Path, mode: str) -> None:
    tapelog.configure(
        level="info",
        sinks=[{"type": "file", "path": str(path), "format": "json"}],
        queue={"size": 65536, "overflow": "block", "mode": mode},
    )


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.fixture(name="log_file")
def _log_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "bench.jsonl"
    tapelog.shutdown()


def test_info_async(log_file: Path) -> None:
    """The caller's side of an enabled call, then the worker's, until the file has it all."""
    _configure(log_file, "async")
    log = tapelog.get_logger("bench").bind(**BOUND)
    for _ in range(ROUNDS):
        log.info(
            "order placed", symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3", attempt=3
        )
    assert tapelog.flush(60)
    assert _lines(log_file) == ROUNDS


def test_info_sync(log_file: Path) -> None:
    """The whole pipeline on the caller's thread: build, redact, format, write."""
    _configure(log_file, "sync")
    log = tapelog.get_logger("bench").bind(**BOUND)
    for _ in range(ROUNDS):
        log.info(
            "order placed", symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3", attempt=3
        )
    assert tapelog.flush(60)
    assert _lines(log_file) == ROUNDS


def test_static_message_async(log_file: Path) -> None:
    """The calls table's static message: no call fields, the bound ones only."""
    _configure(log_file, "async")
    log = tapelog.get_logger("bench").bind(**BOUND)
    for _ in range(ROUNDS):
        log.info("order placed")
    assert tapelog.flush(60)
    assert _lines(log_file) == ROUNDS


def test_ten_fields_async(log_file: Path) -> None:
    """The calls table's message with 10 fields."""
    from benchmarks._targets import FIELDS10

    _configure(log_file, "async")
    log = tapelog.get_logger("bench").bind(**BOUND)
    for _ in range(ROUNDS):
        log.info("order placed", **FIELDS10)
    assert tapelog.flush(60)
    assert _lines(log_file) == ROUNDS
    assert b'"retry":false' in log_file.read_bytes().splitlines()[-1]


def test_debug_disabled(log_file: Path) -> None:
    """A call below the level: the gate only."""
    _configure(log_file, "async")
    log = tapelog.get_logger("bench").bind(**BOUND)
    for _ in range(ROUNDS):
        log.debug(
            "order placed", symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3", attempt=3
        )
    assert tapelog.flush(60)
    assert _lines(log_file) == 0


def test_bind(log_file: Path) -> None:
    """Binding three fields to a logger (per request, in a typical service)."""
    _configure(log_file, "async")
    log = tapelog.get_logger("bench")
    bound = log
    for _ in range(ROUNDS):
        bound = log.bind(**BOUND)
    assert dict(bound.bound) == BOUND


def test_import_time() -> None:
    """``import tapelog`` in a fresh interpreter (``python -X importtime`` gives the detail)."""
    for _ in range(3):
        subprocess.run([sys.executable, "-c", "import tapelog"], check=True)
