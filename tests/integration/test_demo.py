"""The demo runs from the command line and writes only schema-valid, redacted lines."""

from __future__ import annotations

import re
import subprocess
import sys
from typing import TYPE_CHECKING

from tapelog.cli._query import query_paths


if TYPE_CHECKING:
    from pathlib import Path


class TestDemo:
    def test_demo_runs_and_every_line_is_valid(self, tmp_path: Path, validator: object) -> None:
        """`tapelog demo` exits 0, rotates and archives, delivers over HTTP, and writes valid entries."""
        out = tmp_path / "demo"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tapelog",
                "demo",
                "--seconds",
                "2",
                "--dir",
                str(out),
                "--seed",
                "7",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

        entries = list(query_paths([out / "logs", out / "archive"]))
        everything = "".join(
            path.read_bytes().decode("latin-1") for path in (out / "logs").iterdir()
        )
        archives = re.search(
            r"archives: (\d+) compressed files, (\d+) match their manifest", result.stdout
        )
        assert 0 == result.returncode, result.stdout + result.stderr
        assert "http delivery: nothing lost, 0 entries twice" in result.stdout
        assert re.search(r"tapelog verify \S+: OK, \d+ sealed entries", result.stdout)
        assert re.search(r"trades\.audit\.jsonl:\d+: edited: ", result.stdout)
        assert archives is not None
        assert int(archives.group(1)) >= 1
        assert archives.group(1) == archives.group(2)
        assert len(entries) > 10
        assert [] == [e for e in entries if not validator.is_valid(e)]  # type: ignore[attr-defined]
        assert not any(secret in everything for secret in ("s3cret", "hunter2"))
