"""The demo runs from the command line and writes only schema-valid, redacted lines."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl


if TYPE_CHECKING:
    from pathlib import Path


class TestDemo:
    def test_demo_runs_and_every_line_is_valid(self, tmp_path: Path, validator: object) -> None:
        """`tapelog demo` exits 0, summarises, and writes schema-valid JSON lines."""
        out = tmp_path / "demo"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tapelog",
                "demo",
                "--seconds",
                "1",
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

        entries = read_jsonl(out / "app.jsonl")
        assert 0 == result.returncode, result.stdout + result.stderr
        assert "tapelog demo summary" in result.stdout
        assert "http delivery: nothing lost, 0 entries twice" in result.stdout
        assert len(entries) > 10
        assert [] == [e for e in entries if not validator.is_valid(e)]  # type: ignore[attr-defined]
        assert not any(
            secret in (out / "app.jsonl").read_text() for secret in ("s3cret", "hunter2")
        )
