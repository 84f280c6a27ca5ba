"""Retention: each limit removes exactly what it says, oldest first, and logs it."""

from __future__ import annotations

import fcntl
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tapelog.formats import JsonFormat
from tapelog.retention import FinishedFile, ManualClock, RetentionPolicy, plan_retention
from tapelog.retention._housekeeping import Housekeeper
from tapelog.retention._manifest import read_manifest
from tapelog.retention._names import NamePattern
from tapelog.retention._reader import compression_of, iter_lines
from tapelog.sinks import FileSink


DAY = 86400.0
START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC).timestamp()
NAMES = NamePattern(Path("logs/app.jsonl"))


def finished(day: int, *, tier: str = "log", size: int = 100, device: int = 1) -> FinishedFile:
    """A file whose entries span the given day (0 = START)."""
    first = START + day * DAY
    name = NAMES.make(first, first + 3600) + ".gz"
    parsed = NAMES.parse(name)
    assert parsed is not None
    return FinishedFile(Path(tier) / name, parsed, tier, size, device)  # type: ignore[arg-type]


def days(actions: list[Any]) -> list[tuple[str, int, str]]:
    return [(a.kind, round((a.file.name.start - START) / DAY), a.reason) for a in actions]


class TestPlan:
    def test_nothing_to_do(self) -> None:
        """Within every limit, the plan is empty."""
        files = [finished(d) for d in range(3)]

        assert [] == plan_retention(files, RetentionPolicy(max_files=3), now=START + 3 * DAY)

    def test_max_age_archives_with_an_archive_dir(self) -> None:
        """Files older than max_age move to the archive; younger ones stay."""
        files = [finished(d) for d in range(5)]
        plan = plan_retention(
            files, RetentionPolicy(max_age=2 * DAY), now=START + 5 * DAY, archive_device=1
        )

        assert [
            ("archive", 0, "max_age"),
            ("archive", 1, "max_age"),
            ("archive", 2, "max_age"),
        ] == days(plan)

    def test_max_age_purges_without_an_archive(self) -> None:
        """Without an archive directory or archive age, max_age deletes."""
        files = [finished(d) for d in range(4)]
        plan = plan_retention(files, RetentionPolicy(max_age=2 * DAY), now=START + 4 * DAY)

        assert [("purge", 0, "max_age"), ("purge", 1, "max_age")] == days(plan)

    def test_max_age_archives_in_place_when_an_archive_age_is_set(self) -> None:
        """Without an archive directory but with archive_max_age, old files stay until that age."""
        files = [finished(d) for d in range(10)]
        policy = RetentionPolicy(max_age=2 * DAY, archive_max_age=6 * DAY)
        plan = plan_retention(files, policy, now=START + 10 * DAY)

        assert [("purge", d, "archive_max_age") for d in range(4)] == days(plan)

    def test_archive_max_age_purges_archives_only(self) -> None:
        """Six years in the archive: older archives go, files in the log directory stay."""
        files = [finished(0, tier="archive"), finished(1, tier="archive"), finished(2)]
        policy = RetentionPolicy(archive_max_age=1.5 * DAY)
        plan = plan_retention(files, policy, now=START + 3 * DAY, archive_device=1)

        assert [("purge", 0, "archive_max_age"), ("purge", 1, "archive_max_age")] == days(plan)

    def test_a_file_past_both_ages_is_purged_without_moving(self) -> None:
        """Past max_age and archive_max_age at once: purged where it is, never copied first."""
        files = [finished(0), finished(5)]
        policy = RetentionPolicy(max_age=DAY, archive_max_age=4 * DAY)
        plan = plan_retention(files, policy, now=START + 7 * DAY, archive_device=1)

        assert [("purge", 0, "archive_max_age"), ("archive", 5, "max_age")] == days(plan)

    def test_max_files_purges_the_oldest(self) -> None:
        """Both tiers count; the oldest go first."""
        files = [finished(d, tier="archive" if d < 3 else "log") for d in range(6)]
        plan = plan_retention(files, RetentionPolicy(max_files=4), now=START + 6 * DAY)

        assert [("purge", 0, "max_files"), ("purge", 1, "max_files")] == days(plan)

    def test_max_total_size_purges_the_oldest(self) -> None:
        """Purged until the total fits."""
        files = [finished(d, size=100) for d in range(5)]
        plan = plan_retention(files, RetentionPolicy(max_total_size=250), now=START + 5 * DAY)

        assert [
            ("purge", 0, "max_total_size"),
            ("purge", 1, "max_total_size"),
            ("purge", 2, "max_total_size"),
        ] == days(plan)

    def test_min_free_disk_purges_until_enough_is_free(self) -> None:
        """Free 150 bytes, 400 wanted: the three oldest files (100 each) go."""
        files = [finished(d, size=100) for d in range(5)]
        plan = plan_retention(
            files, RetentionPolicy(min_free_disk=400), now=START + 5 * DAY, log_device=1, free=150
        )

        assert [
            ("purge", 0, "min_free_disk"),
            ("purge", 1, "min_free_disk"),
            ("purge", 2, "min_free_disk"),
        ] == days(plan)

    def test_min_free_disk_only_purges_files_on_that_disk(self) -> None:
        """An archive on another filesystem frees nothing on the log disk: it stays."""
        files = [finished(0, tier="archive", device=2), finished(1), finished(2)]
        plan = plan_retention(
            files, RetentionPolicy(min_free_disk=150), now=START + 3 * DAY, log_device=1, free=0
        )

        assert [("purge", 1, "min_free_disk"), ("purge", 2, "min_free_disk")] == days(plan)

    def test_min_free_disk_counts_other_purges(self) -> None:
        """What max_files already purges counts towards the free space wanted."""
        files = [finished(d, size=100) for d in range(4)]
        policy = RetentionPolicy(max_files=3, min_free_disk=200)
        plan = plan_retention(files, policy, now=START + 4 * DAY, log_device=1, free=100)

        assert [("purge", 0, "max_files")] == days(plan)

    def test_min_age_is_a_floor(self) -> None:
        """Nothing younger than min_age is purged, whatever the other limits say."""
        files = [finished(d, size=100) for d in range(5)]
        policy = RetentionPolicy(max_files=1, min_free_disk=10_000, min_age=2.5 * DAY)
        plan = plan_retention(files, policy, now=START + 5 * DAY, log_device=1, free=0)

        assert [
            ("purge", 0, "max_files"),
            ("purge", 1, "max_files"),
            ("purge", 2, "max_files"),
        ] == days(plan)

    def test_min_age_also_holds_for_max_age(self) -> None:
        """A floor above max_age keeps files max_age would purge."""
        files = [finished(d) for d in range(3)]
        plan = plan_retention(
            files, RetentionPolicy(max_age=DAY, min_age=2.5 * DAY), now=START + 3 * DAY
        )

        assert [("purge", 0, "max_age")] == days(plan)


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock(START)


def write_day(sink: FileSink, clock: ManualClock, day: int, count: int = 3) -> None:
    """Log ``count`` entries at the start of ``day``, then rotate."""
    clock.set(START + day * DAY)
    entries = [
        {
            "timestamp": datetime.fromtimestamp(clock.time() + k, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "level": "info",
            "logger": "app",
            "message": "m",
            "day": day,
        }
        for k in range(count)
    ]
    sink.write_batch(entries)
    sink.rotate()


def names_in(directory: Path) -> list[int]:
    """The day of each finished file in a directory, oldest first."""
    return sorted(round((parsed.start - START) / DAY) for parsed, _ in NAMES.finished_in(directory))


class TestHousekeeping:
    def test_age_archives_then_purges_and_logs_each_action(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """90 days compresses and archives; the archive age deletes; each action is an event."""
        logs, archive = tmp_path / "logs", tmp_path / "archive"
        sink = FileSink(
            logs / "app.jsonl",
            JsonFormat(),
            rotation={"when": "daily"},
            retention={"max_age": "3d", "archive_max_age": "6d"},
            archive_dir=archive,
            clock=clock,
            background=False,
        )
        for day in range(8):
            write_day(sink, clock, day)
        clock.set(START + 8 * DAY + 7200)
        events = sink.housekeep()
        sink.close()
        archived = [f for _, _, f in events if f["event"] == "retention.archived"]
        purged = [f for _, _, f in events if f["event"] == "retention.purged"]

        assert [6, 7] == names_in(logs)
        assert [3, 4, 5] == names_in(archive)
        assert 3 == len(archived)
        assert {"max_age"} == {f["reason"] for f in archived}
        assert 3 == len(purged)
        assert {"archive_max_age"} == {f["reason"] for f in purged}
        assert all(f["size"] > 0 and f["file"].endswith(".jsonl.gz") for f in purged + archived)
        assert all(Path(f["to"]).parent == archive for f in archived)

    def test_archive_dir_without_max_age_takes_files_at_once(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Finished files go straight to the archive, with their manifest record."""
        logs, archive = tmp_path / "logs", tmp_path / "archive"
        sink = FileSink(
            logs / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            archive_dir=archive,
            clock=clock,
            background=False,
        )
        write_day(sink, clock, 0)
        sink.housekeep()
        sink.close()

        assert [] == names_in(logs)
        assert [0] == names_in(archive)
        assert 1 == len(read_manifest(archive).records)

    @pytest.mark.parametrize(
        ("retention", "free", "kept"),
        [
            ({"max_files": 2}, None, [3, 4]),
            ({"max_total_size": 1}, None, []),
            ({"min_free_disk": "1 MiB"}, 0, []),
            ({"min_free_disk": 100}, 10**9, [0, 1, 2, 3, 4]),
            ({"max_files": 1, "min_age": "2.5d"}, None, [3, 4]),
        ],
    )
    def test_count_size_and_disk_limits(
        self,
        tmp_path: Path,
        clock: ManualClock,
        retention: dict[str, Any],
        free: int | None,
        kept: list[int],
    ) -> None:
        """Each limit leaves exactly the files it should; the live file is never touched."""
        sink = FileSink(
            tmp_path / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            retention=retention,
            clock=clock,
            free_disk=lambda _path: free or 0,
            background=False,
        )
        for day in range(5):
            write_day(sink, clock, day)
        sink.write_batch([{"message": "live"}])
        clock.set(START + 5 * DAY)
        events = sink.housekeep()
        sink.close()
        purged = [f for _, _, f in events if f["event"] == "retention.purged"]

        assert kept == names_in(tmp_path)
        assert 5 - len(kept) == len(purged)
        live = [json.loads(x) for x in (tmp_path / "app.jsonl").read_text().splitlines()]
        assert [{"message": "live"}] == [e for e in live if e.get("logger") != "tapelog"]

    def test_max_files_keeps_the_newest_through_many_rotations_a_second(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Retention after each of 12 rotations in one second keeps the last files written.

        Rotations in one second share a span; before sequences, each took the lowest counter
        retention had freed, sorted as the oldest, and was purged first.
        """
        sink = FileSink(
            tmp_path / "app.jsonl",
            JsonFormat(),
            rotation={"size": 400},
            retention={"max_files": 3},
            clock=clock,
            background=False,
        )
        stamp = datetime.fromtimestamp(clock.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        for i in range(60):
            sink.write_batch([{"timestamp": stamp, "logger": "app", "message": "m", "i": i}])
            sink.periodic()  # what the worker does: hands events on, runs housekeeping
        sink.close()
        kept: list[int] = []
        for path in [tmp_path / "app.jsonl", *(p for _, p in NAMES.finished_in(tmp_path))]:
            with path.open("rb") as raw:
                entries = [json.loads(x) for x in iter_lines(raw, compression_of(path))]
            kept.extend(e["i"] for e in entries if e.get("logger") == "app")

        assert len(NAMES.finished_in(tmp_path)) <= 4  # 3, and one rotated at close
        assert list(range(60 - len(kept), 60)) == sorted(kept)
        assert len(kept) > 3

    def test_a_file_rotated_during_a_pass_waits_for_its_compression(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A file the writer rotates while a pass compresses is neither counted nor purged.

        At 8 KiB uncompressed it alone is over a 4 KiB total; before, the pass purged it
        (and every archive) before it was ever compressed.
        """
        live = tmp_path / "app.jsonl"
        line = json.dumps({"timestamp": "2026-11-23T07:00:00.000000Z", "pad": "x" * 100})
        body = ((line + "\n") * 80).encode()
        (tmp_path / NAMES.make(START, START, sequence=1)).write_bytes(body)

        class WriterRotatesMidPass:
            """The time, read while compressing; meanwhile the writer finishes a file."""

            def __init__(self) -> None:
                self.rotated = False

            def time(self) -> float:
                if not self.rotated:
                    self.rotated = True
                    (tmp_path / NAMES.make(START, START, sequence=2)).write_bytes(body)
                return clock.time()

        keeper = Housekeeper(
            live,
            compression="gzip",
            archive_dir=None,
            retention=RetentionPolicy.of({"max_total_size": "4 KiB"}),
            clock=WriterRotatesMidPass(),
            free_disk=lambda _path: 0,
        )
        first = keeper.run()
        after_first = sorted(p.name for p in tmp_path.iterdir())
        keeper.run()

        assert [] == [f for _, _, f in first if f["event"] == "retention.purged"]
        assert [
            NAMES.make(START, START, sequence=1) + ".gz",
            NAMES.make(START, START, sequence=2),
        ] == [n for n in after_first if n != "manifest.jsonl"]
        assert [  # the next pass compresses it; compressed, both fit in 4 KiB
            NAMES.make(START, START, sequence=1) + ".gz",
            NAMES.make(START, START, sequence=2) + ".gz",
        ] == sorted(p.name for p in tmp_path.iterdir() if p.name != "manifest.jsonl")

    def test_purges_are_recorded_in_the_manifest(self, tmp_path: Path, clock: ManualClock) -> None:
        """A purged archive leaves a removed line with its reason, not a missing file."""
        sink = FileSink(
            tmp_path / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            retention={"max_files": 1},
            clock=clock,
            background=False,
        )
        write_day(sink, clock, 0)
        write_day(sink, clock, 1)
        sink.housekeep()
        sink.close()
        manifest = read_manifest(tmp_path)

        assert 1 == len(manifest.records)
        assert ["max_files"] == [line["reason"] for line in manifest.removed.values()]

    def test_a_file_claimed_by_another_process_is_left_alone(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A file another process holds (compressing it) is neither compressed nor purged here."""
        keeper = Housekeeper(
            tmp_path / "app.jsonl",
            compression="gzip",
            archive_dir=None,
            retention=RetentionPolicy(max_files=0 + 1),
            clock=clock,
            free_disk=lambda _path: 0,
        )
        names = NamePattern(tmp_path / "app.jsonl")
        paths = [tmp_path / names.make(START + d * DAY, START + d * DAY) for d in range(2)]
        for path in paths:
            path.write_text('{"message":"m"}\n')
        fd = os.open(paths[0], os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            events = keeper.run()
        finally:
            os.close(fd)

        assert paths[0].exists()
        assert ["retention.compressed"] == [f["event"] for _, _, f in events]

    def test_a_compression_failure_is_reported_once(
        self, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A file that cannot be finished is reported once, not at every pass, and kept."""
        from tapelog.retention import _housekeeping

        def broken(*args: Any, **kwargs: Any) -> None:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(_housekeeping, "finish_file", broken)
        sink = FileSink(
            tmp_path / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            clock=clock,
            background=False,
        )
        write_day(sink, clock, 0)
        first = sink.housekeep()
        second = sink.housekeep()
        sink.close()

        assert ["retention.failed"] == [f["event"] for _, _, f in first]
        assert [] == second
        assert [0] == names_in(tmp_path)

    def test_background_thread_does_the_work(self, tmp_path: Path, clock: ManualClock) -> None:
        """With the default background thread, rotation is compressed off the writing thread."""
        sink = FileSink(
            tmp_path / "app.jsonl", JsonFormat(), rotation={"size": "1 MiB"}, clock=clock
        )
        write_day(sink, clock, 0)
        assert sink.wait_housekeeping(10)
        events = sink.periodic()
        sink.close()

        assert list(tmp_path.glob("*.jsonl.gz"))
        assert {"retention.rotated", "retention.compressed"} <= {f["event"] for _, _, f in events}

    def test_leftover_plain_files_are_finished_by_any_writer(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A rotated file a crashed process never compressed is compressed by the next pass."""
        names = NamePattern(tmp_path / "app.jsonl")
        leftover = tmp_path / names.make(START, START + 1)
        leftover.write_text('{"timestamp":"2026-11-23T07:00:00.000000Z","message":"m"}\n')
        sink = FileSink(
            tmp_path / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            clock=clock,
            background=False,
        )
        sink.periodic()
        sink.close()
        record = read_manifest(tmp_path).records[leftover.name + ".gz"]

        assert not leftover.exists()
        assert (1, "2026-11-23T07:00:00.000000Z") == (record.entries, record.first)

    def test_stale_temporary_files_are_removed(self, tmp_path: Path, clock: ManualClock) -> None:
        """A temporary archive of a process that died is removed; a fresh one is kept."""
        names = NamePattern(tmp_path / "app.jsonl")
        dead = tmp_path / f".{names.make(START, START)}.gz.999999999.tmp"
        alive = tmp_path / f".{names.make(START, START)}.gz.{os.getpid()}.tmp"
        for path in (dead, alive):
            path.write_bytes(b"partial")
            os.utime(path, (0, 0))
        keeper = Housekeeper(
            tmp_path / "app.jsonl",
            compression="gzip",
            archive_dir=None,
            retention=None,
            clock=clock,
            free_disk=lambda _path: 0,
        )
        keeper.run()

        assert (False, True) == (dead.exists(), alive.exists())

    def test_retention_events_reach_the_log(self, tmp_path: Path) -> None:
        """Through configure(): rotation and retention events are entries from logger tapelog."""
        import tapelog

        path = tmp_path / "app.jsonl"
        events_path = tmp_path / "events.jsonl"
        tapelog.configure(
            sinks=[
                {
                    "type": "file",
                    "path": str(path),
                    "rotation": {"size": "2 KiB"},
                    "retention": {"max_files": 2},
                },
                {"type": "file", "path": str(events_path), "filter": {"loggers": ["tapelog"]}},
            ]
        )
        log = tapelog.get_logger("app")
        for i in range(100):
            log.info("m", i=i)
        assert tapelog.flush(5)
        sink = tapelog._runtime.RUNTIME.dispatcher._pipeline.slots[0].sink  # type: ignore[attr-defined]
        assert sink.wait_housekeeping(10)
        deadline = 50
        events: set[str] = set()
        while deadline and "retention.purged" not in events:
            import time

            time.sleep(0.1)
            tapelog.flush(5)
            lines = events_path.read_text().splitlines() if events_path.exists() else []
            events = {json.loads(line).get("event", "") for line in lines}
            deadline -= 1
        tapelog.configure(sinks=[{"type": "console"}])

        assert {"retention.rotated", "retention.compressed", "retention.purged"} <= events


class TestBackground:
    def test_a_failing_pass_is_reported_and_the_thread_survives(self) -> None:
        """An exception in a pass becomes a retention.failed event; the next kick still runs."""
        from collections import deque

        from tapelog.retention._housekeeping import Background

        calls: list[int] = []

        def job() -> list[Any]:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("boom")
            return [(20, "ok", {"event": "x"})]

        events: deque[Any] = deque()
        worker = Background(job, events, "test-housekeeping")
        worker.kick()
        assert worker.wait(5)
        worker.kick()
        assert worker.wait(5)
        assert worker.stop(5)
        worker.after_fork()

        assert ["retention.failed", "x"] == [fields["event"] for _, _, fields in events]

    def test_uncompressed_files_go_to_the_archive_as_they_are(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """compression none with an archive_dir: moved and recorded, logged as archived."""
        sink = FileSink(
            tmp_path / "logs" / "app.jsonl",
            JsonFormat(),
            rotation={"size": "1 MiB"},
            compression="none",
            archive_dir=tmp_path / "archive",
            clock=clock,
            background=False,
        )
        write_day(sink, clock, 0)
        events = sink.housekeep()
        sink.close()

        assert [0] == names_in(tmp_path / "archive")
        assert [("retention.archived", "archive_dir")] == [
            (f["event"], f["reason"]) for _, _, f in events
        ]
