"""Uncaught exceptions in a real process: main thread, worker thread, asyncio task, __del__.

Each leaves exactly one ``error.unhandled`` entry at critical, written before the process
ends, and Python's own traceback still reaches stderr.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import read_jsonl

from tapelog.errors import ErrorInfo


if TYPE_CHECKING:
    from pathlib import Path


CARETS = re.compile(r"\s*[~^]+\s*$")
APP = textwrap.dedent(
    """
    import asyncio, sys, threading
    import tapelog

    mode, path = sys.argv[1], sys.argv[2]
    tapelog.configure(
        {"sinks": [{"type": "file", "path": path}], "errors": {"hooks": True}}
    )
    log = tapelog.get_logger("strategy")

    def rebalance(depth):
        api_secret = "should-not-leak"
        if depth == 0:
            raise RuntimeError("position limit breached")
        return rebalance(depth - 1)

    if mode == "main":
        tapelog.bind_context(session="s-1")
        rebalance(3)
    elif mode == "thread":
        worker = threading.Thread(target=rebalance, args=(2,), name="rebalancer")
        worker.start()
        worker.join()
    elif mode == "task":
        async def fail():
            rebalance(1)

        async def main():
            task = asyncio.get_running_loop().create_task(fail(), name="hedger")
            await asyncio.sleep(0.05)
            del task  # never awaited: asyncio reports it when the task is collected

        asyncio.run(main())
    elif mode == "unraisable":
        class Holder:
            def __del__(self):
                rebalance(0)

        Holder()
    """
)


@pytest.mark.parametrize(
    ("mode", "mechanism", "thread", "task", "exit_code"),
    [
        ("main", "sys.excepthook", "MainThread", None, 1),
        ("thread", "threading.excepthook", "rebalancer", None, 0),
        ("task", "asyncio", "MainThread", "hedger", 0),
        ("unraisable", "sys.unraisablehook", "MainThread", None, 0),
    ],
)
def test_one_unhandled_entry_per_uncaught_exception(  # noqa: PLR0917 - the parameters
    tmp_path: Path,
    validator: Any,
    mode: str,
    mechanism: str,
    thread: str,
    task: str | None,
    exit_code: int,
) -> None:
    script = tmp_path / "app.py"
    script.write_text(APP, encoding="utf-8")
    log_file = tmp_path / "app.jsonl"

    result = subprocess.run(
        [sys.executable, str(script), mode, str(log_file)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    entries = read_jsonl(log_file)
    unhandled = [e for e in entries if e.get("event") == "error.unhandled"]

    assert exit_code == result.returncode, result.stderr
    assert 1 == len(unhandled), entries
    (entry,) = unhandled
    assert [] == [str(e) for e in validator.iter_errors(entry)]
    assert ("critical", mechanism, thread, task) == (
        entry["level"],
        entry["mechanism"],
        entry["thread"],
        entry.get("task"),
    )
    assert ("RuntimeError", "position limit breached") == (
        entry["error"]["type"],
        entry["error"]["message"],
    )
    assert entry["source"].endswith("app.py:14")
    assert "should-not-leak" not in log_file.read_text(encoding="utf-8")
    # Python's own report still reaches stderr, after ours.
    assert "RuntimeError: position limit breached" in result.stderr
    rendered = ErrorInfo.from_dict(entry["error"]).render()
    if mode == "unraisable":
        # Python 3.13's default unraisable hook prints through the interpreter's own
        # traceback printer, which draws no carets under the failing expression;
        # traceback.format_exception (which render() matches) does. 3.11 and 3.12 draw
        # none for this call in either.
        rendered = "".join(
            line for line in rendered.splitlines(keepends=True) if not CARETS.match(line)
        )
    assert rendered in result.stderr
    if mode == "main":
        assert "s-1" == entry["session"]
