"""Live reload in real processes: the file watcher, SIGHUP, ``tapelog reload PID``, fork."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

WAIT = 30.0  # bound on waiting for a process to get going; not a timing assertion

# Logs an info and a warning entry every 10 ms until killed.
LOOP = """
    import os, time, tapelog
    {setup}
    log = tapelog.get_logger("app")
    i = 0
    while True:
        log.info("info", i=i)
        log.warning("warning", i=i)
        i += 1
        time.sleep(0.01)
"""


def config_text(log: Path, level: str, *, watch: bool = True) -> str:
    return (
        f'level = "{level}"\nwatch = {str(watch).lower()}\n'
        f'[[sinks]]\ntype = "file"\npath = "{log}"\n'
    )


def entries(path: Path) -> list[dict[str, Any]]:
    """The complete lines written so far (a line being written is left for later)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in data.split(b"\n")[:-1]]


def wait_for(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def app_levels(path: Path) -> set[str]:
    return {e["level"] for e in entries(path) if e["logger"] == "app"}


def events(path: Path, event: str) -> list[dict[str, Any]]:
    return [e for e in entries(path) if e.get("event") == event]


@pytest.fixture(name="spawn")
def _spawn(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start Python programs; each is killed at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(code: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        err = (tmp_path / f"stderr-{len(procs)}.txt").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)],
            stderr=err,
            env={**os.environ, **(env or {})},
        )
        err.close()
        procs.append(proc)
        return proc

    yield spawn
    for proc in procs:
        proc.kill()
        proc.wait(30)


class TestWatch:
    @pytest.mark.parametrize("how", ["configure", "TAPELOG_CONFIG"])
    def test_edited_level_is_written_within_one_and_a_half_seconds(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]], how: str
    ) -> None:
        """Editing the watched file's level changes what is written, with no call from the program."""
        config, log = tmp_path / "app.toml", tmp_path / "app.jsonl"
        config.write_text(config_text(log, "warning"), encoding="utf-8")
        if how == "configure":
            spawn(LOOP.format(setup=f"tapelog.configure({str(config)!r})"))
        else:
            spawn(LOOP.format(setup=""), env={"TAPELOG_CONFIG": str(config)})
        assert wait_for(lambda: "warning" in app_levels(log))

        config.write_text(config_text(log, "info"), encoding="utf-8")
        written = time.monotonic()
        seen = wait_for(lambda: "info" in app_levels(log), timeout=10)
        latency = time.monotonic() - written
        [changed] = events(log, "config.changed")

        assert (True, "watch") == (seen, changed["trigger"])
        assert latency < 1.5, f"the new level took {latency:.2f} s"

    def test_broken_file_keeps_the_old_configuration(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
    ) -> None:
        """A watched file saved with a bad value is reported; logging goes on as configured."""
        config, log = tmp_path / "app.toml", tmp_path / "app.jsonl"
        config.write_text(config_text(log, "warning"), encoding="utf-8")
        spawn(LOOP.format(setup=f"tapelog.configure({str(config)!r})"))
        assert wait_for(lambda: "warning" in app_levels(log))

        config.write_text(config_text(log, "loud"), encoding="utf-8")
        reported = wait_for(lambda: bool(events(log, "config.reload_failed")))
        count = len(entries(log))
        wait_for(lambda: len(entries(log)) > count + 20)
        [error] = events(log, "config.reload_failed")
        after = entries(log)[count:]

        assert (True, "level", "watch") == (reported, error["key"], error["trigger"])
        assert "'loud'" in error["problem"]
        assert ({"warning"}, []) == (
            {e["level"] for e in after if e["logger"] == "app"},
            events(log, "config.changed"),
        )


class TestSignal:
    def test_sighup_reloads(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
    ) -> None:
        """With the handler installed, SIGHUP re-reads an unwatched file."""
        config, log = tmp_path / "app.toml", tmp_path / "app.jsonl"
        config.write_text(config_text(log, "warning", watch=False), encoding="utf-8")
        setup = f"tapelog.configure({str(config)!r}); tapelog.install_signal_handlers(sighup=True)"
        proc = spawn(LOOP.format(setup=setup))
        assert wait_for(lambda: "warning" in app_levels(log))

        config.write_text(config_text(log, "info", watch=False), encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        seen = wait_for(lambda: "info" in app_levels(log))
        [changed] = events(log, "config.changed")

        assert (True, "signal", None) == (seen, changed["trigger"], proc.poll())

    def test_tapelog_reload_pid(
        self, tmp_path: Path, spawn: Callable[..., subprocess.Popen[bytes]]
    ) -> None:
        """`tapelog reload PID` makes a running process re-read its file."""
        config, log = tmp_path / "app.toml", tmp_path / "app.jsonl"
        config.write_text(config_text(log, "warning", watch=False), encoding="utf-8")
        setup = f"tapelog.configure({str(config)!r}); tapelog.install_signal_handlers(sighup=True)"
        proc = spawn(LOOP.format(setup=setup))
        assert wait_for(lambda: "warning" in app_levels(log))

        config.write_text(config_text(log, "info", watch=False), encoding="utf-8")
        command = subprocess.run(
            [sys.executable, "-m", "tapelog", "reload", str(proc.pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        seen = wait_for(lambda: "info" in app_levels(log))

        assert (0, True, None) == (command.returncode, seen, proc.poll())

    def test_tapelog_reload_spares_a_process_without_the_handler(
        self, spawn: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
    ) -> None:
        """A process that does not handle SIGHUP is refused (exit 4), not ended."""
        need(
            Path(f"/proc/{os.getpid()}/status").exists(),
            "no /proc here: the signal mask cannot be read",
        )
        ready = tmp_path / "ready"
        proc = spawn(f"import pathlib, time; pathlib.Path({str(ready)!r}).touch(); time.sleep(60)")
        assert wait_for(ready.exists)
        command = subprocess.run(
            [sys.executable, "-m", "tapelog", "reload", str(proc.pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert (4, None) == (command.returncode, proc.poll())
        assert "does not handle SIGHUP" in command.stderr


class TestProcess:
    def test_forked_child_watches_the_file_itself(self, tmp_path: Path) -> None:
        """After fork the child runs its own watcher: an edit changes the child's levels."""
        config, log = tmp_path / "app.toml", tmp_path / "app.jsonl"
        config.write_text(config_text(log, "warning"), encoding="utf-8")
        code = f"""
            import os, pathlib, threading, time, tapelog
            tapelog.configure({str(config)!r})
            log = tapelog.get_logger("app")
            pid = os.fork()
            if pid == 0:
                names = [t.name for t in threading.enumerate()]
                pathlib.Path({str(config)!r}).write_text(
                    pathlib.Path({str(config)!r}).read_text().replace("warning", "info"))
                deadline = time.monotonic() + 20
                while not log.is_enabled("info") and time.monotonic() < deadline:
                    time.sleep(0.01)
                os._exit(0 if log.is_enabled("info") and "tapelog-config-watch" in names else 7)
            _, status = os.waitpid(pid, 0)
            raise SystemExit(os.waitstatus_to_exitcode(status))
            """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert 0 == result.returncode, result.stderr

    def test_first_configure_is_not_a_change(self, tmp_path: Path) -> None:
        """The program's own set-up is not logged as a change; a second configure() is."""
        log = tmp_path / "app.jsonl"
        code = f"""
            import tapelog
            sinks = [{{"type": "file", "path": {str(log)!r}}}]
            tapelog.configure(sinks=sinks, levels={{"tapelog": "debug"}})
            tapelog.configure(sinks=sinks, levels={{"tapelog": "debug"}}, level="warning")
            """
        result = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

        assert 0 == result.returncode, result.stderr
        assert [["level"]] == [
            [c["key"] for c in e["changes"]] for e in events(log, "config.changed")
        ]
