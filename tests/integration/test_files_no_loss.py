"""Files under faults: nothing written is lost, nothing lost is counted written.

Each test runs the writer in a real interpreter (``python -c``), against real files,
and checks what a user would find afterwards: the entries in the files, and the
counters ``stats()`` reported, which must agree with the files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need

import tapelog
from tapelog.exceptions import ConfigError
from tapelog.formats import JsonFormat
from tapelog.retention._archive import list_archives
from tapelog.retention._names import NamePattern
from tapelog.retention._reader import compression_of, iter_lines
from tapelog.sinks import FileSink


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def run_child(script: str, *args: str, timeout: float = 60) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter; return the JSON it printed last on stdout."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert 0 == done.returncode, done.stderr.decode(errors="replace")
    lines = done.stdout.decode().strip().splitlines()
    result = json.loads(lines[-1]) if lines else {}
    result["_stderr"] = done.stderr.decode(errors="replace")
    return result


def check_invariants(stats: dict[str, Any], received: dict[str, int] | None = None) -> None:
    """The counters of a quiet moment add up (see ``tapelog.Stats``)."""
    assert stats["emitted"] == stats["processed"] + stats["dropped_overflow"]
    for name, sink in stats["sinks"].items():
        accounted = (
            sink["written"] + sink["filtered"] + sink["sampled_out"] + sink["failed"]
        ) + sink["spooled"]
        assert stats["processed"] + sink.get("received", 0) == accounted, (name, sink)
        if received is not None:
            assert received.get(name, 0) == sink.get("received", 0), (name, sink)


def family_lines(live: Path) -> tuple[list[bytes], list[str]]:
    """Every line of the live file and its finished files, and the names read."""
    names = NamePattern(live)
    lines: list[bytes] = []
    read: list[str] = []
    for path in sorted(live.parent.iterdir()):
        if path.name != live.name and names.parse(path.name) is None:
            continue
        read.append(path.name)
        with path.open("rb") as raw:
            lines.extend(iter_lines(raw, compression_of(path)))
    return lines, read


def entries_of(live: Path, logger: str = "app") -> list[dict[str, Any]]:
    """The entries of one logger in the file family (raises on any unreadable line)."""
    lines, _ = family_lines(live)
    return [e for e in map(json.loads, lines) if e.get("logger") == logger]


RETENTION_WRITER = """
    import json, sys
    import tapelog

    path = sys.argv[1]
    tapelog.configure(sinks=[{
        "type": "file", "path": path, "rotation": {"size": "16 KiB"},
        "compression": "gzip", "retention": {"max_files": 3},
    }])
    log = tapelog.get_logger("app")
    for i in range(3000):
        log.info("entry", i=i, pad="x" * 60)
    tapelog.flush(30)
    tapelog.shutdown(30)
    print(json.dumps(tapelog.stats().as_dict()))
"""


class TestRetentionKeepsTheNewest:
    def test_max_files_purges_the_oldest_entries_not_the_newest(self, tmp_path: Path) -> None:
        """Many rotations a second with max_files = 3: what is kept is the end of the log.

        Before the fix, rotations in one second reused the counters retention had freed,
        so the newest files sorted as the oldest and were purged.
        """
        live = tmp_path / "app.jsonl"
        stats = run_child(RETENTION_WRITER, str(live))
        kept = sorted(e["i"] for e in entries_of(live))

        assert kept, "nothing left at all"
        assert list(range(kept[0], 3000)) == kept  # a whole tail, up to the last entry
        check_invariants(stats)


TORN_WRITER = """
    import json, os, sys
    import tapelog

    path, rotation = sys.argv[1], sys.argv[2] == "rotate"
    sink = {"type": "file", "path": path}
    if rotation:
        sink["rotation"] = {"size": "1 MiB"}
    tapelog.configure(sinks=[sink])
    log = tapelog.get_logger("app")
    for i in range(100):
        log.info("entry", i=i)
        if i % 25 == 24:
            tapelog.flush(10)
            # Another writer, killed in the middle of a line, leaves it unfinished.
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
            os.write(fd, b'{"timestamp":"2026-11-23T07:00:00.000000Z","level":"info","mess')
            os.close(fd)
    tapelog.flush(10)
    print(json.dumps(tapelog.stats().as_dict()))
"""


class TestTornLines:
    @pytest.mark.parametrize("kind", ["plain", "rotate"])
    def test_an_unfinished_last_line_is_ended_before_the_next_write(
        self, tmp_path: Path, kind: str
    ) -> None:
        """After a writer died mid-line, every entry written later is whole and readable.

        Before the fix, the next batch was appended to the partial line, and its first
        entry became unreadable while counted written.
        """
        live = tmp_path / "app.jsonl"
        live.write_bytes(b'{"timestamp":"2026-11-23T06:59:59.000000Z","lev')  # a killed writer
        stats = run_child(TORN_WRITER, str(live), kind)
        lines = live.read_bytes().split(b"\n")
        torn = [line for line in lines if line and not line.endswith(b"}")]
        entries = [json.loads(line) for line in lines if line.endswith(b"}")]

        assert 5 == len(torn)  # the one before the start, and one after each 25 entries
        assert all(line.startswith(b'{"timestamp"') for line in torn)
        assert list(range(100)) == [e["i"] for e in entries if e["logger"] == "app"]
        assert 100 == stats["sinks"]["file"]["written"]
        check_invariants(stats)


DELETING_WRITER = """
    import json, shutil, sys
    from pathlib import Path
    import tapelog

    path, kind, what = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    sink = {"type": "file", "path": str(path)}
    if kind == "rotate":
        sink["rotation"] = {"size": "1 MiB"}
    tapelog.configure(sinks=[sink])
    log = tapelog.get_logger("app")
    for round in range(3):
        for i in range(50):
            log.info("entry", round=round, i=i)
        tapelog.flush(10)
        if what == "directory":
            shutil.rmtree(path.parent)
        else:
            path.unlink()
    log.info("entry", round=3, i=0)
    tapelog.flush(10)
    print(json.dumps(tapelog.stats().as_dict()))
"""


class TestDeletedFiles:
    @pytest.mark.parametrize("kind", ["plain", "rotate"])
    @pytest.mark.parametrize("what", ["directory", "file"])
    def test_a_deleted_file_or_directory_is_recreated_at_the_next_write(
        self, tmp_path: Path, kind: str, what: str
    ) -> None:
        """Entries logged after the file (or its directory) was deleted land in a new file.

        Before the fix, a rotating sink never wrote again once its directory was gone (its
        lock file was the deleted one), and a plain sink kept writing into the deleted
        file for up to a second, counting those entries written.
        """
        live = tmp_path / "logs" / "app.jsonl"
        stats = run_child(DELETING_WRITER, str(live), kind, what)
        entries = list(map(json.loads, live.read_bytes().splitlines()))

        assert [(3, 0)] == [(e["round"], e["i"]) for e in entries if e["logger"] == "app"]
        # What went into the deleted files was written: deleting them is what lost it.
        assert (151, 0) == (stats["sinks"]["file"]["written"], stats["sinks"]["file"]["failed"])
        check_invariants(stats)

    def test_a_lock_file_deleted_alone_is_recreated(self, tmp_path: Path) -> None:
        """Two writers keep excluding each other after someone deletes the lock file."""
        live = tmp_path / "app.jsonl"
        script = """
            import json, sys
            from pathlib import Path
            import tapelog

            path = Path(sys.argv[1])
            tapelog.configure(sinks=[{"type": "file", "path": str(path), "rotation": {"size": 4096}}])
            log = tapelog.get_logger("app")
            log.info("entry", i=0)
            tapelog.flush(10)
            Path(str(path) + ".lock").unlink()
            for i in range(1, 200):
                log.info("entry", i=i)
            tapelog.flush(10)
            print(json.dumps(tapelog.stats().as_dict()))
        """
        stats = run_child(script, str(live))

        assert (tmp_path / "app.jsonl.lock").exists()
        assert list(range(200)) == sorted(e["i"] for e in entries_of(live))
        check_invariants(stats)


@pytest.fixture(name="small_disk")
def _small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs, mounted for the test (needs root: CI runs tests as root)."""
    need(os.geteuid() == 0, "mounting a small tmpfs needs root")
    need(shutil.which("mount") is not None, "mount(8) is not installed")
    place = tmp_path / "small"
    place.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(place)],
        check=True,
        capture_output=True,
    )
    try:
        yield place
    finally:
        subprocess.run(["umount", "-l", str(place)], check=False, capture_output=True)


FULL_DISK_WRITER = """
    import json, sys
    import tapelog

    path, spill, kind = sys.argv[1], sys.argv[2], sys.argv[3]
    sink = {"type": "file", "name": "main", "path": path, "fallback": "spill"}
    if kind == "rotate":
        sink["rotation"] = {"size": "16 KiB"}
        sink["compression"] = "none"
    tapelog.configure(
        sinks=[sink, {"type": "file", "name": "spill", "path": spill, "level": "off"}],
        queue={"batch_size": 64},
    )
    log = tapelog.get_logger("app")
    for i in range(1500):
        log.info("entry", i=i, pad="x" * 90)
        if i % 100 == 99:
            tapelog.flush(10)  # batches of up to 64 entries, cut at odd places
    tapelog.shutdown(10)
    print(json.dumps(tapelog.stats().as_dict()))
"""


class TestFullDisk:
    @pytest.mark.parametrize("kind", ["plain", "rotate"])
    def test_a_batch_cut_by_a_full_disk_is_counted_exactly(
        self, tmp_path: Path, small_disk: Path, kind: str
    ) -> None:
        """Entries on file before the disk filled count as written, the rest go to the fallback.

        Before the fix, the part of the batch already written was counted failed and sent
        to the fallback as well, and the fallback did not count what it wrote.
        """
        live = small_disk / "app.jsonl"
        spill = tmp_path / "spill.jsonl"
        stats = run_child(FULL_DISK_WRITER, str(live), str(spill), kind)
        on_disk = [json.loads(line) for line in family_lines(live)[0] if line.endswith(b"}\n")]
        on_disk_ids = [e["i"] for e in on_disk if e["logger"] == "app"]
        spilled = list(map(json.loads, spill.read_bytes().splitlines()))
        spilled_ids = [e["i"] for e in spilled if e["logger"] == "app"]
        main, fallback = stats["sinks"]["main"], stats["sinks"]["spill"]

        assert 0 < len(on_disk_ids) < 1500
        assert list(range(1500)) == sorted(on_disk_ids + spilled_ids)  # each entry once
        # Entries of logger tapelog (rotations, failure reports) are counted too.
        assert (len(on_disk), len(spilled)) == (main["written"], main["failed"])
        assert (len(spilled), len(spilled)) == (fallback["received"], fallback["written"])
        check_invariants(stats, received={"spill": len(spilled)})


ALONE_WRITER = """
    import json, os, sys
    from pathlib import Path
    import tapelog

    path, other = Path(sys.argv[1]), sys.argv[2]
    sinks = [{"type": "file", "name": "main", "path": str(path)}]
    if other != "-":
        sinks.append({"type": "file", "name": "other", "path": other})
    tapelog.configure(sinks=sinks)
    log = tapelog.get_logger("app")
    log.info("first")
    tapelog.flush(10)
    path.unlink()
    path.mkdir()  # the file's place is taken: every write fails from now on
    for i in range(20):
        log.info("entry", i=i)
    tapelog.flush(10)
    tapelog.shutdown(10)
    print(json.dumps(tapelog.stats().as_dict()))
"""


class TestNoHealthySinkLeft:
    def test_failures_of_the_only_sink_go_to_stderr(self, tmp_path: Path) -> None:
        """With no other sink to record them, a sink's failures are told on stderr.

        Before the fix, every entry was counted failed and nothing said so anywhere.
        """
        stats = run_child(ALONE_WRITER, str(tmp_path / "app.jsonl"), "-")
        told = [line for line in stats["_stderr"].splitlines() if line.startswith("tapelog:")]

        assert 20 == stats["sinks"]["main"]["failed"]
        assert 1 == len(told), stats["_stderr"]
        assert "sink 'main' failed" in told[0]
        assert "20 entries" in told[0]
        assert "Is a directory" in told[0]
        check_invariants(stats)

    def test_a_healthy_sink_records_the_failure_instead(self, tmp_path: Path) -> None:
        """While another sink works, the failure is its entry, and stderr stays quiet."""
        other = tmp_path / "other.jsonl"
        stats = run_child(ALONE_WRITER, str(tmp_path / "app.jsonl"), str(other))
        reports = [
            e
            for e in map(json.loads, other.read_bytes().splitlines())
            if e.get("event") == "tapelog.sink_failed"
        ]

        assert "" == stats["_stderr"]
        assert [("main", 20)] == [(e["sink"], e["failed"]) for e in reports]
        check_invariants(stats)


class TestPathsCheckedUpFront:
    @pytest.mark.parametrize("key", ["path", "archive_dir"])
    def test_a_nul_byte_is_refused(self, tmp_path: Path, key: str) -> None:
        """A path with a NUL byte can never be opened: configure() says so, naming the key."""
        sink = {"type": "file", "path": str(tmp_path / "app.jsonl"), key: f"{tmp_path}/a\x00b"}
        with pytest.raises(ConfigError, match=rf"sinks\[0\]\.{key}: expected .*NUL") as caught:
            tapelog.configure(sinks=[sink])

        assert f"sinks[0].{key}" == caught.value.path

    def test_a_directory_is_not_a_log_file(self, tmp_path: Path) -> None:
        """A file sink whose path is a directory is refused, not counted failed forever."""
        with pytest.raises(
            ConfigError, match=r"sinks\[1\]\.path: expected a file path, not a directory"
        ):
            tapelog.configure(sinks=[{"type": "console"}, {"type": "file", "path": str(tmp_path)}])

    @pytest.mark.parametrize("key", ["path", "archive_dir"])
    def test_a_parent_that_is_a_file_is_refused(self, tmp_path: Path, key: str) -> None:
        """A path under a regular file can never be created."""
        blocker = tmp_path / "blocker"
        blocker.write_text("not a directory")
        sink = {"type": "file", "path": str(tmp_path / "app.jsonl")}
        sink[key] = str(blocker / "logs" / "app.jsonl")
        with pytest.raises(ConfigError, match=rf"sinks\[0\]\.{key}: .*is a file") as caught:
            tapelog.configure(sinks=[sink])

        assert str(blocker) in str(caught.value)

    def test_an_archive_dir_that_is_a_file_is_refused(self, tmp_path: Path) -> None:
        """Archives go into a directory: a regular file at that path is refused."""
        blocker = tmp_path / "archive"
        blocker.write_text("not a directory")
        sink = {"type": "file", "path": str(tmp_path / "app.jsonl"), "archive_dir": str(blocker)}
        with pytest.raises(ConfigError, match=r"sinks\[0\]\.archive_dir: expected a directory"):
            tapelog.configure(sinks=[sink])

    def test_a_spool_dir_that_is_a_file_is_refused(self, tmp_path: Path) -> None:
        """A network sink's spool is a directory too."""
        blocker = tmp_path / "spool"
        blocker.write_text("not a directory")
        sink = {"type": "http", "url": "http://127.0.0.1:9/", "spool_dir": str(blocker)}
        with pytest.raises(ConfigError, match=r"sinks\[0\]\.spool_dir: expected a directory"):
            tapelog.configure(sinks=[sink])

    def test_paths_that_will_be_created_are_accepted(self, tmp_path: Path) -> None:
        """Directories that do not exist yet are fine: the sink creates them."""
        live = tmp_path / "a" / "b" / "app.jsonl"
        tapelog.configure(
            sinks=[{"type": "file", "path": str(live), "archive_dir": str(tmp_path / "c" / "d")}]
        )
        tapelog.get_logger("app").info("hello")
        tapelog.flush(10)

        assert [("app", "hello")] == [(e["logger"], e["message"]) for e in entries_of(live)]


KILLED_WRITER = """
    import sys
    import tapelog

    path, base = sys.argv[1], int(sys.argv[2])
    tapelog.configure(
        sinks=[{"type": "file", "path": path, "rotation": {"size": "8 KiB"}, "compression": "gzip"}],
        # Wait for room rather than drop (a drop is counted, but this process is killed):
        # what a kill loses is then only what was queued or being written.
        queue={"size": QUEUE, "batch_size": BATCH, "block_timeout": "60s"},
    )
    log = tapelog.get_logger("app")
    i = 0
    while True:
        log.info("entry", i=base + i, pad="y" * (i % 97))
        if i % 50 == 0:
            print(base + i, flush=True)  # logged (queued), not necessarily written
        i += 1
"""
QUEUE, BATCH = 256, 32
KILLS = 6


class TestKilledWriter:
    def test_sigkill_at_random_moments_across_rotations(self, tmp_path: Path) -> None:
        """Writers killed at random moments leave readable files and lose only the queue.

        Each of six writers logs as fast as it can through 8 KiB rotations with gzip, and is
        killed with SIGKILL after a random delay: mid-write, mid-rotation, mid-compression.
        A last writer starts, logs, and shuts down. Then every file reads to its end, every
        line but a torn one per kill is a valid entry, nothing is written twice, and every
        entry a writer had logged is on file, except at most the last queue.size +
        batch_size of each writer (what was still queued or being written).
        """
        live = tmp_path / "app.jsonl"
        script = KILLED_WRITER.replace("QUEUE", str(QUEUE)).replace("BATCH", str(BATCH))
        rng = random.Random(os.environ.get("PYTEST_SEED", "11"))
        logged: list[tuple[int, int]] = []  # per writer: first number, last number logged
        for kill in range(KILLS):
            base = kill * 1_000_000
            writer = subprocess.Popen(
                [sys.executable, "-c", textwrap.dedent(script), str(live), str(base)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            assert writer.stdout is not None
            last = -1
            for line in writer.stdout:  # wait until it is logging, then a random while
                last = int(line)
                if last >= base + 200:
                    break
            stop = time.monotonic() + rng.uniform(0.0, 0.3)
            while time.monotonic() < stop:
                last = int(writer.stdout.readline() or last)
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
            last = max([last, *map(int, writer.stdout.read().split())])
            assert writer.stderr is not None
            writer.stderr.close()
            writer.stdout.close()
            assert -signal.SIGKILL == writer.returncode
            logged.append((base, last))
        stats = run_child(
            """
            import json, sys
            import tapelog

            tapelog.configure(sinks=[{"type": "file", "path": sys.argv[1],
                                      "rotation": {"size": "8 KiB"}, "compression": "gzip"}])
            for i in range(100):
                tapelog.get_logger("app").info("entry", i=9_000_000 + i)
            tapelog.shutdown(30)
            print(json.dumps(tapelog.stats().as_dict()))
            """,
            str(live),
        )
        # The last writer's close() gives compression 5 s; on a loaded machine the files a
        # killed writer left may still wait then. The documented promise is that the next
        # pass of any process that writes the file finishes them: run that pass here.
        finisher = FileSink(live, JsonFormat(), rotation={"size": "8 KiB"}, compression="gzip")
        finisher.housekeep()
        finisher.close()
        lines, files = family_lines(live)
        torn = [line for line in lines if not line.rstrip(b"\n").endswith(b"}")]
        entries = [json.loads(line) for line in lines if line.rstrip(b"\n").endswith(b"}")]
        found = Counter(e["i"] for e in entries if e.get("logger") == "app")

        assert len(files) > 2 * KILLS  # the kills did happen across rotations
        assert len(torn) <= KILLS, torn
        assert all(line.endswith(b"\n") for line in lines)  # a torn line was ended, not joined
        assert [] == [i for i, n in found.items() if n > 1]  # nothing written twice
        for base, last in logged:
            window = QUEUE + BATCH
            missing = [i for i in range(base, last - window + 1) if i not in found]
            assert [] == missing, (base, last, missing[:1], missing[-1:], len(missing))
            assert all(i < last + 50 for i in found if base <= i < base + 1_000_000)
        assert list(range(9_000_000, 9_000_100)) == sorted(i for i in found if i >= 9_000_000)
        statuses = list_archives(tmp_path)
        assert [] == [s.name for s in statuses if s.integrity in {"mismatch", "missing"}]
        check_invariants(stats)
