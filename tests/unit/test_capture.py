"""``tapelog.testing.capture`` while the configuration changes inside the block."""

from __future__ import annotations

import contextlib
from pathlib import Path

from tests.conftest import read_jsonl

import tapelog
from tapelog._runtime import RUNTIME
from tapelog.testing import capture


def _open_files() -> set[Path]:
    """The files this process has open (Linux)."""
    fds = Path("/proc/self/fd")
    found: set[Path] = set()
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            found.add(fd.readlink())
    return found


def _file_config(path: Path, **more: object) -> dict[str, object]:
    return {"sinks": [{"type": "file", "path": str(path), "format": "json"}], **more}


class TestConfigureInsideCapture:
    def test_entries_stay_captured_with_the_new_settings(self, tmp_path: Path) -> None:
        """A configure() in the block applies at once, and the block still collects."""
        log = tapelog.get_logger("shop")
        tapelog.configure(_file_config(tmp_path / "before.log"))

        with capture() as entries:
            log.info("first", customer="c-1")
            tapelog.configure(
                _file_config(tmp_path / "after.log", fields={"rename": {"customer": "client"}})
            )
            log.info("second", customer="c-2")

        assert [("first", "c-1", None), ("second", None, "c-2")] == [
            (e["message"], e.get("customer"), e.get("client")) for e in entries
        ]
        assert not (tmp_path / "before.log").exists() or [] == read_jsonl(tmp_path / "before.log")
        assert not (tmp_path / "after.log").exists() or [] == read_jsonl(tmp_path / "after.log")

    def test_the_new_sinks_take_over_when_the_block_ends(self, tmp_path: Path) -> None:
        """After the block, entries go to the sinks configured inside it, asynchronously."""
        log = tapelog.get_logger("shop")
        tapelog.configure(_file_config(tmp_path / "before.log"))

        with capture():
            tapelog.configure(_file_config(tmp_path / "after.log"))
        log.info("later")
        assert tapelog.flush(10)

        assert ["later"] == [e["message"] for e in read_jsonl(tmp_path / "after.log")]
        assert not (tmp_path / "before.log").exists() or [] == read_jsonl(tmp_path / "before.log")
        assert "async" == RUNTIME.config.queue.mode

    def test_sinks_the_new_configuration_drops_are_closed(self, tmp_path: Path) -> None:
        """The old file is closed by the configure() inside the block: no descriptor leaks."""
        before = tmp_path / "before.log"
        tapelog.configure(_file_config(before))
        tapelog.get_logger("shop").info("opens the file")
        assert tapelog.flush(10)
        assert before in _open_files()

        with capture():
            tapelog.configure(_file_config(tmp_path / "after.log"))
            assert before not in _open_files()

        assert before not in _open_files()

    def test_without_configure_the_old_sinks_come_back(self, tmp_path: Path) -> None:
        """A block that does not reconfigure leaves logging exactly as it was."""
        log = tapelog.get_logger("shop")
        tapelog.configure(_file_config(tmp_path / "app.log"))

        with capture() as entries:
            log.info("captured")
        log.info("written")
        assert tapelog.flush(10)

        assert ["captured"] == [e["message"] for e in entries]
        assert ["written"] == [e["message"] for e in read_jsonl(tmp_path / "app.log")]


class TestNestedCapture:
    def test_inner_block_collects_its_own_then_outer_resumes(self) -> None:
        """Each block gets what was logged while it was the innermost one."""
        log = tapelog.get_logger("nest")

        with capture() as outer:
            log.info("one")
            with capture() as inner:
                log.info("two")
                tapelog.configure(redaction={"keys": ["customer"]})
                log.info("three", customer="c-1")
            log.info("four", customer="c-2")

        assert ["two", "three"] == [e["message"] for e in inner]
        assert ["one", "four"] == [e["message"] for e in outer]
        assert "[REDACTED]" == inner[1]["customer"] == outer[1]["customer"]

    def test_seq_keeps_counting_across_blocks(self) -> None:
        """Captured entries share the process's seq counter."""
        log = tapelog.get_logger("nest")

        with capture() as outer:
            log.info("a")
            with capture() as inner:
                log.info("b")
                tapelog.configure(level="info")
            log.info("c")

        seqs = [outer[0]["seq"], inner[0]["seq"], outer[1]["seq"]]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 3
