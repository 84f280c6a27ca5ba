"""lnav reads tapelog's JSON lines with the format file shipped in the package: levels,
times, messages, fields and tapelog's nested objects come out as written, plain or gzip."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need, read_jsonl

import tapelog
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    from pathlib import Path

FORMAT = resources.files("tapelog").joinpath("lnav/tapelog_json.json")
QUERY = (
    ";SELECT log_time, log_level, logger, event, request_id, seq,"
    " json_extract(error, '$.type') AS error_type, json_extract(trade, '$.symbol') AS symbol,"
    " log_body FROM tapelog_json"
)


def lnav(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run lnav with its configuration in ``home`` (never the user's own)."""
    env = {**os.environ, "HOME": str(home), "TERM": "dumb"}
    return subprocess.run(
        ["lnav", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.fixture(name="home")
def _home(tmp_path: Path) -> Path:
    need(shutil.which("lnav") is not None, "lnav is not installed (apt-get install lnav)")
    home = tmp_path / "home"
    home.mkdir()
    with resources.as_file(FORMAT) as path:
        installed = lnav(home, "-i", str(path))
    assert 0 == installed.returncode, installed.stdout + installed.stderr
    return home


def query(home: Path, log: Path) -> list[dict[str, Any]]:
    result = lnav(home, "-n", "-c", QUERY, "-c", ":write-json-to -", str(log))
    assert 0 == result.returncode, result.stderr
    return json.loads(result.stdout)


def test_the_shipped_format_names_tapelogs_fields() -> None:
    spec = json.loads(FORMAT.read_text(encoding="utf-8"))["tapelog_json"]

    assert spec["json"] is True
    assert (spec["timestamp-field"], spec["level-field"], spec["body-field"]) == (
        "timestamp",
        "level",
        "message",
    )
    assert set(spec["level"]) == {"trace", "debug", "info", "warning", "error", "critical"}


def test_lnav_reads_levels_times_fields_and_objects(home: Path, tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    tapelog.configure(
        level="trace", queue={"mode": "sync"}, sinks=[{"type": "file", "path": str(log)}]
    )
    app = tapelog.get_logger("shop.orders")
    for level in ("trace", "debug", "info", "warning", "error", "critical"):
        app.log(level, f'{level}: ünïcode ✓ "quoted"', request_id=f"r-{level}")
    try:
        _ = 1 / 0
    except ZeroDivisionError:
        app.exception("order failed", event="order.failed")
    get_trade_logger("trading").order_placed(
        "C-1", "BTC-USD", "buy", Decimal("0.5"), Decimal("64000.10")
    )
    tapelog.flush()
    written = read_jsonl(log)

    rows = query(home, log)

    assert [r["log_body"] for r in rows] == [e["message"] for e in written]
    assert [r["log_level"] for r in rows] == [e["level"] for e in written]
    assert [r["seq"] for r in rows] == [e["seq"] for e in written]
    assert [r["log_time"] for r in rows] == [
        e["timestamp"][:23].replace("T", " ") for e in written
    ]  # lnav keeps milliseconds
    assert [r["request_id"] for r in rows[:6]] == [e["request_id"] for e in written[:6]]
    assert rows[6]["error_type"] == "ZeroDivisionError"
    assert rows[6]["event"] == "order.failed"
    assert (rows[7]["logger"], rows[7]["event"], rows[7]["symbol"]) == (
        "trading",
        "order.placed",
        "BTC-USD",
    )
    # The same file compressed, as rotation leaves it, reads the same.
    packed = tmp_path / "app.2026-12-06T00-00-00Z--2026-12-06T00-00-01Z.jsonl.gz"
    packed.write_bytes(gzip.compress(log.read_bytes()))
    assert query(home, packed) == rows
