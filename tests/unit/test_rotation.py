"""Rotation: policies, names, and the live file rotated by size and time, never losing a line."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import need_module

import tapelog
from tapelog.exceptions import ConfigError, SinkError
from tapelog.formats import ConsoleFormat, JsonFormat
from tapelog.retention import ManualClock, RotationPolicy
from tapelog.retention._names import NamePattern, format_stamp, span_of
from tapelog.retention._reader import compression_of, iter_lines
from tapelog.retention._rotate import split_entries
from tapelog.sinks import FileSink
from tapelog.sinks import _file as file_module
from tapelog.testing import check_sink


START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry(clock: ManualClock, i: int, **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": stamp(clock.time()),
        "level": "info",
        "logger": "app",
        "message": "m",
        "i": i,
        **fields,
    }


def read_all(directory: Path) -> list[dict[str, Any]]:
    """Every entry in every file of a directory tree: plain, gzip or zstd."""
    found: list[dict[str, Any]] = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.endswith(".lock") or path.name == "manifest.jsonl":
            continue
        with path.open("rb") as raw:
            found.extend(json.loads(line) for line in iter_lines(raw, compression_of(path)))
    # Events still pending when a sink closes are written to its file: not the test's entries.
    return [e for e in found if e.get("logger") != "tapelog"]


def numbers_in(path: Path) -> list[int]:
    """The i of each entry of one plain file (its own events left out)."""
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    return [e["i"] for e in entries if e.get("logger") != "tapelog"]


@pytest.fixture(name="clock")
def _clock() -> ManualClock:
    return ManualClock(START)


def make_sink(path: Path, clock: ManualClock, **options: Any) -> FileSink:
    options.setdefault("background", False)
    return FileSink(path, JsonFormat(), clock=clock, **options)


class TestRotationPolicy:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ({"size": "1 KiB"}, RotationPolicy(size=1024)),
            ({"when": "hourly"}, RotationPolicy(when="hourly")),
            ({"when": "daily@02:30"}, RotationPolicy(when="daily", at=time(2, 30))),
            ({"when": "weekly@fri"}, RotationPolicy(when="weekly", at=time(0, 0), weekday=4)),
            (
                {"when": "6h", "size": 10},
                RotationPolicy(size=10, when="interval", interval=21600.0),
            ),
            (4096, RotationPolicy(size=4096)),
            (timedelta(minutes=5), RotationPolicy(when="interval", interval=300.0)),
            (RotationPolicy(size=1), RotationPolicy(size=1)),
        ],
    )
    def test_every_form_normalises_once(self, value: Any, expected: RotationPolicy) -> None:
        """A table, bytes, a timedelta or a policy all become one RotationPolicy."""

        assert expected == RotationPolicy.of(value)

    @pytest.mark.parametrize("value", ["100 MiB", 1.5, None, True])
    def test_other_forms_are_refused(self, value: Any) -> None:
        """Ambiguous or unknown forms are refused with the forms that work."""

        with pytest.raises(ValueError, match="rotation: expected a table"):
            RotationPolicy.of(value)

    def test_bad_table_names_the_key(self) -> None:
        """A table goes through the configuration's validation and its messages."""
        with pytest.raises(ConfigError) as info:
            RotationPolicy.of({"size": "huge"})

        assert "rotation.size" == info.value.path

    @pytest.mark.parametrize(
        ("policy", "after", "expected"),
        [
            (RotationPolicy(when="hourly"), "07:20:00", "2026-11-23T08:00:00"),
            (RotationPolicy(when="hourly"), "07:00:00", "2026-11-23T08:00:00"),
            (RotationPolicy(when="daily", at=time(2, 30)), "01:00:00", "2026-11-23T02:30:00"),
            (RotationPolicy(when="daily", at=time(2, 30)), "02:30:00", "2026-11-24T02:30:00"),
            (RotationPolicy(when="daily"), "23:59:59", "2026-11-24T00:00:00"),
            # 2026-11-23 is a Monday.
            (
                RotationPolicy(when="weekly", weekday=4, at=time(6)),
                "07:00:00",
                "2026-11-27T06:00:00",
            ),
            (
                RotationPolicy(when="weekly", weekday=0, at=time(6)),
                "07:00:00",
                "2026-11-30T06:00:00",
            ),
            (
                RotationPolicy(when="weekly", weekday=0, at=time(8)),
                "07:00:00",
                "2026-11-23T08:00:00",
            ),
            (RotationPolicy(when="interval", interval=6 * 3600), "07:00:00", "2026-11-23T12:00:00"),
            (RotationPolicy(when="interval", interval=90), "07:00:00", "2026-11-23T07:01:30"),
        ],
    )
    def test_next_boundary(self, policy: RotationPolicy, after: str, expected: str) -> None:
        """Schedules are UTC; intervals are aligned to the epoch, so every process agrees."""
        moment = datetime.fromisoformat(f"2026-11-23T{after}+00:00").timestamp()

        assert datetime.fromisoformat(expected + "+00:00").timestamp() == policy.next_boundary(
            moment
        )

    def test_size_only_has_no_boundary(self) -> None:
        """A size-only policy never rotates on time."""

        assert RotationPolicy(size=10).next_boundary(0.0) is None

    def test_needs_size_or_when(self) -> None:
        """A policy that can never rotate is refused."""

        with pytest.raises(ValueError, match="a size, a when, or both"):
            RotationPolicy()


class TestNames:
    def test_round_trip(self) -> None:
        """A finished name carries the span of its entries, and parses back."""
        names = NamePattern(Path("logs/app.jsonl"))
        first = START.timestamp()
        name = names.make(first, first + 3600, counter=3)
        parsed = names.parse(name + ".gz")

        assert "app.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.3.jsonl" == name
        assert parsed is not None
        assert (first, first + 3600, 3, "gzip", name) == (
            parsed.start,
            parsed.end,
            parsed.counter,
            parsed.compression,
            parsed.plain_name,
        )

    @pytest.mark.parametrize(
        "name",
        [
            "app.jsonl",
            "app.jsonl.lock",
            "other.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.jsonl",
            "app.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.log",
            "app.2026-11-23T07-00-00Z--2026-11-23T08-00-00Z.jsonl.bz2",
        ],
    )
    def test_other_files_are_not_ours(self, name: str) -> None:
        """Only names of this live file's shape are ever touched."""

        assert NamePattern(Path("app.jsonl")).parse(name) is None

    def test_unused_counts_past_existing_files(self, tmp_path: Path) -> None:
        """Two rotations in one second get a counter, even when the first is compressed."""
        names = NamePattern(tmp_path / "app.jsonl")
        first = START.timestamp()
        (tmp_path / (names.make(first, first) + ".gz")).touch()

        assert names.make(first, first, 2) == names.unused(first, first, [tmp_path])

    def test_rotation_names_carry_a_sequence_that_sorts_them(self) -> None:
        """A sequence orders files of one span; legacy names sort before every sequence."""
        names = NamePattern(Path("logs/app.jsonl"))
        first = START.timestamp()
        legacy = [names.make(first + 60, first + 60), names.make(first + 60, first + 60, 2)]
        current = [names.make(first, first, sequence=n) for n in (10, 9, 1_000_000)]
        parsed = [names.parse(name + ".gz") for name in [*current, *legacy]]

        assert "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.000010.jsonl" == current[0]
        assert all(p is not None for p in parsed)
        assert [*legacy, current[1], current[0], current[2]] == [
            p.plain_name for p in sorted(p for p in parsed if p is not None)
        ]
        assert names.parse("app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.02.jsonl") is None

    def test_a_rotated_name_is_never_reused(self, tmp_path: Path, clock: ManualClock) -> None:
        """Rotations in one second get new numbers even after the earlier files are gone."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 10_000})
        made: list[str] = []
        for i in range(4):
            sink.write_batch([entry(clock, i)])
            finished = sink.rotate()
            assert finished is not None
            made.append(finished.name)
            finished.unlink()  # retention purged it
        sink.close()

        assert [
            f"app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.{n:06d}.jsonl" for n in (1, 2, 3, 4)
        ] == made

    def test_a_lost_lock_file_continues_from_the_highest_sequence_on_disk(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """The sequence lives in the lock file; without it, the files on disk say where it was."""
        sink = make_sink(
            tmp_path / "app.jsonl", clock, rotation={"size": 10_000}, compression="none"
        )
        for i in range(3):
            sink.write_batch([entry(clock, i)])
            sink.rotate()
        sink.close()
        (tmp_path / "app.jsonl.lock").unlink()
        again = make_sink(
            tmp_path / "app.jsonl", clock, rotation={"size": 10_000}, compression="none"
        )
        again.write_batch([entry(clock, 3)])
        finished = again.rotate()
        again.close()

        assert finished is not None
        assert finished.name.endswith(".000004.jsonl")

    def test_span_of_a_name_with_a_sequence(self) -> None:
        """Archive listing and query read the spans of names with a rotation number."""
        first = format_stamp(START.timestamp())

        assert (START.timestamp(), START.timestamp()) == span_of(
            f"app.{first}--{first}.000042.jsonl.gz"
        )

    def test_span_of_any_name(self) -> None:
        """Archive listing finds spans without knowing the live file."""

        assert (START.timestamp(), START.timestamp() + 1) == span_of(
            f"x.y.{format_stamp(START.timestamp())}--{format_stamp(START.timestamp() + 1)}.2.log.zst"
        )


class TestSplitEntries:
    def test_console_continuations_stay_with_their_entry(self) -> None:
        """A console traceback's lines are not an entry of their own."""
        cont = ConsoleFormat.CONTINUATION
        data = f"a\n{cont}trace 1\n{cont}trace 2\nb\n".encode()

        assert [f"a\n{cont}trace 1\n{cont}trace 2\n".encode(), b"b\n"] == split_entries(data)


class TestSizeRotation:
    def test_every_entry_exactly_once_through_many_rotations(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Through 40+ rotations, every entry is in the live file or an archive, once."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 600})
        total = 0
        for batch in range(60):
            size = 1 + batch % 7
            sink.write_batch([entry(clock, total + k) for k in range(size)])
            total += size
            clock.advance(0.5)
        sink.housekeep()
        sink.close()
        archives = [p for p in tmp_path.iterdir() if p.name.endswith(".gz")]
        values = [e["i"] for e in read_all(tmp_path)]

        assert len(archives) >= 30
        assert list(range(total)) == sorted(values)
        assert len(values) == len(set(values))

    def test_a_batch_is_split_between_entries_never_inside_one(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A batch larger than the limit fills several files, each within the limit."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 1000}, compression="none")
        sink.write_batch([entry(clock, i) for i in range(100)])
        sink.close()
        files = [
            p for p in tmp_path.iterdir() if p.suffix == ".jsonl" and p.name != "manifest.jsonl"
        ]

        assert all(p.stat().st_size <= 1000 for p in files)
        assert all(p.read_bytes().endswith(b"\n") for p in files)
        assert list(range(100)) == sorted(e["i"] for e in read_all(tmp_path))

    def test_an_entry_larger_than_the_limit_gets_a_file_of_its_own(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """An oversized entry is written whole, alone, rather than split or dropped."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 200}, compression="none")
        sink.write_batch([entry(clock, 0), entry(clock, 1, blob="x" * 500), entry(clock, 2)])
        sink.close()
        by_file = sorted(
            found
            for p in tmp_path.iterdir()
            if p.suffix == ".jsonl" and p.name != "manifest.jsonl"
            if (found := numbers_in(p))
        )

        assert [[0], [1], [2]] == by_file

    def test_names_carry_first_and_last_entry_times(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """The finished file is named after the first and last entry it holds."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 10_000})
        sink.write_batch([entry(clock, 0)])
        clock.advance(125)
        sink.write_batch([entry(clock, 1)])
        finished = sink.rotate()
        sink.close()

        assert finished is not None
        assert "app.2026-11-23T07-00-00Z--2026-11-23T07-02-05Z.000001.jsonl" == finished.name

    def test_rotation_is_logged(self, tmp_path: Path, clock: ManualClock) -> None:
        """Each rotation and compression is handed on as a retention.* event."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 300})
        sink.write_batch([entry(clock, i) for i in range(4)])
        events = sink.periodic()
        sink.close()
        names = [fields["event"] for _, _, fields in events]

        assert {"retention.rotated", "retention.compressed"} == set(names)
        assert all(
            fields["reason"] == "size"
            for _, _, fields in events
            if fields["event"] == "retention.rotated"
        )


class TestTimeRotation:
    def test_a_write_after_the_boundary_starts_a_new_file(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """Hourly: entries before and after the hour land in different files."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"when": "hourly"})
        sink.write_batch([entry(clock, 0)])
        clock.advance(3599)
        sink.write_batch([entry(clock, 1)])
        clock.advance(2)
        sink.write_batch([entry(clock, 2)])
        events = sink.periodic()
        sink.close()
        archive = next(tmp_path.glob("*.gz"))

        assert ["retention.rotated"] == [
            f["event"] for _, _, f in events if f.get("reason") == "time"
        ]
        assert [0, 1] == [
            json.loads(line)["i"]
            for line in gzip.decompress(archive.read_bytes()).splitlines()
            if b'"logger":"tapelog"' not in line
        ]
        assert [2] == numbers_in(tmp_path / "app.jsonl")
        assert archive.name.startswith(
            "app.2026-11-23T07-00-00Z--2026-11-23T07-59-59Z.000001.jsonl"
        )

    def test_idle_sink_rotates_at_the_boundary(self, tmp_path: Path, clock: ManualClock) -> None:
        """Daily at 02:30: the file is finished by periodic() even when nothing is logged."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"when": "daily@02:30"})
        sink.write_batch([entry(clock, 0)])
        clock.set(datetime(2026, 11, 24, 2, 29, tzinfo=UTC))
        before = sink.periodic()
        clock.set(datetime(2026, 11, 24, 2, 30, tzinfo=UTC))
        after = sink.periodic()
        sink.close()

        assert [] == [f for _, _, f in before if f["event"] == "retention.rotated"]
        assert ["time"] == [f["reason"] for _, _, f in after if f["event"] == "retention.rotated"]
        assert 0 == (tmp_path / "app.jsonl").stat().st_size

    def test_an_empty_file_is_not_rotated_but_its_period_restarts(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """No empty archives: an idle period passes, and the next one counts from now."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"when": "hourly"})
        sink.write_batch([entry(clock, 0)])
        sink.rotate()
        clock.advance(7200)
        sink.periodic()
        clock.advance(10)
        sink.write_batch([entry(clock, 1)])
        clock.advance(10)
        sink.write_batch([entry(clock, 2)])
        sink.close()

        assert [1, 2] == numbers_in(tmp_path / "app.jsonl")

    def test_a_restarted_process_rotates_a_file_from_an_earlier_period(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """The period is kept in the lock file, so a new sink knows when the file started."""
        first = make_sink(tmp_path / "app.jsonl", clock, rotation={"when": "daily"})
        first.write_batch([entry(clock, 0)])
        first.close()
        clock.advance(86400)
        second = make_sink(tmp_path / "app.jsonl", clock, rotation={"when": "daily"})
        second.write_batch([entry(clock, 1)])
        second.close()

        assert [1] == numbers_in(tmp_path / "app.jsonl")

    def test_a_file_without_state_is_dated_by_its_first_entry(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A live file left by something else starts its period at its first entry."""
        live = tmp_path / "app.jsonl"
        live.write_text(json.dumps(entry(clock, 0)) + "\n")
        clock.advance(86400)
        sink = make_sink(live, clock, rotation={"when": "daily"})
        sink.write_batch([entry(clock, 1)])
        sink.close()

        assert [1] == numbers_in(live)


class TestSharing:
    def test_a_sink_follows_a_rotation_made_by_another(
        self, tmp_path: Path, clock: ManualClock
    ) -> None:
        """A second writer (another process, here another sink) rotated: nothing goes to the old file."""
        one = make_sink(
            tmp_path / "app.jsonl", clock, rotation={"size": 10_000}, compression="none"
        )
        two = make_sink(
            tmp_path / "app.jsonl", clock, rotation={"size": 10_000}, compression="none"
        )
        one.write_batch([entry(clock, 0)])
        two.write_batch([entry(clock, 1)])
        finished = two.rotate()
        one.write_batch([entry(clock, 2)])
        one.close()
        two.close()

        assert finished is not None
        assert [0, 1] == numbers_in(finished)
        assert [2] == numbers_in(tmp_path / "app.jsonl")

    def test_a_plain_sink_reopens_a_file_moved_away(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without rotation, a file moved by logrotate is recreated at the path (at the next check)."""
        monkeypatch.setattr(file_module, "_RECHECK", 0.0)
        live = tmp_path / "app.jsonl"
        sink = FileSink(live, JsonFormat())
        sink.write_batch([{"message": "a"}])
        live.rename(tmp_path / "app.jsonl.1")
        sink.write_batch([{"message": "b"}])
        sink.close()

        assert ['{"message":"a"}'] == (tmp_path / "app.jsonl.1").read_text().splitlines()
        assert ['{"message":"b"}'] == live.read_text().splitlines()

    def test_between_checks_entries_follow_the_moved_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Until the next check, entries go on into the moved file: none is lost."""
        monkeypatch.setattr(file_module, "_RECHECK", 3600.0)
        live = tmp_path / "app.jsonl"
        sink = FileSink(live, JsonFormat())
        sink.write_batch([{"message": "a"}])
        live.rename(tmp_path / "app.jsonl.1")
        sink.write_batch([{"message": "b"}])
        sink.close()

        assert ['{"message":"a"}', '{"message":"b"}'] == (
            tmp_path / "app.jsonl.1"
        ).read_text().splitlines()

    def test_after_fork_reopens_the_lock_file(self, tmp_path: Path, clock: ManualClock) -> None:
        """A forked child gets a lock file description of its own and keeps writing."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 10_000})
        sink.write_batch([entry(clock, 0)])
        sink.after_fork()
        sink.write_batch([entry(clock, 1)])
        sink.close()

        assert [0, 1] == [e["i"] for e in read_all(tmp_path)]


class TestFailures:
    def test_a_failed_rotation_keeps_the_batch(
        self, tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the rename is refused, the batch still goes to the open file, and it is reported."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 100})
        sink.write_batch([entry(clock, 0)])

        def refuse(self: Path, target: Path) -> None:
            raise PermissionError(13, "Permission denied", str(self))

        monkeypatch.setattr(Path, "rename", refuse)
        sink.write_batch([entry(clock, 1), entry(clock, 2)])
        monkeypatch.undo()
        events = sink.periodic()
        sink.close()

        assert [0, 1, 2] == [e["i"] for e in read_all(tmp_path)]
        assert ["rotate"] == [f["action"] for _, _, f in events if f["event"] == "retention.failed"]

    @pytest.mark.parametrize("rotation", [None, {"size": 1_000_000}], ids=["plain", "rotating"])
    def test_short_writes_are_completed(
        self,
        tmp_path: Path,
        clock: ManualClock,
        monkeypatch: pytest.MonkeyPatch,
        rotation: dict[str, int] | None,
    ) -> None:
        """A kernel that takes only part of a write (a signal, a nearly full disk) gets the
        rest in further writes: every line arrives whole, in order, rotating or not."""
        real_write = file_module.os.write
        calls: list[int] = []

        def seven_bytes_at_a_time(fd: int, data: Any) -> int:
            calls.append(len(data))
            return real_write(fd, bytes(data[:7]))

        sink = make_sink(tmp_path / "app.jsonl", clock, name="plain", rotation=rotation)
        monkeypatch.setattr(file_module.os, "write", seven_bytes_at_a_time)
        sink.write_batch([entry(clock, i) for i in range(3)])
        monkeypatch.undo()
        sink.close()

        assert [0, 1, 2] == numbers_in(tmp_path / "app.jsonl")
        assert len(calls) > 10

    def test_rotate_without_rotation_is_an_error(self, tmp_path: Path) -> None:
        """rotate() names the sink that cannot rotate."""
        sink = FileSink(tmp_path / "app.jsonl", JsonFormat(), name="plain")

        with pytest.raises(SinkError, match="'plain' has no rotation"):
            sink.rotate()

    def test_unwritable_directory_is_a_sink_error(self, tmp_path: Path, clock: ManualClock) -> None:
        """A batch that cannot be written at all raises SinkError naming the file."""
        blocker = tmp_path / "not-a-dir"
        blocker.write_text("")
        sink = make_sink(blocker / "app.jsonl", clock, rotation={"size": 100})

        with pytest.raises((SinkError, OSError)):
            sink.write_batch([entry(clock, 0)])


class TestConfiguration:
    def test_configured_rotation_compresses_in_the_background(self, tmp_path: Path) -> None:
        """Through configure(): the sink rotates, gzips in the background, logs what it did."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(
            sinks=[{"type": "file", "path": str(path), "rotation": {"size": "4 KiB"}}]
        )
        log = tapelog.get_logger("app")
        for i in range(300):
            log.info("m", i=i)
        assert tapelog.flush(5)
        sink = next(s.sink for s in tapelog._runtime.RUNTIME.dispatcher._pipeline.slots)  # type: ignore[attr-defined]
        assert isinstance(sink, FileSink)
        assert sink.wait_housekeeping(10)
        tapelog.configure(sinks=[{"type": "console"}])
        entries = read_all(tmp_path)

        assert list(range(300)) == sorted(e["i"] for e in entries if e["logger"] == "app")
        assert list(tmp_path.glob("*.jsonl.gz"))

    def test_zstd_compresses(self, tmp_path: Path, clock: ManualClock) -> None:
        """compression = "zstd" writes .zst archives that read back."""
        need_module("zstandard")
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 300}, compression="zstd")
        sink.write_batch([entry(clock, i) for i in range(10)])
        sink.housekeep()
        sink.close()

        assert list(tmp_path.glob("*.jsonl.zst"))
        assert list(range(10)) == sorted(e["i"] for e in read_all(tmp_path))

    def test_zstd_without_the_package_says_how_to_install_it(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The error names the extra to install."""
        import importlib.util

        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

        with pytest.raises(ConfigError, match=r'pip install "tapelog\[zstd\]"'):
            tapelog.configure(
                sinks=[{"type": "file", "path": str(tmp_path / "a"), "compression": "zstd"}]
            )

    def test_passes_the_sink_conformance_kit(self, tmp_path: Path) -> None:
        """A rotating FileSink keeps the sink contract."""
        path = tmp_path / "kit.jsonl"
        check_sink(
            FileSink(path, JsonFormat(), rotation={"size": 1 << 20}),
            lambda: [json.loads(line) for line in path.read_text().splitlines()],
        )

    def test_mode_applies_to_created_files(self, tmp_path: Path, clock: ManualClock) -> None:
        """The live file and the lock file get the mode asked for, whatever the umask."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 100}, mode=0o600)
        sink.write_batch([entry(clock, 0)])
        sink.close()

        assert 0o600 == (tmp_path / "app.jsonl").stat().st_mode & 0o777
        assert (tmp_path / "app.jsonl.lock").exists()


class TestClock:
    def test_manual_clock_moves_only_when_told(self) -> None:
        """advance and set move it; now() is an aware UTC datetime."""
        clock = ManualClock(START)
        clock.advance(90)
        moved = clock.now()
        clock.set(0.0)

        assert (START + timedelta(seconds=90), 0.0) == (moved, clock.time())
        assert "ManualClock('1970-01-01T00:00:00+00:00')" == repr(clock)

    def test_naive_datetimes_are_refused(self) -> None:
        """A datetime without a timezone is ambiguous."""

        with pytest.raises(ValueError, match="aware datetime"):
            ManualClock(datetime(2026, 1, 1))

    def test_system_clock_and_free_disk(self, tmp_path: Path) -> None:
        """The defaults read the real time and the real disk."""
        import time as real_time

        from tapelog.retention._clock import SYSTEM_CLOCK, free_disk

        assert abs(SYSTEM_CLOCK.time() - real_time.time()) < 5
        assert free_disk(tmp_path) > 0


class TestSinkOptions:
    def test_bad_compression(self, tmp_path: Path) -> None:
        """A compression that does not exist is a ConfigError naming it."""

        with pytest.raises(ConfigError, match="compression"):
            FileSink(tmp_path / "a", JsonFormat(), compression="bz2")

    def test_retention_forms(self) -> None:
        """A retention table is validated like the configuration; other values are refused."""
        from tapelog.retention import RetentionPolicy

        assert RetentionPolicy(max_files=3, max_age=86400.0) == RetentionPolicy.of(
            {"max_files": 3, "max_age": "1d"}
        )
        with pytest.raises(ValueError, match="retention: expected a table"):
            RetentionPolicy.of(3)

    @pytest.mark.parametrize(
        ("options", "message"),
        [
            ({"size": 0}, "at least 1 byte"),
            ({"when": "interval"}, "greater than zero"),
        ],
    )
    def test_bad_policies(self, options: dict[str, Any], message: str) -> None:
        """A policy built by hand is checked too."""

        with pytest.raises(ValueError, match=message):
            RotationPolicy(**options)

    def test_housekeeping_needs_rotation_or_retention(self, tmp_path: Path) -> None:
        """A plain sink has nothing to keep house for; waiting on it returns at once."""
        sink = FileSink(tmp_path / "a.jsonl", JsonFormat())

        assert sink.wait_housekeeping(0)
        with pytest.raises(SinkError, match="neither rotation nor retention"):
            sink.housekeep()

    def test_fsync_and_empty_rotate(self, tmp_path: Path, clock: ManualClock) -> None:
        """fsync works with rotation; rotating an empty file does nothing."""
        sink = make_sink(tmp_path / "app.jsonl", clock, rotation={"size": 100})
        sink.write_batch([entry(clock, 0)])
        sink.fsync()
        sink.rotate()

        assert sink.rotate() is None
        sink.close()
