from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING

import pytest

from tapelog.formats import JsonFormat, LogfmtFormat, parse_logfmt, unflatten
from tapelog.sinks import BaseSink, ConsoleSink, FileSink
from tapelog.testing import CapturingSink, check_sink


if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from tapelog.typing import EventDict


class TestCheckSink:
    def test_file_sink_conforms(self, tmp_path: Path) -> None:
        """FileSink passes the conformance kit, reading its JSON lines back."""
        path = tmp_path / "c.jsonl"
        check_sink(
            FileSink(path, JsonFormat()),
            lambda: [json.loads(x) for x in path.read_text().splitlines()],
        )

    def test_file_sink_logfmt_conforms(self, tmp_path: Path) -> None:
        """FileSink with logfmt writes lines that parse back to the same entries."""
        path = tmp_path / "c.log"

        def read() -> list[dict[str, object]]:
            return [
                unflatten(parse_logfmt(x), nested=("error",)) for x in path.read_text().splitlines()
            ]

        sink = FileSink(path, LogfmtFormat())
        sink.write_batch(
            [{"timestamp": "t", "level": "info", "logger": "l", "message": "m", "n": 1}]
        )
        sink.close()

        assert [
            {"timestamp": "t", "level": "info", "logger": "l", "message": "m", "n": 1}
        ] == read()

    def test_console_sink_conforms(self, capsys: pytest.CaptureFixture[str]) -> None:
        """ConsoleSink passes the conformance kit on stdout."""
        check_sink(ConsoleSink(JsonFormat(), stream="stdout"))

        # The two sample entries and the parent's entry after the fork; the forked child
        # wrote into its own copy of the captured stream.
        assert 3 == len(capsys.readouterr().out.splitlines())

    def test_capturing_sink_conforms(self) -> None:
        """CapturingSink keeps entries exactly."""
        sink = CapturingSink()
        check_sink(sink, lambda: sink.entries)

    def test_a_lossy_sink_is_caught(self) -> None:
        """A sink that drops entries fails the kit with a message naming the rule."""

        class Lossy:
            name = "lossy"

            def __init__(self) -> None:
                self.kept: list[EventDict] = []

            def write_batch(self, entries: Sequence[EventDict]) -> None:
                self.kept.extend(entries[:1])

            def flush(self) -> None:
                pass

            def close(self) -> None:
                pass

        sink = Lossy()
        with pytest.raises(AssertionError, match="complete and in order"):
            check_sink(sink, lambda: sink.kept)


class TestRenderBatch:
    def test_batch_and_single_rendering_agree(self) -> None:
        """JsonFormat's batch path writes exactly what one call per entry writes."""
        from tapelog.sinks._base import render_batch

        entries = [
            {"message": "plain"},
            {"message": "line\u2028sep", "n": 1},
            {"message": "nel\x85", "big": 2**70},
        ]
        fmt = JsonFormat()

        assert b"".join(fmt(e) for e in entries) == render_batch(fmt, entries)

    def test_a_failing_entry_spoils_nothing_else(self) -> None:
        """A formatter that fails on one entry still renders the others, and a valid line for it."""
        from tapelog.sinks._base import render_batch

        def picky(entry: EventDict) -> bytes:
            if entry["message"] == "bad":
                raise ValueError("cannot")
            return JsonFormat()(entry)

        lines = render_batch(
            picky, [{"message": "a"}, {"message": "bad"}, {"message": "c"}]
        ).splitlines()

        assert ["a", "bad", "c"] == [json.loads(line)["message"] for line in lines]
        assert "ValueError: cannot" == json.loads(lines[1])["tapelog_format_error"]


class ProcessBound(BaseSink):
    """Like a client connection: usable only in the process that opened it, unless reopened."""

    def __init__(self, reopen: bool) -> None:
        self.name = "bound"
        self.owner = os.getpid()
        self.reopen = reopen
        self.kept: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        if os.getpid() != self.owner:
            raise ConnectionError("connection opened by another process")
        self.kept.extend(entries)

    def after_fork(self) -> None:
        if self.reopen:
            self.owner = os.getpid()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="after_fork runs only where processes fork")
class TestCheckSinkForks:
    def test_a_sink_that_reopens_after_fork_conforms(self) -> None:
        """The child runs after_fork before writing, as tapelog's fork handler does."""
        sink = ProcessBound(reopen=True)

        check_sink(sink, lambda: sink.kept)

        assert ["order placed", "Zürich 東京 🚀 line\nbreak", "parent, after the fork"] == [
            e["message"] for e in sink.kept
        ]

    def test_a_sink_that_ignores_the_fork_is_caught(self) -> None:
        """A sink that keeps the parent's connection in the child fails, naming the fork."""
        sink = ProcessBound(reopen=False)

        with pytest.raises(AssertionError, match=r"after_fork\(\) and a batch in a forked child"):
            check_sink(sink, lambda: sink.kept)

    def test_a_child_that_hangs_is_reported_not_waited_for(self) -> None:
        """A child stuck after the fork (a lock the parent held) fails the kit in time."""

        class Stuck(ProcessBound):
            def after_fork(self) -> None:
                threading.Event().wait()

        with pytest.raises(AssertionError, match="forked child that ran after_fork"):
            check_sink(Stuck(reopen=True), timeout=0.5)
