"""Validation: every key checked, every message naming the path, the value and what is allowed."""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

import tapelog
from tapelog.config import Config, SinkConfig, load_config, validate
from tapelog.config._convert import Option, Table, boolean
from tapelog.config._model import FilterConfig, QueueConfig, SampleConfig, ThresholdConfig
from tapelog.config._sinks import _REGISTRY, FILE_OPTIONS, register_sink_options
from tapelog.exceptions import ConfigError


# The design's example configuration, as it was written there.
DESIGN_EXAMPLE = r"""
level = "info"
format = "json"               # default format for sinks that do not say

[levels]                      # per-logger overrides, longest prefix wins
"proxy.health" = "debug"
"urllib3" = "warning"

[queue]
size = 65536
overflow = "block"            # block | drop_newest | drop_oldest
block_timeout = "1s"          # block mode: after this, drop and count

[fields]
include = ["pid", "host"]     # optional core fields to add
exclude = ["thread"]          # fields never written
rename = { message = "msg" }

[redaction]
keys = ["session_id"]         # added to the defaults (password, secret, token, api_key, authorization, cookie, ...)
patterns = ["\\bsk-[A-Za-z0-9]{20,}\\b"]
replacement = "[REDACTED]"

[[sinks]]
type = "console"              # stderr; format "console" on a terminal, else json

[[sinks]]
type = "file"
path = "logs/app.jsonl"
rotation = { size = "100 MiB", when = "daily" }
retention = { max_age = "90d", max_files = 100, max_total_size = "5 GiB", min_free_disk = "1 GiB" }
compression = "gzip"          # gzip | zstd | none
archive_dir = "logs/archive"

[[sinks]]
type = "file"
name = "audit"
path = "logs/trades.audit.jsonl"
audit = true                  # hash-chained, fsync per batch; `tapelog verify`
filter = { loggers = ["trading"] }

[[sinks]]
type = "syslog"
address = "tcp://127.0.0.1:5514"   # udp:// tcp:// tls:// unix://
app_name = "proxy-rotator"
level = "warning"

[[sinks]]
type = "http"
url = "http://127.0.0.1:8080/ingest"
batch = { max_records = 1000, max_delay = "1s" }
spool_dir = "logs/spool"      # undelivered batches survive outages and restarts
sample = { rate = 0.1, keep_levels = ["warning", "error", "critical"], key = "request_id" }

[metrics]
interval = "10s"
system = true                 # cpu, memory, network and disk i/o
thresholds = [{ metric = "process.cpu.utilization", above = 0.9 }]

[errors]
locals = true                 # capture local variables, redacted and size-capped
"""


def error(data: dict[str, Any]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        validate(data)
    return info.value


def sink(**table: Any) -> SinkConfig:
    return validate({"sinks": [table]}).sinks[0]


class TestDesignExample:
    @pytest.fixture(name="config")
    def _config(self) -> Config:
        return validate(tomllib.loads(DESIGN_EXAMPLE))

    def test_top_level(self, config: Config) -> None:
        """The example's top-level tables come out normalised."""

        assert (
            20,
            "json",
            {"proxy.health": 10, "urllib3": 30},
            QueueConfig(size=65536, overflow="block", block_timeout=1.0),
            (("pid", "host"), ("thread",), {"message": "msg"}),
            (("session_id",), (r"\bsk-[A-Za-z0-9]{20,}\b",), "[REDACTED]"),
            (10.0, True, (ThresholdConfig("process.cpu.utilization", above=0.9),)),
            True,
        ) == (
            config.level,
            config.format,
            dict(config.levels),
            config.queue,
            (config.fields.include, config.fields.exclude, dict(config.fields.rename)),
            (config.redaction.keys, config.redaction.patterns, config.redaction.replacement),
            (config.metrics.interval, config.metrics.system, config.metrics.thresholds),
            config.errors.locals,
        )

    def test_sinks(self, config: Config) -> None:
        """The example's five sinks get their names, levels, filters and samples."""

        assert [
            ("console", "console", None, None, None),
            ("file", "file", None, None, None),
            ("file", "audit", None, FilterConfig(loggers=("trading",)), None),
            ("syslog", "syslog", 30, None, None),
            ("http", "http", None, None, SampleConfig(0.1, (30, 40, 50), "request_id")),
        ] == [(s.type, s.name, s.level, s.filter, s.sample) for s in config.sinks]

    def test_file_options(self, config: Config) -> None:
        """The rotating file sink's sizes and durations become bytes and seconds."""
        options = config.sinks[1].options

        assert (
            {
                "size": 100 * 2**20,
                "when": "daily",
                "at": time(0, 0),
                "interval": None,
                "weekday": None,
            },
            {
                "max_age": 90 * 86400.0,
                "archive_max_age": None,
                "max_files": 100,
                "max_total_size": 5 * 2**30,
                "min_free_disk": 2**30,
                "min_age": None,
            },
            "gzip",
            "logs/archive",
        ) == (
            dict(options["rotation"]),
            dict(options["retention"]),
            options["compression"],
            options["archive_dir"],
        )

    def test_loads_from_a_file(self, tmp_path: Path) -> None:
        """The example loads from a TOML file just the same."""
        path = tmp_path / "design.toml"
        path.write_text(DESIGN_EXAMPLE, encoding="utf-8")

        assert validate(tomllib.loads(DESIGN_EXAMPLE)).sinks == load_config(path, environ={}).sinks


class TestTopLevel:
    def test_empty_gives_defaults(self) -> None:
        """An empty configuration is the model's defaults with one console sink."""
        config = validate({})

        assert (Config(sinks=config.sinks, origins=config.origins), ["console"]) == (
            config,
            [s.type for s in config.sinks],
        )

    def test_none_counts_as_absent(self) -> None:
        """A None value (JSON null) is the same as leaving the key out."""

        assert validate({}).queue == validate({"level": None, "queue": {"size": None}}).queue

    def test_empty_sink_list_means_no_sink(self) -> None:
        """An explicit empty list of sinks is kept: nothing is written anywhere."""

        assert () == validate({"sinks": []}).sinks

    def test_input_is_not_changed(self) -> None:
        """Validation reads its input and never writes to it."""
        data = {"queue": {"size": 5}, "sinks": [{"type": "file", "path": "x"}]}
        before = repr(data)
        validate(data)

        assert before == repr(data)

    @pytest.mark.parametrize(
        ("value", "expected"), [("DEBUG", 10), ("warn", 30), (25, 25), ("off", 100)]
    )
    def test_level_forms(self, value: object, expected: int) -> None:
        """Levels are read by name in any case or by number."""

        assert expected == validate({"level": value}).level

    def test_levels_map(self) -> None:
        """Per-logger levels become numbers, keys kept as written."""

        assert {"a.b": 10, "c": 40} == dict(validate({"levels": {"a.b": "debug", "c": 40}}).levels)

    def test_first_problem_in_written_order(self) -> None:
        """With several problems, the first one written is reported."""

        assert "format" == error({"format": "xml", "level": "loud"}).path

    def test_optional_fields_are_the_ones_the_entry_builder_adds(self) -> None:
        """Every field [fields] include accepts appears in the entries it configures."""
        from tapelog._event import OPTIONAL_FIELDS
        from tapelog.testing import capture

        with capture() as entries:
            tapelog.configure(fields={"include": sorted(OPTIONAL_FIELDS)}, service="shop")
            tapelog.get_logger("t").info("m")

        assert set() == set(OPTIONAL_FIELDS) - set(entries[-1])

    def test_config_error_is_value_error(self) -> None:
        """ConfigError refines ValueError, so plain handlers keep working."""

        assert isinstance(error({"level": "loud"}), ValueError)


class TestMessages:
    @pytest.mark.parametrize(
        ("data", "path", "value", "allowed"),
        [
            ({"level": "loud"}, "level", "loud", "trace, debug, info"),
            ({"format": "xml"}, "format", "xml", "one of json, logfmt, console"),
            ({"levels": {"a": "chatty"}}, "levels.a", "chatty", "trace, debug"),
            ({"service": 5}, "service", 5, "a non-empty string"),
            ({"queue": {"size": 0}}, "queue.size", 0, "an integer of at least 1"),
            ({"queue": {"size": True}}, "queue.size", True, "an integer"),
            ({"queue": {"size": "big"}}, "queue.size", "big", "an integer"),
            (
                {"queue": {"overflow": "drop"}},
                "queue.overflow",
                "drop",
                "block, drop_newest, drop_oldest",
            ),
            ({"queue": {"block_timeout": "soon"}}, "queue.block_timeout", "soon", '"250ms"'),
            ({"queue": {"mode": "threads"}}, "queue.mode", "threads", "one of async, sync"),
            ({"queue": {"batch_size": -1}}, "queue.batch_size", -1, "at least 1"),
            ({"queue": 5}, "queue", 5, "a table"),
            (
                {"fields": {"include": ["pid", "cpu"]}},
                "fields.include[1]",
                "cpu",
                "pid, thread, host, service, source, function",
            ),
            ({"fields": {"include": "pid"}}, "fields.include", "pid", "a list"),
            (
                {"fields": {"exclude": ["message"]}},
                "fields.exclude[0]",
                "message",
                "other than timestamp, level, logger or message",
            ),
            (
                {"fields": {"rename": {"a": "x", "b": "x"}}},
                "fields.rename.b",
                "x",
                "'a' does not also take",
            ),
            ({"redaction": {"enabled": "yes"}}, "redaction.enabled", "yes", "true or false"),
            (
                {"redaction": {"patterns": ["ok", "(sk-"]}},
                "redaction.patterns[1]",
                "(sk-",
                "a valid regular expression (missing )",
            ),
            ({"redaction": {"replacement": 1}}, "redaction.replacement", 1, "a string"),
            (
                {"redaction": {"patterns": [1]}},
                "redaction.patterns[0]",
                1,
                "a regular expression string",
            ),
            ({"sinks": [{"type": "file", "path": ""}]}, "sinks[0].path", "", "a file path"),
            ({"sinks": {"type": "console"}}, "sinks", {"type": "console"}, "a list of sink tables"),
            ({"sinks": ["console"]}, "sinks[0]", "console", "a table"),
            ({"metrics": {"interval": 0}}, "metrics.interval", 0, "greater than zero"),
            (
                {"metrics": {"thresholds": [{"metric": "m"}]}},
                "metrics.thresholds[0]",
                {"metric": "m"},
                "above, below or both",
            ),
            (
                {"metrics": {"thresholds": [{"above": 1}]}},
                "metrics.thresholds[0].metric",
                None,
                "required",
            ),
            (
                {"metrics": {"thresholds": [{"metric": "m", "above": "x"}]}},
                "metrics.thresholds[0].above",
                "x",
                "a number",
            ),
            ({"errors": {"locals": 1}}, "errors.locals", 1, "true or false"),
        ],
    )
    def test_message_names_path_value_and_allowed(
        self, data: dict[str, Any], path: str, value: object, allowed: str
    ) -> None:
        """Each error carries the key path and bad value, and its message says what is allowed."""
        exc = error(data)
        message = str(exc)
        shown = "nothing" if value is None else repr(value)

        assert (path, shown) == (exc.path, repr(exc.value))
        assert message.startswith(f"{path}: expected ")
        assert allowed in message
        assert message.endswith(f", got {shown}")

    @pytest.mark.parametrize(
        ("data", "path", "allowed", "guess"),
        [
            (
                {"queue": {"sise": 1}},
                "queue.sise",
                "size, overflow, block_timeout, mode or batch_size",
                "size",
            ),
            ({"levl": "info"}, "levl", "level, format, service, levels, queue", "level"),
            (
                {"fields": {"includes": []}},
                "fields.includes",
                "include, exclude or rename",
                "include",
            ),
        ],
    )
    def test_unknown_key(self, data: dict[str, Any], path: str, allowed: str, guess: str) -> None:
        """An unknown key is named, with the keys allowed there and the closest one."""
        exc = error(data)
        key = path.rsplit(".", 1)[-1]

        assert f"{path}: expected a known key (" in str(exc)
        assert allowed in str(exc)
        assert f"did you mean {guess!r}?), got {key!r}" in str(exc)

    def test_unknown_key_without_guess(self) -> None:
        """When nothing is close, the message lists the keys without a guess."""

        assert "errors.zzz: expected a known key (locals or hooks), got 'zzz'" == str(
            error({"errors": {"zzz": 1}})
        )

    def test_size_message(self) -> None:
        """A bad size reads as the house example does."""
        data = {
            "sinks": [
                {"type": "console"},
                {"type": "file", "path": "x", "rotation": {"size": "huge"}},
            ]
        }

        assert (
            "sinks[1].rotation.size: expected a size like \"100 MiB\" or a number of bytes, got 'huge'"
            == str(error(data))
        )

    def test_foreign_error_is_chained(self) -> None:
        """The ValueError behind a bad size is kept as the cause."""

        assert isinstance(
            error({"sinks": [{"type": "file", "path": "x", "rotation": {"size": "x"}}]}).__cause__,
            ValueError,
        )


class TestSinkCommon:
    def test_no_sinks_gives_console(self) -> None:
        """Without sinks there is one console sink on stderr."""

        assert [("console", "console", "stderr")] == [
            (s.type, s.name, s.options["stream"]) for s in validate({}).sinks
        ]

    def test_names_numbered_per_type(self) -> None:
        """Unnamed sinks take their type's name, numbered from the second unnamed one of that type on."""
        sinks = validate(
            {
                "sinks": [
                    {"type": "file", "path": "a"},
                    {"type": "file", "path": "b", "name": "audit"},
                    {"type": "console"},
                    {"type": "file", "path": "c"},
                    {"type": "file", "path": "d"},
                ]
            }
        ).sinks

        assert ["file", "audit", "console", "file-2", "file-3"] == [s.name for s in sinks]

    def test_duplicate_names(self) -> None:
        """Two sinks with one name is an error naming both."""
        exc = error(
            {
                "sinks": [
                    {"type": "file", "path": "a", "name": "out"},
                    {"type": "console", "name": "out"},
                ]
            }
        )

        assert (
            "sinks[1].name: expected a name no other sink has (sinks[0] has it), got 'out'"
            == str(exc)
        )

    def test_two_file_sinks_on_one_file(self, tmp_path: Path) -> None:
        """Two file sinks appending to (and rotating) one file is refused, however spelled."""
        exc = error(
            {
                "sinks": [
                    {"type": "file", "path": str(tmp_path / "app.log")},
                    {"type": "console"},
                    {"type": "file", "path": str(tmp_path / "logs" / ".." / "app.log")},
                ]
            }
        )

        assert str(exc).startswith(
            "sinks[2].path: expected a file no other sink writes (sinks[0] writes it), got '"
        )

    def test_two_sinks_on_one_spool(self) -> None:
        """Two network sinks sharing a spool would replay each other's batches: refused."""
        exc = error(
            {
                "sinks": [
                    {"type": "http", "url": "http://127.0.0.1:9/a", "spool_dir": "spool"},
                    {"type": "otlp", "endpoint": "http://127.0.0.1:9", "spool_dir": "./spool"},
                ]
            }
        )

        assert (
            "sinks[1].spool_dir: expected a spool directory no other sink spools to"
            " (sinks[0] spools to it), got './spool'" == str(exc)
        )

    def test_separate_files_and_spools_are_fine(self) -> None:
        """Different files and spools, and two syslog sinks on one socket, are accepted."""
        sinks = validate(
            {
                "sinks": [
                    {"type": "file", "path": "a.log"},
                    {"type": "file", "path": "b.log"},
                    {"type": "http", "url": "http://127.0.0.1:9/a", "spool_dir": "s1"},
                    {"type": "http", "url": "http://127.0.0.1:9/b", "spool_dir": "s2"},
                    {"type": "syslog", "address": "unix:///dev/log", "facility": "local0"},
                    {"type": "syslog", "address": "unix:///dev/log", "facility": "local1"},
                ]
            }
        ).sinks

        assert 6 == len(sinks)

    def test_generated_names_skip_given_ones(self) -> None:
        """A generated name skips the names other sinks were given."""
        sinks = validate(
            {
                "sinks": [
                    {"type": "file", "path": "a"},
                    {"type": "console", "name": "file-2"},
                    {"type": "file", "path": "b"},
                    {"type": "console", "name": "file"},
                ]
            }
        ).sinks

        assert ["file-3", "file-2", "file-4", "file"] == [s.name for s in sinks]

    @pytest.mark.parametrize("name", ["", "two words", "-x", 3])
    def test_bad_name(self, name: object) -> None:
        """Sink names are letters, digits, '_', '.' and '-'."""

        exc = error({"sinks": [{"type": "console", "name": name}]})

        assert ("sinks[0].name", name) == (exc.path, exc.value)

    def test_common_keys(self) -> None:
        """Level, format, filter, sample and fallback are read for every type."""
        sinks = validate(
            {
                "sinks": [
                    {
                        "type": "console",
                        "level": "error",
                        "format": "logfmt",
                        "filter": {"components": ["db"], "exclude_loggers": ["noisy"]},
                        "sample": {"rate": 0.5},
                        "fallback": "disk",
                    },
                    {"type": "file", "path": "x", "name": "disk"},
                ]
            }
        ).sinks

        assert (
            40,
            "logfmt",
            FilterConfig(exclude_loggers=("noisy",), components=("db",)),
            SampleConfig(0.5),
            "disk",
        ) == (
            sinks[0].level,
            sinks[0].format,
            sinks[0].filter,
            sinks[0].sample,
            sinks[0].fallback,
        )

    def test_missing_type(self) -> None:
        """A sink without a type is refused, listing the types."""

        assert (
            "sinks[0].type: expected one of console, file, http, otlp, syslog (this key is required), got nothing"
            == str(error({"sinks": [{"path": "x"}]}))
        )

    def test_unknown_type(self) -> None:
        """An unknown type is refused, listing the types."""

        assert (
            "sinks[0].type: expected one of console, file, http, otlp, syslog, got 'kafka'"
            == str(error({"sinks": [{"type": "kafka"}]}))
        )

    def test_unknown_key_lists_common_and_type_keys(self) -> None:
        """A sink's unknown key lists the common keys and the type's own."""
        message = str(error({"sinks": [{"type": "console", "colour": True}]}))

        assert (
            "sinks[0].colour: expected a known key (type, name, level, format, filter, sample, fallback, stream or color; did you mean 'color'?), got 'colour'"
            == message
        )

    @pytest.mark.parametrize(
        ("table", "path", "allowed"),
        [
            ({"sample": {"rate": 1.5}}, "sinks[0].sample.rate", "a number from 0 to 1"),
            ({"sample": {"rate": -0.1}}, "sinks[0].sample.rate", "a number from 0 to 1"),
            (
                {"sample": {"keep_levels": ["loud"]}},
                "sinks[0].sample.keep_levels[0]",
                "trace, debug",
            ),
            ({"filter": {"loggers": "a"}}, "sinks[0].filter.loggers", "a list"),
            ({"filter": {"logger": ["a"]}}, "sinks[0].filter.logger", "did you mean 'loggers'?"),
            ({"format": "rfc5424"}, "sinks[0].format", "one of json, logfmt, console"),
        ],
    )
    def test_common_errors(self, table: dict[str, Any], path: str, allowed: str) -> None:
        """Bad common keys are named by their full path."""
        exc = error({"sinks": [{"type": "console", **table}]})

        assert (path, True) == (exc.path, allowed in str(exc))

    def test_fallback_must_name_another_sink(self) -> None:
        """A fallback names another sink; the message lists them."""
        exc = error(
            {"sinks": [{"type": "console", "fallback": "spool"}, {"type": "file", "path": "x"}]}
        )

        assert "sinks[0].fallback: expected the name of another sink (file), got 'spool'" == str(
            exc
        )

    def test_fallback_not_itself(self) -> None:
        """A sink is not its own fallback."""

        assert (
            "sinks[0].fallback"
            == error({"sinks": [{"type": "console", "fallback": "console"}]}).path
        )

    def test_fallback_loop(self) -> None:
        """A fallback chain that comes back to its start is refused, showing the loop."""
        exc = error(
            {
                "sinks": [
                    {"type": "console", "name": "a", "fallback": "b"},
                    {"type": "console", "name": "b", "fallback": "c"},
                    {"type": "console", "name": "c", "fallback": "a"},
                ]
            }
        )

        assert (
            "sinks[0].fallback: expected a fallback chain without a loop (a -> b -> c -> a), got 'b'"
            == str(exc)
        )

    def test_sink_config_items_pass_through(self) -> None:
        """A SinkConfig in the list is kept as it is, and counted for names."""
        ready = SinkConfig(type="file", name="file", options=MappingProxyType({"path": "x"}))
        sinks = validate({"sinks": [ready, {"type": "file", "path": "y"}]}).sinks

        assert (ready, "file-2") == (sinks[0], sinks[1].name)


class TestConsoleOptions:
    def test_defaults(self) -> None:
        """A console sink writes to stderr, colour decided later."""

        assert {"stream": "stderr", "color": None} == dict(sink(type="console").options)

    def test_stdout_and_color(self) -> None:
        """Stream and colour can be set."""

        assert {"stream": "stdout", "color": False} == dict(
            sink(type="console", stream="stdout", color=False).options
        )

    def test_bad_stream(self) -> None:
        """Only stderr and stdout are streams."""

        assert "sinks[0].stream: expected one of stderr, stdout, got 'stdlog'" == str(
            error({"sinks": [{"type": "console", "stream": "stdlog"}]})
        )


class TestFileOptions:
    def test_defaults(self) -> None:
        """A file sink needs only a path; the rest has defaults."""

        assert {
            "path": "app.log",
            "mode": 0o640,
            "rotation": None,
            "retention": None,
            "compression": "none",
            "archive_dir": None,
            "audit": False,
            "audit_key_env": None,
            "audit_key_file": None,
            "audit_checkpoint": None,
            "audit_run": None,
        } == dict(sink(type="file", path="app.log").options)

    def test_path_required(self) -> None:
        """A file sink without a path is refused."""

        assert "sinks[0].path: expected a value (this key is required), got nothing" == str(
            error({"sinks": [{"type": "file"}]})
        )

    def test_pathlike(self) -> None:
        """A Path object is taken as its string."""

        assert "logs/a.log" == sink(type="file", path=Path("logs/a.log")).options["path"]

    @pytest.mark.parametrize(
        ("value", "expected"), [(0o600, 0o600), ("0640", 0o640), ("0o644", 0o644), ("600", 0o600)]
    )
    def test_mode(self, value: object, expected: int) -> None:
        """A mode is an int (TOML 0o640) or an octal string."""

        assert expected == sink(type="file", path="x", mode=value).options["mode"]

    @pytest.mark.parametrize("value", ["rw-r-----", "0800", 0o10000, -1, True])
    def test_bad_mode(self, value: object) -> None:
        """Anything else is not a mode."""

        assert (
            "sinks[0].mode" == error({"sinks": [{"type": "file", "path": "x", "mode": value}]}).path
        )

    def test_compression_defaults_to_gzip_with_rotation(self) -> None:
        """Rotated files are gzip-compressed unless told otherwise."""

        assert ("gzip", "zstd") == (
            sink(type="file", path="x", rotation={"size": 10}).options["compression"],
            sink(type="file", path="x", rotation={"size": 10}, compression="zstd").options[
                "compression"
            ],
        )

    @pytest.mark.parametrize(
        ("rotation", "expected"),
        [
            (
                {"size": "10 MiB"},
                {"size": 10 * 2**20, "when": None, "interval": None, "at": None, "weekday": None},
            ),
            (
                {"when": "hourly"},
                {"size": None, "when": "hourly", "interval": None, "at": None, "weekday": None},
            ),
            (
                {"when": "daily"},
                {
                    "size": None,
                    "when": "daily",
                    "interval": None,
                    "at": time(0, 0),
                    "weekday": None,
                },
            ),
            (
                {"when": "daily@02:30"},
                {
                    "size": None,
                    "when": "daily",
                    "interval": None,
                    "at": time(2, 30),
                    "weekday": None,
                },
            ),
            (
                {"when": "daily", "at": "23:05"},
                {
                    "size": None,
                    "when": "daily",
                    "interval": None,
                    "at": time(23, 5),
                    "weekday": None,
                },
            ),
            (
                {"when": "weekly"},
                {"size": None, "when": "weekly", "interval": None, "at": time(0, 0), "weekday": 0},
            ),
            (
                {"when": "weekly@fri"},
                {"size": None, "when": "weekly", "interval": None, "at": time(0, 0), "weekday": 4},
            ),
            (
                {"when": "Weekly@Sunday", "at": "6:00"},
                {"size": None, "when": "weekly", "interval": None, "at": time(6, 0), "weekday": 6},
            ),
            (
                {"when": "6h", "size": 100},
                {"size": 100, "when": "interval", "interval": 21600.0, "at": None, "weekday": None},
            ),
            (
                {"when": 90},
                {"size": None, "when": "interval", "interval": 90.0, "at": None, "weekday": None},
            ),
        ],
    )
    def test_rotation_forms(self, rotation: dict[str, object], expected: dict[str, object]) -> None:
        """Every way of writing a rotation becomes one normalised table."""

        assert expected == dict(sink(type="file", path="x", rotation=rotation).options["rotation"])

    @pytest.mark.parametrize(
        ("rotation", "path", "value"),
        [
            ({}, "sinks[0].rotation", {}),
            ({"at": "02:00"}, "sinks[0].rotation", {"at": time(2, 0)}),
            ({"when": "monthly"}, "sinks[0].rotation.when", "monthly"),
            ({"when": "daily@25:00"}, "sinks[0].rotation.when", "25:00"),
            ({"when": "weekly@someday"}, "sinks[0].rotation.when", "weekly@someday"),
            ({"when": "0s"}, "sinks[0].rotation.when", "0s"),
            ({"when": "hourly", "at": "02:00"}, "sinks[0].rotation.at", time(2, 0)),
            ({"when": "daily@01:00", "at": "02:00"}, "sinks[0].rotation.at", time(2, 0)),
            ({"when": "daily", "at": "2pm"}, "sinks[0].rotation.at", "2pm"),
            ({"size": 0}, "sinks[0].rotation.size", 0),
            ({"size": 1, "at": "02:00"}, "sinks[0].rotation.at", time(2, 0)),
        ],
    )
    def test_rotation_errors(self, rotation: dict[str, object], path: str, value: object) -> None:
        """Bad rotations name the key and the value."""
        exc = error({"sinks": [{"type": "file", "path": "x", "rotation": rotation}]})

        assert (path, value) == (exc.path, exc.value)

    def test_bad_when_lists_forms(self) -> None:
        """An unreadable when lists the forms it may take."""

        assert "hourly, daily, daily@HH:MM, weekly, weekly@DAY (mon..sun), or an interval" in str(
            error({"sinks": [{"type": "file", "path": "x", "rotation": {"when": "monthly"}}]})
        )

    def test_retention(self) -> None:
        """Retention ages are seconds and sizes bytes; unset keys are None."""
        retention = sink(
            type="file",
            path="x",
            retention={
                "max_age": "90d",
                "archive_max_age": "2w",
                "min_age": "1h",
                "min_free_disk": 0,
            },
        ).options["retention"]

        assert {
            "max_age": 7776000.0,
            "archive_max_age": 1209600.0,
            "max_files": None,
            "max_total_size": None,
            "min_free_disk": 0,
            "min_age": 3600.0,
        } == dict(retention)

    @pytest.mark.parametrize(
        ("retention", "path"),
        [
            ({"max_age": "-1d"}, "sinks[0].retention.max_age"),
            ({"max_files": 0}, "sinks[0].retention.max_files"),
            ({"max_total_size": "-5 GiB"}, "sinks[0].retention.max_total_size"),
            ({"keep": 3}, "sinks[0].retention.keep"),
        ],
    )
    def test_retention_errors(self, retention: dict[str, object], path: str) -> None:
        """Bad retention values are named by path."""

        assert (
            path == error({"sinks": [{"type": "file", "path": "x", "retention": retention}]}).path
        )

    def test_audit_key_env_needs_audit(self) -> None:
        """An HMAC key variable only makes sense on an audit sink."""

        exc = error({"sinks": [{"type": "file", "path": "x", "audit_key_env": "AUDIT_KEY"}]})
        audit = sink(type="file", path="x", audit=True, audit_key_env="AUDIT_KEY")

        assert ("sinks[0].audit_key_env", "AUDIT_KEY") == (exc.path, audit.options["audit_key_env"])


class TestSyslogOptions:
    @pytest.mark.parametrize(
        ("address", "expected"),
        [
            ("udp://10.0.0.1", ("udp", "10.0.0.1", 514, None)),
            ("tcp://127.0.0.1:5514", ("tcp", "127.0.0.1", 5514, None)),
            ("tls://logs.example.com", ("tls", "logs.example.com", 6514, None)),
            ("tcp://[::1]:601", ("tcp", "::1", 601, None)),
            ("unix:///dev/log", ("unix", None, None, "/dev/log")),
        ],
    )
    def test_address(self, address: str, expected: tuple[object, ...]) -> None:
        """An address is split into transport, host, port and socket path."""
        options = sink(type="syslog", address=address).options

        assert expected == (
            options["transport"],
            options["host"],
            options["port"],
            options["socket_path"],
        )

    @pytest.mark.parametrize(
        "address",
        [
            "127.0.0.1:514",
            "http://x:514",
            "tcp://",
            "tcp://h:99999",
            "tcp://h:x",
            "unix://",
            "tcp://h/path",
        ],
    )
    def test_bad_address(self, address: str) -> None:
        """Other addresses are refused with the forms allowed."""
        exc = error({"sinks": [{"type": "syslog", "address": address}]})

        assert ("sinks[0].address", address, True) == (
            exc.path,
            exc.value,
            "udp://host:514, tcp://host:514, tls://host:6514 or unix:///dev/log" in str(exc),
        )

    def test_defaults(self) -> None:
        """Facility user, five-second timeout, the rest unset."""
        options = sink(type="syslog", address="udp://h").options

        assert (1, 5.0, None, None) == (
            options["facility"],
            options["timeout"],
            options["app_name"],
            options["sd_id"],
        )

    @pytest.mark.parametrize(
        ("facility", "expected"),
        [("local0", 16), ("LOCAL7", 23), ("daemon", 3), ("audit", 13), (0, 0), (23, 23)],
    )
    def test_facility(self, facility: object, expected: int) -> None:
        """A facility is a name or a number, stored as its number."""

        assert (
            expected
            == sink(type="syslog", address="udp://h", facility=facility).options["facility"]
        )

    @pytest.mark.parametrize(
        ("key", "value"),
        [
            ("facility", "local8"),
            ("facility", 24),
            ("app_name", "has space"),
            ("app_name", "x" * 49),
            ("sd_id", "tapelog"),
            ("sd_id", "tap=log@32473"),
            ("sd_id", "a" * 30 + "@32473"),
            ("timeout", "0s"),
        ],
    )
    def test_bad_values(self, key: str, value: object) -> None:
        """RFC 5424 limits on names and ids are checked."""
        exc = error({"sinks": [{"type": "syslog", "address": "udp://h", key: value}]})

        assert (f"sinks[0].{key}", value) == (exc.path, exc.value)

    def test_sd_id(self) -> None:
        """An SD-ID with an enterprise number is taken."""

        assert (
            "tapelog@32473"
            == sink(type="syslog", address="udp://h", sd_id="tapelog@32473").options["sd_id"]
        )

    def test_tls_files_only_with_tls(self) -> None:
        """Certificates only go with a tls:// address."""

        exc = error({"sinks": [{"type": "syslog", "address": "tcp://h", "ca_file": "ca.pem"}]})

        assert ("sinks[0].ca_file", "ca.pem") == (exc.path, exc.value)

    def test_key_needs_cert(self) -> None:
        """A private key without its certificate is refused."""

        assert (
            "sinks[0].key_file"
            == error(
                {"sinks": [{"type": "syslog", "address": "tls://h", "key_file": "k.pem"}]}
            ).path
        )


class TestHttpOptions:
    def test_defaults(self) -> None:
        """An http sink needs a URL; batching, retry and timeouts have defaults."""

        assert {
            "url": "https://logs.example.com/in",
            "headers": {},
            "batch": {"max_records": 1000, "max_bytes": 2**20, "max_delay": 1.0},
            "gzip": False,
            "timeout": 10.0,
            "retry": {"initial_delay": 0.5, "max_delay": 30.0, "max_attempts": 5},
            "spool_dir": None,
            "spool_max_size": 100 * 2**20,
            "ca_file": None,
            "cert_file": None,
            "key_file": None,
            "proxy": None,
        } == {
            k: dict(v) if isinstance(v, MappingProxyType) else v
            for k, v in sink(type="http", url="https://logs.example.com/in").options.items()
        }

    @pytest.mark.parametrize("proxy", ["http://proxy:3128", "http://u:p@10.0.0.1:8080", "none"])
    def test_proxy_accepted(self, proxy: str) -> None:
        """An http:// proxy with host and port, or "none"."""
        assert proxy == sink(type="http", url="https://h/", proxy=proxy).options["proxy"]

    @pytest.mark.parametrize("proxy", ["https://proxy:3128", "socks5://p:1080", "http://p", 3128])
    def test_proxy_refused(self, proxy: object) -> None:
        """Anything else names the key and what is allowed."""
        exc = error({"sinks": [{"type": "http", "url": "https://h/", "proxy": proxy}]})

        assert "sinks[0].proxy" == exc.path
        assert "http:// proxy URL" in str(exc)

    def test_values(self) -> None:
        """Headers, batch and retry tables are read and normalised."""
        options = sink(
            type="http",
            url="http://h/",
            headers={"Authorization": "Bearer x"},
            batch={"max_bytes": "512 KiB", "max_delay": "250ms"},
            retry={"max_delay": "1m"},
            spool_max_size="1 GiB",
        ).options

        assert ({"Authorization": "Bearer x"}, 2**19, 0.25, 1000, 60.0, 2**30) == (
            dict(options["headers"]),
            options["batch"]["max_bytes"],
            options["batch"]["max_delay"],
            options["batch"]["max_records"],
            options["retry"]["max_delay"],
            options["spool_max_size"],
        )

    @pytest.mark.parametrize(
        ("table", "path"),
        [
            ({}, "sinks[0].url"),
            ({"url": "ftp://h"}, "sinks[0].url"),
            ({"url": "http://"}, "sinks[0].url"),
            ({"url": "http://h", "headers": {"Bad Name": "x"}}, "sinks[0].headers.Bad Name"),
            ({"url": "http://h", "headers": {"X": "a\r\nInjected: 1"}}, "sinks[0].headers.X"),
            ({"url": "http://h", "batch": {"max_delay": "soon"}}, "sinks[0].batch.max_delay"),
            ({"url": "http://h", "batch": {"max_records": 0}}, "sinks[0].batch.max_records"),
            ({"url": "http://h", "retry": {"max_attempts": 0}}, "sinks[0].retry.max_attempts"),
            ({"url": "http://h", "gzip": "yes"}, "sinks[0].gzip"),
            ({"url": "http://h", "spool_max_size": "lots"}, "sinks[0].spool_max_size"),
        ],
    )
    def test_errors(self, table: dict[str, object], path: str) -> None:
        """Bad http values are named by path."""

        assert path == error({"sinks": [{"type": "http", **table}]}).path

    def test_batch_message(self) -> None:
        """A nested bad duration reads with its whole path."""

        assert str(
            error(
                {
                    "sinks": [
                        {"type": "console"},
                        {"type": "console"},
                        {"type": "http", "url": "http://h", "batch": {"max_delay": "soon"}},
                    ]
                }
            )
        ).startswith('sinks[2].batch.max_delay: expected a duration like "90d"')


class TestOtlpOptions:
    def test_default_endpoint(self) -> None:
        """Without endpoint or url, OTLP goes to the local collector's logs path."""

        options = sink(type="otlp").options

        assert ("http://localhost:4318/v1/logs", None) == (options["url"], options["endpoint"])

    def test_endpoint_gets_logs_path(self) -> None:
        """An endpoint is a base URL; /v1/logs is added."""

        assert (
            "https://otel:4318/v1/logs"
            == sink(type="otlp", endpoint="https://otel:4318/").options["url"]
        )

    def test_url_is_used_as_is(self) -> None:
        """A url is the full address."""

        assert "http://h/custom" == sink(type="otlp", url="http://h/custom").options["url"]

    def test_not_both(self) -> None:
        """Endpoint and url together are refused."""

        assert (
            "sinks[0].url"
            == error({"sinks": [{"type": "otlp", "url": "http://a", "endpoint": "http://b"}]}).path
        )

    def test_resource(self) -> None:
        """Resource attributes are a string table, like batch and headers for http."""
        options = sink(
            type="otlp", resource={"service.name": "px"}, batch={"max_records": 5}
        ).options

        assert ({"service.name": "px"}, 5) == (
            dict(options["resource"]),
            options["batch"]["max_records"],
        )

    def test_bad_resource(self) -> None:
        """Resource values are strings."""

        assert (
            "sinks[0].resource.n" == error({"sinks": [{"type": "otlp", "resource": {"n": 1}}]}).path
        )


class TestRegistry:
    @pytest.fixture(autouse=True)
    def _restore(self) -> Any:
        saved = dict(_REGISTRY)
        yield
        _REGISTRY.clear()
        _REGISTRY.update(saved)

    def test_callable(self) -> None:
        """A new type validates with any callable taking the path and the options."""
        register_sink_options(
            "kafka", lambda path, options: {"topic": str(options["topic"]), "at": path}
        )

        kafka = sink(type="kafka", topic="logs")

        assert ("kafka", {"topic": "logs", "at": "sinks[0]"}) == (kafka.name, dict(kafka.options))

    def test_extended_table(self) -> None:
        """A later feature adds a key to a built-in type by extending its table."""
        register_sink_options("file", FILE_OPTIONS.extend(fsync=Option(boolean, default=False)))

        assert (True, "sinks[0].fsync") == (
            sink(type="file", path="x", fsync=True).options["fsync"],
            error({"sinks": [{"type": "file", "path": "x", "fsync": "always"}]}).path,
        )

    def test_table_for_new_type(self) -> None:
        """A Table registers as it is, and its unknown keys list the common keys too."""
        register_sink_options("null", Table({"quiet": Option(boolean, default=True)}))

        message = str(error({"sinks": [{"type": "null", "loud": 1}]}))

        assert (
            {"quiet": True},
            (
                "sinks[0].loud: expected a known key (type, name, level, format, filter, "
                "sample, fallback or quiet), got 'loud'"
            ),
        ) == (dict(sink(type="null").options), message)


class TestOrigins:
    def test_given_keys_are_dict_and_the_rest_default(self) -> None:
        """Without origins, keys given come from a dict and every other path is a default."""
        origins = validate({"level": "debug", "queue": {"size": 5}}).origins

        assert ("dict", "dict", "default", "default", "default", "default") == (
            origins["level"],
            origins["queue.size"],
            origins["queue.overflow"],
            origins["format"],
            origins["sinks"],
            origins["metrics.thresholds"],
        )

    def test_origins_passed_in_are_kept(self) -> None:
        """Given origins are kept, with defaults added for the rest."""
        origins = validate({"level": "debug"}, origins={"level": "env:TAPELOG_LEVEL"}).origins

        assert ("env:TAPELOG_LEVEL", "default") == (origins["level"], origins["levels"])

    def test_error_names_its_source(self) -> None:
        """An error says which source the bad value came from."""
        with pytest.raises(ConfigError) as info:
            validate({"queue": {"size": 0}}, origins={"queue.size": "file:/etc/app.toml"})

        assert (
            "file:/etc/app.toml",
            "queue.size: expected an integer of at least 1, got 0 (from file:/etc/app.toml)",
        ) == (
            info.value.source,
            str(info.value),
        )

    def test_error_source_from_enclosing_table(self) -> None:
        """A path not recorded itself takes its nearest recorded table's source."""
        with pytest.raises(ConfigError) as info:
            validate({"queue": {"sise": 1}}, origins={"queue": "overrides"})

        assert "overrides" == info.value.source
