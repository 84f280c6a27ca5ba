"""A forked child reports its own observations, not its parent's again."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl


if TYPE_CHECKING:
    from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import os, sys
    import tapelog
    from tapelog import metrics

    tapelog.configure({
        "sinks": [{"type": "file", "path": sys.argv[1]}],
        "fields": {"include": ["pid"]},
        "metrics": {"interval": "1h"},
    })
    for _ in range(5):
        metrics.observe("app.step.duration", 0.01)
    pid = os.fork()
    if pid == 0:
        metrics.observe("app.step.duration", 0.02)
        metrics.report()
        tapelog.flush(5)
        os._exit(0)
    os.waitpid(pid, 0)
    metrics.observe("app.step.duration", 0.03)
    tapelog.shutdown()
    """
)


def test_the_child_starts_its_own_series_and_the_parent_keeps_its(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    script = tmp_path / "app.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script), str(log)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    points = [
        (e["pid"], e["metric"]["count"], e["metric"]["max"])
        for e in read_jsonl(log)
        if e.get("metric", {}).get("name") == "app.step.duration"
    ]
    assert len(points) == 2
    by_pid = {pid: (count, high) for pid, count, high in points}
    assert len(by_pid) == 2
    # the child: only its own observation; the parent (at exit): its six
    assert sorted(by_pid.values()) == [(1, 0.02), (6, 0.03)]
