"""Archives: the manifest, `tapelog archive list` integrity, and byte-for-byte restore."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import need_module

from tapelog.cli import main
from tapelog.formats import JsonFormat
from tapelog.retention import ManualClock
from tapelog.retention._archive import RestoreError, list_archives, restore_archive
from tapelog.retention._compress import finish_file
from tapelog.retention._manifest import MANIFEST_NAME, read_manifest
from tapelog.sinks import FileSink


START = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def make_archives(
    directory: Path, count: int = 3, compression: str = "gzip"
) -> tuple[list[Path], dict[str, bytes]]:
    """Rotate ``count`` files and finish them; return the archives and each one's plain bytes."""
    clock = ManualClock(START)
    sink = FileSink(
        directory / "app.jsonl",
        JsonFormat(),
        rotation={"size": "1 MiB"},
        compression=compression,
        clock=clock,
        background=False,
    )
    contents: dict[str, bytes] = {}
    for n in range(count):
        entries = [
            {
                "timestamp": datetime.fromtimestamp(clock.time() + k, UTC).strftime(
                    "%Y-%m-%dT%H:%M:%S.%fZ"
                ),
                "level": "info",
                "logger": "app",
                "message": "m",
                "n": n,
                "k": k,
            }
            for k in range(5 + n)
        ]
        sink.write_batch(entries)
        finished = sink.rotate()
        assert finished is not None
        contents[finished.name] = finished.read_bytes()
        clock.advance(3600)
    sink.housekeep()
    sink.close()
    archives = sorted(p for p in directory.iterdir() if p.name.endswith((".gz", ".zst")))
    return archives, contents


class TestManifest:
    def test_records_range_count_sizes_and_digests(self, tmp_path: Path) -> None:
        """Each archive's record holds its time range, entry count, sizes and both SHA-256s."""
        import hashlib

        archives, contents = make_archives(tmp_path, 1)
        record = read_manifest(tmp_path).records[archives[0].name]
        plain = contents[record.source]

        assert (
            "2026-11-23T07:00:00.000000Z",
            "2026-11-23T07:00:04.000000Z",
            5,
            archives[0].stat().st_size,
            hashlib.sha256(archives[0].read_bytes()).hexdigest(),
            len(plain),
            hashlib.sha256(plain).hexdigest(),
            "gzip",
        ) == (
            record.first,
            record.last,
            record.entries,
            record.size,
            record.sha256,
            record.content_size,
            record.content_sha256,
            record.compression,
        )

    def test_unknown_keys_survive(self, tmp_path: Path) -> None:
        """A record written by a newer tapelog keeps the keys this one does not know."""
        archives, _ = make_archives(tmp_path, 1)
        manifest = tmp_path / MANIFEST_NAME
        data = json.loads(manifest.read_text())
        manifest.write_text(json.dumps({**data, "future": 1}) + "\n" + "not json\n")
        read = read_manifest(tmp_path)

        assert {"future": 1} == read.records[archives[0].name].extra
        assert 1 == read.unreadable

    def test_finishing_an_already_finished_file_removes_the_leftover(self, tmp_path: Path) -> None:
        """A crash after the archive was renamed into place: the next pass only removes the plain file."""
        source = tmp_path / "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.jsonl"
        source.write_text('{"message":"m"}\n')
        copy = tmp_path / "copy" / source.name
        copy.parent.mkdir()
        copy.write_bytes(source.read_bytes())
        finish_file(copy, tmp_path, "gzip", "now")
        assert not copy.exists()

        assert finish_file(source, tmp_path, "gzip", "now") is None
        assert not source.exists()

    def test_another_archive_with_the_name_is_never_taken_for_this_one(
        self, tmp_path: Path
    ) -> None:
        """Two live files sharing an archive name: the plain file is kept, not deleted."""
        source = tmp_path / "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.jsonl"
        source.write_text('{"message":"mine"}\n')
        (tmp_path / (source.name + ".gz")).write_bytes(gzip.compress(b'{"message":"other"}\n'))

        with pytest.raises(FileExistsError):
            finish_file(source, tmp_path, "gzip", "now")
        assert source.exists()

    def test_uncompressed_finishing_records_and_moves(self, tmp_path: Path) -> None:
        """compression none: the file is recorded, then moved to the archive as it is."""
        source = tmp_path / "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.jsonl"
        source.write_text('{"timestamp":"2026-11-23T07:00:00.000000Z","message":"m"}\n')
        record = finish_file(source, tmp_path / "archive", "none", "now")

        assert record is not None
        assert (source.name, "none", 1) == (record.file, record.compression, record.entries)
        assert (tmp_path / "archive" / source.name).exists()
        assert not source.exists()


class TestList:
    def test_intact_archives_are_ok(self, tmp_path: Path) -> None:
        """Every archive matches its manifest record."""
        archives, _ = make_archives(tmp_path)
        statuses = list_archives(tmp_path)

        assert [a.name for a in archives] == sorted(s.name for s in statuses)
        assert {"ok"} == {s.integrity for s in statuses}
        assert [5, 6, 7] == [s.record.entries for s in statuses if s.record]

    def test_a_tampered_archive_is_detected(self, tmp_path: Path) -> None:
        """One byte changed (same size): the SHA-256 no longer matches."""
        archives, _ = make_archives(tmp_path)
        data = bytearray(archives[1].read_bytes())
        data[-5] ^= 0xFF
        archives[1].write_bytes(bytes(data))
        statuses = {s.name: s for s in list_archives(tmp_path)}

        assert "mismatch" == statuses[archives[1].name].integrity
        assert "sha256" in statuses[archives[1].name].detail
        assert "ok" == statuses[archives[0].name].integrity

    def test_missing_and_unlisted(self, tmp_path: Path) -> None:
        """A recorded archive gone is missing; an archive without a record is unlisted."""
        archives, _ = make_archives(tmp_path)
        archives[0].unlink()
        stray = tmp_path / "other.2026-11-20T00-00-00Z--2026-11-20T01-00-00Z.jsonl.gz"
        stray.write_bytes(gzip.compress(b"{}\n"))
        statuses = {s.name: s for s in list_archives(tmp_path)}

        assert "missing" == statuses[archives[0].name].integrity
        assert ("unlisted", "2026-11-20T00:00:00Z") == (
            statuses[stray.name].integrity,
            statuses[stray.name].first,
        )

    def test_command_shows_table_and_fails_on_tampering(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`tapelog archive list DIR` prints every archive; exit 1 once one is tampered with."""
        archives, _ = make_archives(tmp_path)
        ok_status = main(["archive", "list", str(tmp_path)])
        ok_out = capsys.readouterr().out
        archives[2].write_bytes(archives[2].read_bytes() + b"x")
        bad_status = main(["archive", "list", str(tmp_path)])
        bad_out = capsys.readouterr().out

        assert (0, 1) == (ok_status, bad_status)
        assert all(a.name in ok_out for a in archives)
        assert "3 archive(s)" in ok_out
        assert "0 failed" in ok_out
        assert "MISMATCH" in bad_out
        assert "1 failed" in bad_out

    def test_command_json(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--json gives one object per archive."""
        make_archives(tmp_path, 2)
        main(["archive", "list", "--json", str(tmp_path)])
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]

        assert [("ok", 5), ("ok", 6)] == [(r["integrity"], r["entries"]) for r in rows]

    def test_command_on_a_missing_directory(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A directory that is not there is a usage error."""

        assert 2 == main(["archive", "list", str(tmp_path / "nope")])
        assert "not a directory" in capsys.readouterr().err


class TestRestore:
    @pytest.mark.parametrize("compression", ["gzip", "zstd"])
    def test_reproduces_the_content_byte_for_byte(self, tmp_path: Path, compression: str) -> None:
        """The restored file is exactly the file that was rotated."""
        if compression == "zstd":
            need_module("zstandard")
        archives, contents = make_archives(tmp_path / "logs", 2, compression)
        restored = [restore_archive(a, tmp_path / "restored") for a in archives]

        assert all(r.record is not None for r in restored)
        assert contents == {r.path.name: r.path.read_bytes() for r in restored}

    def test_refuses_to_overwrite(self, tmp_path: Path) -> None:
        """An existing file at the target is never replaced."""
        archives, _ = make_archives(tmp_path / "logs", 1)
        first = restore_archive(archives[0], tmp_path / "out")
        first.path.write_text("mine")

        with pytest.raises(RestoreError, match="exists already"):
            restore_archive(archives[0], tmp_path / "out")
        assert "mine" == first.path.read_text()

    def test_refuses_a_tampered_archive(self, tmp_path: Path) -> None:
        """An archive that does not match its record is not restored, and leaves nothing."""
        archives, _ = make_archives(tmp_path / "logs", 1)
        raw = gzip.decompress(archives[0].read_bytes()).replace(b'"n":0', b'"n":9')
        archives[0].write_bytes(gzip.compress(raw))

        with pytest.raises(RestoreError, match="SHA-256"):
            restore_archive(archives[0], tmp_path / "out")
        assert [] == list((tmp_path / "out").iterdir())

    def test_an_unlisted_archive_restores_unverified(self, tmp_path: Path) -> None:
        """Without a record, the archive is restored under its name without the suffix."""
        archive = tmp_path / "x.2026-11-20T00-00-00Z--2026-11-20T01-00-00Z.jsonl.gz"
        archive.write_bytes(gzip.compress(b'{"a":1}\n'))
        restored = restore_archive(archive, tmp_path / "out")

        assert (None, b'{"a":1}\n', archive.name.removesuffix(".gz")) == (
            restored.record,
            restored.path.read_bytes(),
            restored.path.name,
        )

    def test_command(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """`tapelog archive restore A... --to DIR`: verified, then refuses a second time."""
        archives, contents = make_archives(tmp_path / "logs", 2)
        args = ["archive", "restore", *map(str, archives), "--to", str(tmp_path / "out")]
        first = main(args)
        out = capsys.readouterr().out
        second = main(args)
        err = capsys.readouterr().err

        assert (0, 1) == (first, second)
        assert 2 == out.count("verified")
        assert 2 == err.count("exists already")
        assert contents == {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}

    def test_command_on_a_corrupt_archive(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A truncated archive is an error naming it, not a traceback."""
        archive = tmp_path / "x.2026-11-20T00-00-00Z--2026-11-20T01-00-00Z.jsonl.gz"
        archive.write_bytes(gzip.compress(b'{"a":1}\n' * 1000)[:40])

        assert 1 == main(["archive", "restore", str(archive), "--to", str(tmp_path / "out")])
        assert "unreadable" in capsys.readouterr().err

    def test_restored_files_read_back_as_entries(self, tmp_path: Path) -> None:
        """What comes back is the log as written: one JSON entry per line."""
        archives, _ = make_archives(tmp_path / "logs", 1)
        restored = restore_archive(archives[0], tmp_path / "out")
        entries: list[dict[str, Any]] = [
            json.loads(x) for x in restored.path.read_text().splitlines()
        ]

        assert [0, 1, 2, 3, 4] == [e["k"] for e in entries]


class TestFinishing:
    def test_a_last_line_without_newline_still_counts(self, tmp_path: Path) -> None:
        """A file cut mid-line (a crash) is archived whole, its last line counted."""
        source = tmp_path / "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.jsonl"
        source.write_bytes(
            b'{"timestamp":"2026-11-23T07:00:00.000000Z"}\n{"timestamp":"2026-11-23T07:00:01.0Z"}'
        )
        record = finish_file(source, tmp_path, "gzip", "now")

        assert record is not None
        assert (2, "2026-11-23T07:00:01.000000Z") == (record.entries, record.last)

    def test_a_file_still_growing_is_left_for_later(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If someone appends while it is compressed, nothing is removed and nothing recorded."""
        from tapelog.retention import _compress

        source = tmp_path / "app.2026-11-23T07-00-00Z--2026-11-23T07-00-00Z.jsonl"
        source.write_text('{"message":"m"}\n')
        real_stream = _compress._stream

        def stream_then_append(fd: int, write: Any) -> Any:
            result = real_stream(fd, write)
            with source.open("a") as file:
                file.write('{"message":"late"}\n')
            return result

        monkeypatch.setattr(_compress, "_stream", stream_then_append)

        assert finish_file(source, tmp_path, "gzip", "now") is None
        assert 2 == len(source.read_text().splitlines())
        assert [] == list(tmp_path.glob("*.gz"))
        assert not (tmp_path / MANIFEST_NAME).exists()

    def test_moving_across_filesystems_copies_then_removes(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When rename says EXDEV, the file is copied under a temporary name, renamed, then removed."""
        import errno

        from tapelog.retention._compress import move_file

        source = tmp_path / "a" / "x.gz"
        source.parent.mkdir()
        source.write_bytes(b"data")
        target = tmp_path / "b" / "x.gz"
        real_rename = Path.rename

        def cross_device(self: Path, to: Path) -> Path:
            if self == source:
                raise OSError(errno.EXDEV, "Invalid cross-device link")
            return real_rename(self, to)

        monkeypatch.setattr(Path, "rename", cross_device)
        move_file(source, target)

        assert (False, b"data") == (source.exists(), target.read_bytes())
        with pytest.raises(FileExistsError):
            move_file(target, target)
