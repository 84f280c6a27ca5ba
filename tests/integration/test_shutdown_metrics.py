"""An explicit ``tapelog.shutdown()`` (as on SIGTERM) lets the metrics reporter write its
last interval first, so that snapshot reaches every sink, not only some of them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl

from tapelog.cli._collector import Collector


if TYPE_CHECKING:
    from pathlib import Path

PROGRAM = """
    import json, sys, tapelog
    from tapelog import metrics
    log_path, url, stats_path = sys.argv[1:]
    tapelog.configure(
        metrics={{"interval": "1h"}},
        sinks=[
            {{"type": "file", "path": log_path}},
            {{"type": "http", "url": url, "batch": {{"max_delay": "50ms"}}}},
        ],
    )
    tapelog.get_logger("app").info("working")
    metrics.increment("app.jobs", 3)
    tapelog.shutdown(10)
    with open(stats_path, "w") as out:
        json.dump(tapelog.stats().as_dict(), out)
"""


def test_explicit_shutdown_sends_the_last_metrics_snapshot_everywhere(tmp_path: Path) -> None:
    log, stats = tmp_path / "app.jsonl", tmp_path / "stats.json"
    with Collector() as collector:
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(PROGRAM).format(), str(log), collector.url, str(stats)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        received = list(collector.records)
    written = read_jsonl(log)
    counters = json.loads(stats.read_text(encoding="utf-8"))

    assert 0 == result.returncode, result.stderr
    jobs = [e for e in written if e.get("metric", {}).get("name") == "app.jobs"]
    assert 1 == len(jobs)
    assert jobs[0]["metric"]["value"] == 3
    assert [e["seq"] for e in received] == [e["seq"] for e in written]
    assert counters["processed"] == len(written) == counters["sinks"]["file"]["written"]
