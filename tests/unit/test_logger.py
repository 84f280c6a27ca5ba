from __future__ import annotations

import sys
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog.testing import capture


if TYPE_CHECKING:
    from pathlib import Path


class TestLevels:
    def test_methods_write_their_level_names(self) -> None:
        """Each emitting method writes its own level name."""
        log = tapelog.get_logger("levels")

        with capture("trace") as entries:
            log.trace("t")
            log.debug("d")
            log.info("i")
            log.warning("w")
            log.error("e")
            log.critical("c")
            log.log("warning", "by name")
            log.log(40, "by number")

        assert ["trace", "debug", "info", "warning", "error", "critical", "warning", "error"] == [
            e["level"] for e in entries
        ]

    def test_below_level_is_not_written(self) -> None:
        """A call below the logger's level leaves nothing."""
        tapelog.configure(level="warning")
        log = tapelog.get_logger("quiet")

        with capture() as entries:
            log.info("hidden")
            log.warning("shown")

        assert ["shown"] == [e["message"] for e in entries]

    def test_per_logger_level_longest_prefix_wins(self) -> None:
        """The most specific configured prefix decides a logger's level."""
        tapelog.configure(level="warning", levels={"proxy": "error", "proxy.health": "debug"})

        with capture() as entries:
            tapelog.get_logger("proxy.health.checks").debug("deep")
            tapelog.get_logger("proxy.rotator").warning("hidden")
            tapelog.get_logger("proxyish").warning("not a child of proxy")

        assert ["deep", "not a child of proxy"] == [e["message"] for e in entries]

    def test_set_level_overrides_configuration(self) -> None:
        """set_level beats the configured level and survives a reconfigure."""
        tapelog.configure(level="warning")
        log = tapelog.get_logger("app")
        tapelog.set_level("debug")
        tapelog.configure(level="error")

        with capture() as entries:
            log.debug("visible")

        assert ["visible"] == [e["message"] for e in entries]

    def test_set_level_for_one_logger(self) -> None:
        """set_level with a logger name changes that name and its children only."""
        tapelog.configure(level="info")
        tapelog.set_level("error", "noisy")

        with capture() as entries:
            tapelog.get_logger("noisy.lib").warning("hidden")
            tapelog.get_logger("other").info("shown")

        assert ["shown"] == [e["message"] for e in entries]

    def test_is_enabled(self) -> None:
        """is_enabled answers for names and numbers."""
        tapelog.configure(level="info")
        log = tapelog.get_logger("x")

        assert (False, True, True) == (
            log.is_enabled("debug"),
            log.is_enabled("info"),
            log.is_enabled(50),
        )

    def test_bad_level_names_what_is_allowed(self) -> None:
        """A bad level raises a ValueError that lists the level names."""
        with pytest.raises(ValueError, match="trace, debug, info") as info:
            tapelog.get_logger("x").log("loud", "m")

        assert "loud" in str(info.value)


class TestGetLogger:
    def test_default_name_is_the_callers_module(self) -> None:
        """get_logger() without a name uses the calling module's __name__."""
        assert __name__ == tapelog.get_logger().name

    def test_bound_fields_at_creation(self) -> None:
        """Fields given to get_logger are bound to every entry."""
        with capture() as entries:
            tapelog.get_logger("b", service_zone="eu").info("hi")

        assert "eu" == entries[0]["service_zone"]


class TestBind:
    def test_bind_returns_a_copy(self) -> None:
        """bind leaves the original logger unchanged."""
        base = tapelog.get_logger("bind")
        child = base.bind(user="u1")

        with capture() as entries:
            base.info("base")
            child.info("child")

        assert ("user" not in entries[0], "u1") == (True, entries[1]["user"])

    def test_unbind_removes_fields(self) -> None:
        """unbind drops bound fields from the copy."""
        log = tapelog.get_logger("bind").bind(a=1, b=2).unbind("a")

        with capture() as entries:
            log.info("m")

        assert ("a" in entries[0], 2) == (False, entries[0]["b"])

    def test_precedence_context_bound_call(self) -> None:
        """Call fields beat bound fields, which beat context fields."""
        log = tapelog.get_logger("p").bind(k="bound", j="bound")

        with capture() as entries, tapelog.context(k="ctx", j="ctx", i="ctx"):
            log.info("m", k="call")

        assert ("call", "bound", "ctx") == (entries[0]["k"], entries[0]["j"], entries[0]["i"])


class TestEntryShape:
    def test_required_keys_come_first(self) -> None:
        """timestamp, level, logger, message lead every entry, in that order."""
        with capture() as entries:
            tapelog.get_logger("shape").info("m", z=1, a=2)

        assert ["timestamp", "level", "logger", "message"] == list(entries[0])[:4]

    def test_timestamp_has_microseconds_and_z(self) -> None:
        """Timestamps are UTC with exactly six fractional digits."""
        with capture() as entries:
            tapelog.get_logger("t").info("m")

        stamp = entries[0]["timestamp"]
        assert (27, "Z", ".") == (len(stamp), stamp[-1], stamp[19])

    def test_seq_increases_by_one(self) -> None:
        """seq grows by one per entry, so a gap means a loss."""
        with capture() as entries:
            for _ in range(5):
                tapelog.get_logger("s").info("m")

        seqs = [e["seq"] for e in entries]
        assert list(range(seqs[0], seqs[0] + 5)) == seqs

    def test_reserved_keys_are_kept_with_underscore(self) -> None:
        """A user field named like a reserved key is kept as key_."""
        with capture() as entries:
            tapelog.get_logger("r").info("real", timestamp="fake", level="x", seq=99, error="e")

        entry = entries[0]
        assert ("real", "fake", "x", 99, "e") == (
            entry["message"],
            entry["timestamp_"],
            entry["level_"],
            entry["seq_"],
            entry["error_"],
        )

    def test_event_name_is_a_top_level_key(self) -> None:
        """A valid dotted event name becomes the entry's event."""
        with capture() as entries:
            tapelog.get_logger("e").info("filled", event="order.filled")

        assert "order.filled" == entries[0]["event"]

    def test_invalid_event_name_is_kept_aside(self) -> None:
        """An event name that breaks the schema's pattern is kept as a plain field."""
        with capture() as entries:
            tapelog.get_logger("e").info("m", event="Not An Event!")

        assert ("event" in entries[0], "Not An Event!") == (False, entries[0]["event_"])

    def test_decimal_is_written_exactly(self) -> None:
        """Decimals become fixed-point strings, never exponent notation."""
        with capture() as entries:
            tapelog.get_logger("d").info("m", qty=Decimal("1E-8"), price=Decimal("64000.25"))

        assert ("0.00000001", "64000.25") == (entries[0]["qty"], entries[0]["price"])

    def test_bad_keys_are_sanitised(self) -> None:
        """Keys with characters outside the schema's set get underscores."""
        with capture() as entries:
            tapelog.get_logger("k").info("m", **{"bad key!": 1})

        assert 1 == entries[0]["bad_key_"]

    def test_optional_core_fields(self) -> None:
        """include adds pid, host, service, thread, source and function."""
        tapelog.configure(
            service="svc",
            fields={"include": ["pid", "host", "service", "thread", "source", "function"]},
        )

        with capture() as entries:
            tapelog.get_logger("o").info("m")

        entry = entries[0]
        assert ("svc", "MainThread", "test_optional_core_fields") == (
            entry["service"],
            entry["thread"],
            entry["function"],
        )
        assert entry["source"].startswith(__file__)
        assert isinstance(entry["pid"], int)

    def test_exclude_and_rename(self) -> None:
        """exclude drops fields and rename changes keys."""
        tapelog.configure(fields={"exclude": ["secret_sauce"], "rename": {"user": "user.name"}})

        with capture() as entries:
            tapelog.get_logger("f").info("m", secret_sauce=1, user="ann")

        assert ("secret_sauce" in entries[0], "ann") == (False, entries[0]["user.name"])


class TestExceptions:
    def test_exception_records_type_message_and_stack(self) -> None:
        """exception() attaches the error being handled."""
        log = tapelog.get_logger("exc")

        with capture() as entries:
            try:
                int("x")
            except ValueError:
                log.exception("parse failed")

        error = entries[0]["error"]
        assert ("error", "ValueError") == (entries[0]["level"], error["type"])
        assert "invalid literal" in error["message"]
        assert "Traceback (most recent call last)" in error["stack_trace"]

    @pytest.mark.parametrize("form", ["instance", "tuple", "true"])
    def test_exc_info_forms(self, form: str) -> None:
        """exc_info accepts an exception, a sys.exc_info() tuple or True."""
        log = tapelog.get_logger("exc")

        with capture() as entries:
            try:
                raise KeyError("k")
            except KeyError as exc:
                value = {"instance": exc, "tuple": sys.exc_info(), "true": True}[form]
                log.warning("with exc", exc_info=value)

        assert "KeyError" == entries[0]["error"]["type"]

    def test_module_qualified_type(self) -> None:
        """A non-builtin exception type is written with its module."""
        with capture() as entries:
            tapelog.get_logger("exc").error("m", exc_info=tapelog.ConfigError("a", 1, "b"))

        assert "tapelog.exceptions.ConfigError" == entries[0]["error"]["type"]


class TestFileSink:
    def test_writes_schema_valid_json_lines(self, tmp_path: Path, validator: object) -> None:
        """The file sink appends one schema-valid JSON line per entry."""
        path = tmp_path / "logs" / "app.jsonl"
        tapelog.configure(sinks=[{"type": "file", "path": str(path)}])
        log = tapelog.get_logger("file")

        for index in range(10):
            log.info("entry", index=index, price=Decimal("1.5"), raw=b"\x00\xff", tags={"b", "a"})
        assert tapelog.flush(5)

        entries = read_jsonl(path)
        assert list(range(10)) == [e["index"] for e in entries]
        assert all(validator.is_valid(e) for e in entries)  # type: ignore[attr-defined]

    def test_file_mode_is_0640(self, tmp_path: Path) -> None:
        """A new log file is created with mode 0640."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(sinks=[{"type": "file", "path": str(path)}])
        tapelog.get_logger("file").info("m")
        tapelog.flush(5)

        assert 0o640 == path.stat().st_mode & 0o777

    def test_each_sink_has_its_level_and_format(self, tmp_path: Path) -> None:
        """Two sinks at different levels and formats each get what they asked for."""
        everything = tmp_path / "all.log"
        errors = tmp_path / "errors.log"
        tapelog.configure(
            level="debug",
            sinks=[
                {"type": "file", "path": str(everything), "format": "logfmt"},
                {"type": "file", "path": str(errors), "format": "json", "level": "error"},
            ],
        )
        log = tapelog.get_logger("multi")
        log.debug("d")
        log.error("e")
        tapelog.flush(5)

        assert 2 == len(everything.read_text().splitlines())
        assert everything.read_text().startswith("timestamp=")
        assert ["e"] == [e["message"] for e in read_jsonl(errors)]


class TestConfigureFailure:
    def test_bad_config_keeps_old_pipeline(self, tmp_path: Path) -> None:
        """A configure() that fails validation changes nothing; logging goes on."""
        path = tmp_path / "app.jsonl"
        tapelog.configure(sinks=[{"type": "file", "path": str(path)}])
        log = tapelog.get_logger("keep")

        with pytest.raises(tapelog.ConfigError, match=r"queue\.overflow"):
            tapelog.configure(queue={"overflow": "sometimes"}, sinks=[{"type": "console"}])
        log.info("still here")
        tapelog.flush(5)

        assert ["still here"] == [e["message"] for e in read_jsonl(path)]
