"""`tapelog query`: live, gzip and zstd files merged in time order, with every filter."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import need_module
from tests.unit.test_archive import make_archives

from tapelog.cli import main
from tapelog.cli._query import EntryFilter, _lanes, lookup, parse_when, query_paths
from tapelog.formats import LogfmtFormat, parse_logfmt


if TYPE_CHECKING:
    from pathlib import Path


T0 = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def ts(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_entry(seconds: float, n: int, **fields: Any) -> dict[str, Any]:
    return {
        "timestamp": ts(seconds),
        "level": fields.pop("level", "info"),
        "logger": fields.pop("logger", "app"),
        "message": "m",
        "n": n,
        **fields,
    }


def jsonl(entries: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in entries)


@pytest.fixture(name="logs")
def _logs(tmp_path: Path) -> Path:
    """Four files whose entries interleave in time: plain, gzip, zstd and logfmt."""
    zstandard = need_module("zstandard")
    logs = tmp_path / "logs"
    (logs / "archive").mkdir(parents=True)
    live = [
        make_entry(4 * i, 4 * i, logger="trading.orders", trade={"symbol": "BTC-USD"})
        for i in range(5)
    ]
    gz = [
        make_entry(4 * i + 1, 4 * i + 1, level="warning", **{"server.address": "10.0.0.5"})
        for i in range(5)
    ]
    zst = [
        make_entry(4 * i + 2, 4 * i + 2, level="error", logger="proxy.health", status=200)
        for i in range(5)
    ]
    fmt = [
        make_entry(4 * i + 3, 4 * i + 3, logger="trading", trade={"symbol": "ETH-USD"})
        for i in range(5)
    ]
    (logs / "app.jsonl").write_bytes(jsonl(live))
    (logs / "archive" / "old.2026-11-23T07-00-01Z--2026-11-23T07-00-17Z.jsonl.gz").write_bytes(
        gzip.compress(jsonl(gz))
    )
    (logs / "archive" / "older.2026-11-23T07-00-02Z--2026-11-23T07-00-18Z.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(jsonl(zst))
    )
    logfmt = LogfmtFormat()
    (logs / "other.log").write_bytes(b"".join(logfmt(e) for e in fmt))
    (logs / "manifest.jsonl").write_text('{"file": "not an entry"}\n')
    (logs / "app.jsonl.lock").write_text("{}")
    return logs


def numbers(**options: Any) -> list[int]:
    paths = options.pop("paths")
    return [int(e["n"]) for e in query_paths(paths, **options)]  # type: ignore[call-overload]


class TestQuery:
    def test_everything_in_time_order(self, logs: Path) -> None:
        """Live, gzip, zstd and logfmt files merge into one time-ordered stream, each entry once."""

        assert list(range(20)) == numbers(paths=[logs])

    def test_a_file_named_twice_is_read_once(self, logs: Path) -> None:
        """A directory and its subdirectory, or a file and its directory: no duplicates."""

        assert list(range(20)) == numbers(paths=[logs, logs / "archive", logs / "app.jsonl"])

    def test_since_and_until(self, logs: Path) -> None:
        """since is inclusive, until exclusive."""

        assert [5, 6, 7, 8, 9] == numbers(paths=[logs], since=ts(5), until=ts(10))

    def test_relative_times(self) -> None:
        """1h means an hour before now."""
        now = T0.timestamp()

        assert (ts(-3600), ts(-2 * 86400)) == (parse_when("1h", now), parse_when("2d", now))

    def test_datetime_bounds(self, logs: Path) -> None:
        """datetime objects work as bounds too."""

        assert [18, 19] == numbers(paths=[logs], since=T0 + timedelta(seconds=18))

    def test_level_is_a_minimum(self, logs: Path) -> None:
        """--level warning keeps warning and error."""

        assert [1, 2, 5, 6, 9, 10, 13, 14, 17, 18] == numbers(paths=[logs], level="warning")

    def test_logger_prefix(self, logs: Path) -> None:
        """--logger trading keeps trading and trading.orders, not tradingx."""

        assert [0, 3, 4, 7, 8, 11, 12, 15, 16, 19] == numbers(paths=[logs], loggers=["trading"])

    def test_where_nested_and_flat_dotted_keys(self, logs: Path) -> None:
        """trade.symbol reaches into the object (also from logfmt); server.address is a flat key."""

        assert [3, 7, 11, 15, 19] == numbers(paths=[logs], where=["trade.symbol=ETH-USD"])
        assert [1, 5, 9, 13, 17] == numbers(paths=[logs], where={"server.address": "10.0.0.5"})

    def test_where_compares_as_text_and_combines(self, logs: Path) -> None:
        """status=200 matches the number 200; several conditions must all hold."""

        assert [2, 6] == numbers(paths=[logs], where=["status=200"], until=ts(8))
        assert [] == numbers(paths=[logs], where=["status=200", "logger=app"])

    def test_files_outside_the_range_are_not_opened(self, tmp_path: Path) -> None:
        """A file whose name says it is too old is skipped without reading (here, unreadable)."""
        (tmp_path / "a.2020-01-01T00-00-00Z--2020-01-01T01-00-00Z.jsonl.gz").write_bytes(
            b"\x1f\x8bbroken"
        )
        (tmp_path / "b.jsonl").write_bytes(jsonl([make_entry(0, 1)]))

        assert [1] == numbers(paths=[tmp_path], since="2026-01-01")

    def test_sequential_archives_share_one_lane(self, tmp_path: Path) -> None:
        """Files that follow each other are read one after another: one open file, not many."""
        paths = [
            tmp_path / f"app.2026-11-23T0{h}-00-00Z--2026-11-23T0{h}-59-00Z.jsonl.gz"
            for h in range(5)
        ]
        lanes = _lanes([*paths, tmp_path / "app.jsonl"], EntryFilter())

        assert [5, 1] == [len(lane) for lane in lanes]

    def test_lookup(self) -> None:
        """Flat dotted keys first, then nested objects, including dotted names inside them."""
        entry = {"a.b": 1, "a": {"b": 2, "c": {"d.e": 3}}, "metric": {"attributes": {"x.y": 4}}}

        assert (True, 1) == lookup(entry, "a.b")
        assert (True, 3) == lookup(entry, "a.c.d.e")
        assert (True, 4) == lookup(entry, "metric.attributes.x.y")
        assert (False, None) == lookup(entry, "a.z")

    def test_bad_filters_are_refused(self) -> None:
        """A where without = and a time that is neither form name the problem."""
        with pytest.raises(ValueError, match="key=value"):
            EntryFilter.build(where=["nope"])
        with pytest.raises(ValueError, match="RFC 3339"):
            EntryFilter.build(since="yesterday")


class TestCommand:
    def test_json_output_keeps_json_lines_as_written(
        self, logs: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """--format json: JSON lines come out unchanged, logfmt lines as JSON."""
        status = main(["query", str(logs), "--until", ts(4)])
        lines = capsysbinary.readouterr().out.splitlines()

        assert 0 == status
        assert [0, 1, 2, 3] == [json.loads(line)["n"] for line in lines]
        assert {"symbol": "ETH-USD"} == json.loads(lines[3])["trade"]
        assert (logs / "app.jsonl").read_bytes().splitlines()[0] == lines[0]

    def test_logfmt_and_console_output(
        self, logs: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """--format logfmt parses back; --format console reads like the console sink."""
        main(["query", str(logs), "--format", "logfmt", "--level", "error"])
        logfmt_lines = capsysbinary.readouterr().out.decode().splitlines()
        main(["query", str(logs), "--format", "console", "--logger", "proxy", "--until", ts(3)])
        console = capsysbinary.readouterr().out.decode()

        assert [2, 6, 10, 14, 18] == [parse_logfmt(line)["n"] for line in logfmt_lines]
        assert "ERROR" in console
        assert "proxy.health" in console

    def test_unparsable_lines_are_counted_on_stderr(
        self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """Lines that are neither JSON nor logfmt are skipped, and the count is reported."""
        path = tmp_path / "mixed.log"
        path.write_bytes(jsonl([make_entry(0, 1)]) + b"plain words here\n[1, 2]\n")
        status = main(["query", str(path)])
        captured = capsysbinary.readouterr()

        assert 0 == status
        assert [1] == [json.loads(line)["n"] for line in captured.out.splitlines()]
        assert (
            f"skipped 2 line(s) that are not JSON or logfmt entries (first at {path}:2)"
            in captured.err.decode()
        )

    def test_a_source_left_beside_its_archive_is_read_once(
        self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """A writer killed after renaming an archive into place, before removing its plain
        source, leaves both until a later pass: the entries are listed once, not twice. A
        plain file the manifest does not record as the archive's source is still read."""
        archives, contents = make_archives(tmp_path, 2)
        left = tmp_path / next(iter(contents))  # the state such a kill leaves
        left.write_bytes(contents[left.name])

        def ks(lines: list[bytes]) -> list[int]:  # the sink's own events (no "k") aside
            return sorted(k for line in lines if (k := json.loads(line).get("k")) is not None)

        expected = ks([line for data in contents.values() for line in data.splitlines()])

        assert 0 == main(["query", str(tmp_path)])
        assert expected == ks(capsysbinary.readouterr().out.splitlines())

        left.write_bytes(contents[left.name] + jsonl([make_entry(9, 99)]))  # not that source
        assert 0 == main(["query", str(tmp_path)])
        again = ks(capsysbinary.readouterr().out.splitlines())
        assert len(again) == len(expected) + len(ks(contents[left.name].splitlines()))
        assert 2 == len(archives)

    def test_a_corrupt_archive_is_reported(
        self, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
    ) -> None:
        """A truncated archive yields what it can, names itself on stderr, exits 1."""
        data = gzip.compress(jsonl([make_entry(i, i) for i in range(2000)]))
        (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
        status = main(["query", str(tmp_path)])
        captured = capsysbinary.readouterr()

        assert 1 == status
        assert len(captured.out.splitlines()) > 0
        assert "cut.jsonl.gz: unreadable after line" in captured.err.decode()

    def test_missing_path_and_bad_filter_are_usage_errors(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit status 2, with the reason on stderr."""

        assert 2 == main(["query", str(tmp_path / "nope")])
        assert 2 == main(["query", str(tmp_path), "--where", "x"])
        assert "no such file" in capsys.readouterr().err

    def test_progress_bar_only_on_a_terminal(
        self, logs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """On a terminal stderr shows a bar, cleared before output; elsewhere nothing."""
        import sys

        from tapelog.cli import _query

        monkeypatch.setattr(_query, "_PROGRESS_INTERVAL", 0.0)
        monkeypatch.setattr(_query, "_TICK_EVERY", 0)
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        main(["query", str(logs), "--level", "critical"])
        err = capsys.readouterr().err

        assert "MiB" in err
        assert err.endswith("\r\x1b[K")
