"""A real overload with ``overflow = "shed_by_level"``: threads outrun the worker and a file."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl

import tapelog


if TYPE_CHECKING:
    from pathlib import Path

LEVELS = ("debug", "info", "warning", "error")


def test_an_overload_sheds_debug_and_info_first_and_never_an_error(tmp_path: Path) -> None:
    path = tmp_path / "app.jsonl"
    tapelog.configure(
        {
            "level": "debug",
            "queue": {"size": 64, "overflow": "shed_by_level", "block_timeout": "10s"},
            "sinks": [{"type": "file", "path": str(path), "format": "json"}],
        }
    )
    tapelog.get_logger("warmup").info("start the worker")
    assert tapelog.flush(5)
    before = tapelog.stats()
    threads, rounds = 4, 2000
    start = threading.Barrier(threads)

    def produce(n: int) -> None:
        log = tapelog.get_logger("load").bind(producer=n)
        start.wait()
        for i in range(rounds):
            log.debug("d", i=i)
            log.info("i", i=i)
            log.warning("w", i=i)
            log.error("e", i=i)

    workers = [threading.Thread(target=produce, args=(n,)) for n in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    assert tapelog.flush(30)

    entries = read_jsonl(path)
    written = Counter(e["level"] for e in entries if e["logger"] == "load")
    stats = tapelog.stats()
    by_level = Counter(stats.dropped_by_level) - Counter(before.dropped_by_level)
    assert stats.dropped_overflow > before.dropped_overflow  # it was an overload
    assert written["error"] == threads * rounds  # never an error
    assert "error" not in by_level
    for level in LEVELS:
        assert written[level] + by_level[level] == threads * rounds, level
    # The lowest level goes first: a warning is shed only when no debug entry was queued.
    assert by_level["debug"] >= by_level["warning"]
    assert by_level["debug"] > 0
    reports = [e for e in entries if e.get("event") == "tapelog.dropped"]
    reported: Counter[str] = Counter()
    for report in reports:
        reported.update(report["dropped_by_level"])
    assert reported == by_level
    assert stats.emitted == stats.processed + stats.dropped_overflow
