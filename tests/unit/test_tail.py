"""`tapelog tail`: the last lines, pretty, filtered; following through rotation and truncation."""

from __future__ import annotations

import gzip
import json
import threading
from typing import TYPE_CHECKING, Any

from tapelog.cli import main
from tapelog.cli._query import EntryFilter
from tapelog.cli._tail import Follower, follow, last_lines


if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def line(n: int, **fields: Any) -> bytes:
    entry = {
        "timestamp": f"2026-11-23T07:00:{n % 60:02d}.000000Z",
        "level": fields.pop("level", "info"),
        "logger": "app",
        "message": f"m{n}",
        "n": n,
        **fields,
    }
    return json.dumps(entry).encode() + b"\n"


class TestLastLines:
    def test_reads_backwards_across_blocks(self, tmp_path: Path) -> None:
        """The last N of a file bigger than one read block."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(b"".join(line(n, pad="x" * 200) for n in range(2000)))
        lines, position = last_lines(path, 3, None)

        assert [1997, 1998, 1999] == [json.loads(x)["n"] for x in lines]
        assert path.stat().st_size == position

    def test_a_line_still_being_written_is_left_for_following(self, tmp_path: Path) -> None:
        """Bytes after the last newline are not shown yet; following starts before them."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(line(1) + line(2) + b'{"partial')
        lines, position = last_lines(path, 10, None)

        assert [1, 2] == [json.loads(x)["n"] for x in lines]
        assert len(line(1) + line(2)) == position

    def test_filters_pick_the_last_matching(self, tmp_path: Path) -> None:
        """With --level, the last N matching entries, however far back."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(
            b"".join(line(n, level="error" if n % 100 == 0 else "info") for n in range(1000))
        )
        lines, _ = last_lines(path, 2, EntryFilter.build(level="error"))

        assert [800, 900] == [json.loads(x)["n"] for x in lines]

    def test_compressed_files_are_read_through_and_not_followed(self, tmp_path: Path) -> None:
        """A .gz file shows its last lines; there is nothing to follow."""
        path = tmp_path / "app.jsonl.gz"
        path.write_bytes(gzip.compress(b"".join(line(n) for n in range(50))))
        lines, position = last_lines(path, 2, None)

        assert ([48, 49], None) == ([json.loads(x)["n"] for x in lines], position)


class TestFollower:
    def test_follows_through_rotation(self, tmp_path: Path) -> None:
        """Lines written before the rename are read from the old file, then the new file from its start."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(line(0))
        follower = Follower(path, path.stat().st_size)
        with path.open("ab") as file:
            file.write(line(1))
        path.rename(tmp_path / "app.old.jsonl")
        with (tmp_path / "app.old.jsonl").open("ab") as file:
            file.write(line(2))
        path.write_bytes(line(3))
        seen = follower.poll() + follower.poll() + follower.poll()
        follower.close()

        assert [1, 2, 3] == [json.loads(x)["n"] for x in seen]

    def test_follows_through_truncation(self, tmp_path: Path) -> None:
        """A file truncated in place (copytruncate) is read again from its start."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(line(0) + line(1))
        follower = Follower(path, path.stat().st_size)
        path.write_bytes(line(2))
        seen = follower.poll() + follower.poll()
        follower.close()

        assert [2] == [json.loads(x)["n"] for x in seen]

    def test_waits_for_a_file_that_does_not_exist_yet(self, tmp_path: Path) -> None:
        """A missing file is polled until it appears; a partial line waits for its newline."""
        path = tmp_path / "later.jsonl"
        follower = Follower(path)
        before = follower.poll()
        path.write_bytes(line(0) + b'{"n": 1')
        first = follower.poll()
        with path.open("ab") as file:
            file.write(b"}\n")
        second = follower.poll()
        follower.close()

        assert ([], [0], [b'{"n": 1}']) == (before, [json.loads(x)["n"] for x in first], second)

    def test_follow_loop_stops_and_shows_each_line(self, tmp_path: Path) -> None:
        """follow() polls until told to stop, handing on every line once."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(b"")
        shown: list[bytes] = []
        done = threading.Event()

        def show(_path: Path, data: bytes) -> None:
            shown.append(data)
            if len(shown) == 3:
                done.set()

        thread = threading.Thread(
            target=follow,
            args=([Follower(path)], show),
            kwargs={"interval": 0.05, "stop": done.is_set},
        )
        thread.start()
        with path.open("ab") as file:
            for n in range(3):
                file.write(line(n))
                file.flush()
        thread.join(10)

        assert not thread.is_alive()
        assert [0, 1, 2] == [json.loads(x)["n"] for x in shown]


class TestCommand:
    def test_pretty_prints_json_and_logfmt(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Entries print in the console format; text that is not an entry prints as it is."""
        monkeypatch.setenv("NO_COLOR", "1")
        path = tmp_path / "app.log"
        path.write_bytes(
            line(1)
            + b"timestamp=2026-11-23T07:00:02.000000Z level=warning logger=x message=hi\n"
            + b"just text\n"
        )
        status = main(["tail", str(path)])
        out = capsys.readouterr().out.splitlines()

        assert 0 == status
        assert out[0].startswith("2026-11-23 07:00:01.000000 INFO     app")
        assert "WARNING" in out[1]
        assert "just text" == out[2]

    def test_filters_and_count(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """-n and --where select what is shown; --format json keeps the lines as written."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(b"".join(line(n, kind="odd" if n % 2 else "even") for n in range(20)))
        main(["tail", "-n", "2", "--where", "kind=odd", "--format", "json", str(path)])
        out = capsys.readouterr().out.splitlines()

        assert [17, 19] == [json.loads(x)["n"] for x in out]

    def test_several_files_get_headers(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Like tail, each file's lines follow a ==> name <== header."""
        a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
        a.write_bytes(line(1))
        b.write_bytes(line(2))
        main(["tail", "--format", "json", str(a), str(b)])
        out = capsys.readouterr().out

        assert out.startswith(f"==> {a} <==\n")
        assert f"\n==> {b} <==\n" in out

    def test_missing_file(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """Without -f, a missing file is an error."""

        assert 1 == main(["tail", str(tmp_path / "nope.jsonl")])
        assert "no such file" in capsys.readouterr().err

    def test_ctrl_c_exits_130_quietly(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Following ends on Ctrl-C with status 130 and no traceback."""
        from tapelog.cli import _tail

        def interrupted(*args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(_tail, "follow", interrupted)
        path = tmp_path / "app.jsonl"
        path.write_bytes(line(0))

        assert 130 == main(["tail", "-f", str(path)])
        assert "Traceback" not in capsys.readouterr().err
