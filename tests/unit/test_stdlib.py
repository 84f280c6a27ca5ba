from __future__ import annotations

import json
import logging
import logging.config
from typing import TYPE_CHECKING

from tests.conftest import read_jsonl

import tapelog
from tapelog.stdlib import TapelogFormatter
from tapelog.testing import capture


if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


class TestCaptureStdlib:
    def test_third_party_record_arrives_with_extra_fields(
        self, tmp_path: Path, validator: object
    ) -> None:
        """A library's logging call becomes a schema-valid tapelog entry with its extra fields."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(sinks=[{"type": "file", "path": str(path)}])
        tapelog.capture_stdlib("info")

        logging.getLogger("urllib3.connectionpool").warning(
            "Retrying (%d attempts left)",
            2,
            extra={"server.address": "api.example.com", "retries": 2},
        )
        tapelog.flush(5)

        entry = read_jsonl(path)[-1]
        assert ("urllib3.connectionpool", "warning", "Retrying (2 attempts left)") == (
            entry["logger"],
            entry["level"],
            entry["message"],
        )
        assert ("api.example.com", 2) == (entry["server.address"], entry["retries"])
        assert validator.is_valid(entry)  # type: ignore[attr-defined]

    def test_handlers_already_on_the_root_logger_are_kept(self) -> None:
        """A handler installed before (Sentry, a file) still gets records, next to tapelog."""
        seen: list[str] = []

        class Keeper(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                seen.append(record.getMessage())

        root = logging.getLogger()
        keeper = Keeper()
        root.addHandler(keeper)
        tapelog.capture_stdlib("info")
        tapelog.capture_stdlib("info")  # twice: still one tapelog handler

        with capture() as entries:
            logging.getLogger("lib").warning("disk almost full")

        assert keeper in root.handlers
        assert ["disk almost full"] == seen
        assert ["disk almost full"] == [entry["message"] for entry in entries]

    def test_replace_handlers_removes_the_others(self) -> None:
        """replace_handlers=True leaves tapelog's handler alone on the root logger."""
        root = logging.getLogger()
        root.addHandler(logging.NullHandler())

        handler = tapelog.capture_stdlib("info", replace_handlers=True)

        assert [handler] == root.handlers

    def test_exc_info_is_kept(self) -> None:
        """logging.exception's traceback becomes the entry's error object."""
        tapelog.capture_stdlib("info")

        with capture() as entries:
            try:
                raise RuntimeError("db down")
            except RuntimeError:
                logging.getLogger("lib").exception("query failed")

        assert ("RuntimeError", "db down") == (
            entries[0]["error"]["type"],
            entries[0]["error"]["message"],
        )

    def test_tapelog_levels_apply_to_stdlib_records(self) -> None:
        """A tapelog level for a logger name filters that library's records too."""
        tapelog.configure(levels={"chatty": "error"})
        tapelog.capture_stdlib("debug")

        with capture() as entries:
            logging.getLogger("chatty.sub").warning("hidden")
            logging.getLogger("calm").info("shown")

        assert ["shown"] == [e["message"] for e in entries]

    def test_redaction_applies_to_stdlib_extra(self) -> None:
        """Secrets in a library's extra fields are redacted like any other."""
        tapelog.capture_stdlib("info")

        with capture() as entries:
            logging.getLogger("lib").info("login", extra={"password": "hunter2"})

        assert "[REDACTED]" == entries[0]["password"]


class TestFormatter:
    def test_dictconfig_with_tapelog_formatter(self, tmp_path: Path) -> None:
        """A dictConfig naming TapelogFormatter writes tapelog JSON lines."""
        path = tmp_path / "std.jsonl"
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {"tapelog": {"()": "tapelog.stdlib.TapelogFormatter"}},
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "filename": str(path),
                        "formatter": "tapelog",
                    }
                },
                "loggers": {"kept": {"handlers": ["file"], "level": "INFO", "propagate": False}},
            }
        )
        logger = logging.getLogger("kept")
        logger.info("hello %s", "world", extra={"token": "t0p"})
        for handler in logger.handlers:
            handler.close()
        logger.handlers.clear()

        entry = json.loads(path.read_text())
        assert ("hello world", "kept", "[REDACTED]") == (
            entry["message"],
            entry["logger"],
            entry["token"],
        )

    def test_formatter_output_is_one_line(self) -> None:
        """A record with a multi-line message still renders as one line."""
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "a\nb\u2028c", None, None)

        assert 1 == len(TapelogFormatter().format(record).splitlines())
