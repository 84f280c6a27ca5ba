"""docs/sinks.md: its third-party sink, written only from the page, works as the page says."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path


DOC = Path(__file__).resolve().parents[2] / "docs" / "sinks.md"


def python_blocks() -> list[str]:
    """Every ```python block of the page, in order."""
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


class TestDocsSinks:
    def test_the_example_sink_works_with_its_options_validated(self, tmp_path: Path) -> None:
        """The page's code, run as written in a fresh process, logs into SQLite, refuses a
        misspelt option with its key path, and passes the conformance kit."""
        script = "\n".join(python_blocks())

        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert 0 == result.returncode, result.stderr
        # Closed here: Python 3.13 warns (ResourceWarning) about a connection left open.
        with closing(sqlite3.connect(tmp_path / "app.db")) as db:
            rows = db.execute("SELECT level, logger, message, entry FROM logs").fetchall()
        (level, logger, message, entry), *rest = rows
        assert [] == rest
        assert ("info", "shop", "order placed") == (level, logger, message)
        assert "BTC-USD" == json.loads(entry)["symbol"]
        assert result.stdout.startswith("sinks[0].tabel: expected a known key (")
        assert "did you mean 'table'?" in result.stdout

    def test_a_missing_required_option_is_refused(self, tmp_path: Path) -> None:
        """Without its required path, the example's type is refused naming sinks[0].path."""
        definition = python_blocks()[0]
        script = definition + (
            "\nimport tapelog\n"
            "try:\n"
            "    tapelog.configure(sinks=[{'type': 'sqlite', 'table': 'logs'}])\n"
            "except tapelog.ConfigError as error:\n"
            "    print(error.path)\n"
        )

        result = subprocess.run(
            [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True
        )

        assert "sinks[0].path" == result.stdout.strip()
