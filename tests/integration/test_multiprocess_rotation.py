"""Independent processes sharing one rotating file lose, tear and duplicate nothing."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import TYPE_CHECKING

from tapelog.retention._archive import list_archives
from tapelog.retention._names import NamePattern
from tapelog.retention._reader import compression_of, iter_lines


if TYPE_CHECKING:
    from pathlib import Path


WORKERS = 4
PER_WORKER = 4000
ROTATION_SIZE = 16 * 1024

# Each worker is its own interpreter, started independently (no fork from a common parent),
# as gunicorn workers or cron jobs sharing a log file are. Small batches make the
# processes take turns at the lock file often.
WORKER = textwrap.dedent(
    """
    import os, sys, time
    import tapelog

    path, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    tapelog.configure(
        sinks=[{"type": "file", "path": path, "rotation": {"size": SIZE}}],
        queue={"batch_size": 8},
    )
    log = tapelog.get_logger("worker")
    deadline = time.monotonic() + 30
    while not os.path.exists(go) and time.monotonic() < deadline:
        time.sleep(0.002)
    for i in range(count):
        log.info("entry", worker=worker, i=i, pad="x" * (i % 50))
    tapelog.shutdown()
    """
).replace("SIZE", str(ROTATION_SIZE))


def read_lines(directory: Path) -> tuple[list[bytes], list[str]]:
    """Every line of every log file (live, rotated, compressed), and the names read."""
    names = NamePattern(directory / "app.jsonl")
    lines: list[bytes] = []
    read: list[str] = []
    for path in sorted(directory.iterdir()):
        if path.name != "app.jsonl" and names.parse(path.name) is None:
            continue
        read.append(path.name)
        with path.open("rb") as raw:
            lines.extend(iter_lines(raw, compression_of(path)))
    return lines, read


class TestSharedRotatingFile:
    def test_every_entry_exactly_once_and_whole(self, tmp_path: Path) -> None:
        """4 processes x 4000 entries through 100+ rotations: each entry once, every line valid."""
        path = tmp_path / "app.jsonl"
        go = tmp_path / "go"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(path), str(n), str(PER_WORKER), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(WORKERS)
        ]
        time.sleep(0.3)  # let them all configure, then release them at once
        go.touch()
        results = [p.communicate(timeout=90) for p in processes]
        lines, files = read_lines(tmp_path)
        entries = [json.loads(line) for line in lines]  # raises on any torn line
        counts = Counter((e["worker"], e["i"]) for e in entries if e["logger"] == "worker")
        rotations = [e for e in entries if e.get("event") == "retention.rotated"]

        assert [0] * WORKERS == [p.returncode for p in processes], [r[1] for r in results]
        assert all(line.endswith(b"\n") for line in lines)
        assert WORKERS * PER_WORKER == len(counts)
        assert {1} == set(counts.values())
        assert len(files) > 100
        assert len(rotations) == len(files) - 1
        # A file rotated while a process was closing waits, plain, for the next writer's pass.
        assert {"ok"} == {s.integrity for s in list_archives(tmp_path) if s.name.endswith(".gz")}
        assert [] == [
            s.name for s in list_archives(tmp_path) if s.integrity in {"mismatch", "missing"}
        ]

    def test_each_rotated_file_respects_the_size(self, tmp_path: Path) -> None:
        """No process rotates a file another one already rotated: sizes stay within the limit."""
        path = tmp_path / "app.jsonl"
        go = tmp_path / "go"
        go.touch()
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(path), str(n), "1500", str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for n in range(3)
        ]
        for process in processes:
            process.communicate(timeout=90)
        names = NamePattern(path)
        sizes = [
            record.content_size
            for status in list_archives(tmp_path)
            if (record := status.record) is not None and names.parse(status.name)
        ]

        assert sizes
        assert max(sizes) <= ROTATION_SIZE
