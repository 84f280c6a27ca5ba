"""Exit, SIGTERM and fork, each in a real subprocess, leave every entry on disk exactly once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl


if TYPE_CHECKING:
    from pathlib import Path


def _run(code: str, *, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TestExit:
    def test_interpreter_exit_drains_the_queue(self, tmp_path: Path) -> None:
        """Entries still queued when the program ends are written by the atexit drain."""
        path = tmp_path / "exit.jsonl"
        result = _run(
            f"""
            import tapelog
            tapelog.configure(sinks=[{{"type": "file", "path": {str(path)!r}}}], queue={{"size": 100000}})
            log = tapelog.get_logger("exit")
            for i in range(20000):
                log.info("m", i=i)
            """
        )

        assert 0 == result.returncode, result.stderr
        assert list(range(20000)) == [e["i"] for e in read_jsonl(path)]

    def test_exit_does_not_wait_for_the_workers_nap(self, tmp_path: Path) -> None:
        """A trickle of entries, then exit: the worker, napping between batches (an hour
        here), is cut short, so the last entries are written and the program ends at once
        rather than an hour later (the run's timeout)."""
        path = tmp_path / "nap.jsonl"
        result = _run(
            f"""
            import tapelog, tapelog._dispatch as d
            d._NAP = d._NAP_MAX = 3600.0
            d._FILL_TIME = 1.0  # so that no cap shortens the nap
            tapelog.configure(sinks=[{{"type": "file", "path": {str(path)!r}}}])
            log = tapelog.get_logger("exit")
            log.info("m", i=0)
            assert tapelog.flush(30)  # written; the worker now naps an hour
            for i in range(1, 5):
                log.info("m", i=i)
            """
        )

        assert 0 == result.returncode, result.stderr
        assert list(range(5)) == [e["i"] for e in read_jsonl(path)]

    def test_sys_exit_from_a_thread_heavy_program(self, tmp_path: Path) -> None:
        """Several threads logging, then sys.exit: every entry is written once."""
        path = tmp_path / "threads.jsonl"
        result = _run(
            f"""
            import sys, threading, tapelog
            tapelog.configure(sinks=[{{"type": "file", "path": {str(path)!r}}}], queue={{"size": 256}})
            def work(n):
                log = tapelog.get_logger("t").bind(thread_no=n)
                for i in range(2000):
                    log.info("m", i=i)
            threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
            for t in threads: t.start()
            for t in threads: t.join()
            sys.exit(3)
            """
        )

        entries = read_jsonl(path)
        assert 3 == result.returncode, result.stderr
        for n in range(4):
            assert list(range(2000)) == [e["i"] for e in entries if e["thread_no"] == n]


class TestSigterm:
    def test_sigterm_drains_then_terminates(self, tmp_path: Path) -> None:
        """With the handler installed, SIGTERM writes everything queued, then the process ends."""
        path = tmp_path / "term.jsonl"
        ready = tmp_path / "ready"
        code = f"""
            import pathlib, time, tapelog
            tapelog.configure(sinks=[{{"type": "file", "path": {str(path)!r}}}], queue={{"size": 100000}})
            tapelog.install_signal_handlers()
            log = tapelog.get_logger("term")
            for i in range(5000):
                log.info("m", i=i)
            pathlib.Path({str(ready)!r}).write_text("ok")
            while True:
                time.sleep(0.05)
            """
        err = tmp_path / "stderr.txt"
        with (
            err.open("wb") as err_file,
            subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(code)], stderr=err_file
            ) as proc,
        ):
            try:
                deadline = time.monotonic() + 30
                while not ready.exists() and time.monotonic() < deadline and proc.poll() is None:
                    time.sleep(0.02)
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
            finally:
                proc.kill()

        assert -signal.SIGTERM == proc.returncode, err.read_text()
        assert list(range(5000)) == [e["i"] for e in read_jsonl(path)]


class TestFork:
    def test_child_has_a_working_dispatcher_and_nothing_is_written_twice(
        self, tmp_path: Path
    ) -> None:
        """A child forked while the parent's queue is full logs normally; each entry appears once."""
        path = tmp_path / "fork.jsonl"
        result = _run(
            f"""
            import os, threading, tapelog
            from tapelog.sinks import BaseSink, FileSink, register_sink
            gate = threading.Event()
            class SlowFile(BaseSink):
                def __init__(self, inner): self.inner, self.name = inner, inner.name
                def write_batch(self, entries):
                    gate.wait(5)
                    self.inner.write_batch(entries)
                def flush(self): self.inner.flush()
                def close(self): self.inner.close()
                def after_fork(self):
                    gate.set()
                    self.inner.after_fork()
            register_sink("slowfile", lambda c, f: SlowFile(FileSink(c.options["path"], f, name=c.name)), {{"path": ""}}, required=["path"])
            tapelog.configure(sinks=[{{"type": "slowfile", "path": {str(path)!r}}}],
                              queue={{"size": 50, "overflow": "block", "block_timeout": "30s"}})
            log = tapelog.get_logger("fork")
            for i in range(50):
                log.info("parent", i=i)
            pid = os.fork()
            if pid == 0:
                for i in range(100):
                    log.info("child", i=i)
                ok = tapelog.flush(10)
                os._exit(0 if ok else 7)
            gate.set()
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, status
            tapelog.flush(10)
            """
        )

        entries = read_jsonl(path)
        assert 0 == result.returncode, result.stderr
        assert list(range(50)) == [e["i"] for e in entries if e["message"] == "parent"]
        assert list(range(100)) == [e["i"] for e in entries if e["message"] == "child"]


class TestReconfigureWhileTheWorkerLogs:
    def test_a_sink_creating_a_logger_during_configure_does_not_deadlock(self) -> None:
        """configure() waits for the worker's batch; a sink that meanwhile creates a logger
        (as a library bridged from the standard library does) must not wait for configure()."""
        result = _run(
            """
            import threading, time, tapelog
            from tapelog._runtime import RUNTIME
            from tapelog.sinks import register_sink
            got = {"old": [], "new": []}
            configuring = threading.Event()
            class Creating:
                def __init__(self, name): self.name = name
                def write_batch(self, entries):
                    if self.name == "old" and configuring.is_set():
                        # Wait until configure() holds the runtime's lock, then need a logger.
                        deadline = time.monotonic() + 10
                        while RUNTIME._lock.acquire(blocking=False) and time.monotonic() < deadline:
                            RUNTIME._lock.release()
                            time.sleep(0.001)
                        tapelog.get_logger("made.while.configuring").debug("hello")
                    got[self.name].extend(e["message"] for e in entries)
                def flush(self): pass
                def close(self): pass
            register_sink("creating", lambda c, f: Creating(c.name))
            tapelog.configure(sinks=[{"type": "creating", "name": "old"}])
            log = tapelog.get_logger("app")
            configuring.set()
            for i in range(3000):
                log.info(f"m{i}")
            tapelog.configure(sinks=[{"type": "creating", "name": "new"}])
            log.info("after")
            assert tapelog.flush(10)
            print(len(got["old"]), got["new"])
            """
        )

        assert 0 == result.returncode, result.stderr
        assert "3000 ['after']" == result.stdout.strip()
