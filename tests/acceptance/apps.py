"""Running the example applications as a user would, and reading back what they wrote."""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WAIT = 60.0  # a bound on waiting for a condition, never a timing assertion


def command(app: str, out: Path, *args: str) -> list[str]:
    return [sys.executable, str(EXAMPLES / app), str(out), *args]


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAPELOG_")}
    env.pop("NO_COLOR", None)
    return {**env, **(extra or {})}


def run(
    app: str, out: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run an application to its end; fail with its stderr if it did not exit 0."""
    result = subprocess.run(
        command(app, out, *args),
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        env=environment(env),
        check=False,
    )
    assert 0 == result.returncode, result.stderr[-4000:]
    return result


@contextlib.contextmanager
def running(
    app: str, out: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[subprocess.Popen[str]]:
    """Start an application that serves until SIGTERM; wait for its ``ready.json``.

    On leaving, SIGTERM and wait for a clean exit (status 0).
    """
    with (out.parent / f"{out.name}.stderr").open("w+", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            command(app, out, *args),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            env=environment(env),
        )
        try:
            assert wait_for(lambda: (out / "ready.json").exists() or process.poll() is not None)
            assert process.poll() is None, (out.parent / f"{out.name}.stderr").read_text()
            yield process
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(WAIT)
            except subprocess.TimeoutExpired:
                process.kill()
                raise
        stderr.seek(0)
        assert 0 == code, stderr.read()[-4000:]


def wait_for(condition: Callable[[], object], timeout: float = WAIT) -> bool:
    """Poll ``condition`` until it holds; False if it never did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def lines(path: Path) -> list[str]:
    """The complete lines of a plain or gzip file (a line still being written is left out)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.decode("utf-8").split("\n")[:-1]


def entries(*paths: Path) -> list[dict[str, Any]]:
    """Every JSON entry in the given files, file after file."""
    return [json.loads(line) for path in paths for line in lines(path)]


def archives(directory: Path) -> list[Path]:
    """The compressed rotated files in a directory, oldest first (their names sort by time)."""
    return sorted(directory.glob("*.gz"))


def schema_errors(validator: Any, items: Iterable[dict[str, Any]]) -> list[str]:
    return [
        f"{e.get('event')}: {error.message}" for e in items for error in validator.iter_errors(e)
    ]
