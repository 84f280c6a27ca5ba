"""Every code block of README.md runs, so the README cannot drift from what tapelog does.

The blocks are read from the README itself: the Python blocks run in order in one fresh
process (in a scratch directory, with the TOML block marked ``# logging.toml`` written
there as the configuration the first block loads); every TOML block passes the same
validation as ``tapelog config check``; the JSON example is what the first block logs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tapelog.config import load_config


README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
MARKED_FILE = re.compile(r"# ([\w.-]+\.toml)\n")


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README.read_text()) if lang == language]


def test_the_readme_has_the_blocks_this_test_reads() -> None:
    """A guard against a regex that silently finds nothing."""
    assert len(blocks("python")) >= 5
    assert len(blocks("toml")) >= 3
    assert len(blocks("json")) == 1
    assert any(MARKED_FILE.match(body) for body in blocks("toml"))


@pytest.mark.parametrize("number", range(len(blocks("toml"))))
def test_every_toml_block_is_a_valid_configuration(tmp_path: Path, number: int) -> None:
    """Each TOML block, as it stands, passes the configuration's validation."""
    path = tmp_path / "block.toml"
    path.write_text(blocks("toml")[number])

    load_config(str(path), environ={})


def test_the_python_blocks_run_in_order_and_log_what_the_readme_shows(tmp_path: Path) -> None:
    """The Python blocks, one after the other, run without error; the first logs the JSON shown."""
    for body in blocks("toml"):
        marked = MARKED_FILE.match(body)
        if marked:
            (tmp_path / marked.group(1)).write_text(body)
    script = tmp_path / "readme.py"
    script.write_text("\n\n".join(blocks("python")) + "\n\ntapelog.flush(5)\n")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TAPELOG_")}

    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )

    assert 0 == done.returncode, done.stderr
    written = [
        json.loads(line) for line in (tmp_path / "logs" / "app.jsonl").read_text().splitlines()
    ]
    shown = json.loads(blocks("json")[0])
    first = written[0]
    assert {k: v for k, v in shown.items() if k != "timestamp"} == {
        k: v for k, v in first.items() if k != "timestamp"
    }
    messages = [entry["message"] for entry in written]
    assert ["order placed", "request served", "order handled"] == messages[:3]
    assert "r-43" == written[2]["request_id"]
