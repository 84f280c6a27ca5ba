"""Sizes and durations in every form a user may write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

import tapelog
from tapelog.config import parse_duration, parse_size


KiB, MiB, GiB, TiB = 2**10, 2**20, 2**30, 2**40


class TestParseSize:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1048576, MiB),
            (0, 0),
            (1024.0, KiB),
            ("1048576", MiB),
            ("10 B", 10),
            ("10b", 10),
            ("10 bytes", 10),
            ("512k", 512_000),
            ("512 K", 512_000),
            ("2 kB", 2000),
            ("2KB", 2000),
            ("3 MB", 3_000_000),
            ("3m", 3_000_000),
            ("1.5GB", 1_500_000_000),
            ("2 TB", 2 * 10**12),
            ("1 KiB", KiB),
            ("1kib", KiB),
            ("100 MiB", 100 * MiB),
            ("100 mib", 100 * MiB),
            ("100MI", 100 * MiB),
            ("5 GiB", 5 * GiB),
            ("1 TiB", TiB),
            ("0.5 KiB", 512),
            (".5 KiB", 512),
            ("1.3 KiB", 1331),
            ("  7 MiB  ", 7 * MiB),
        ],
    )
    def test_forms(self, value: object, expected: int) -> None:
        """Numbers are bytes; KiB-style units are binary and kB-style decimal, any case."""

        assert expected == parse_size(value)

    def test_fraction_rounds_to_nearest_byte(self) -> None:
        """A fractional result rounds half up to a whole byte."""

        assert (2, 1) == (parse_size(1.5), parse_size("1.2 B"))

    def test_result_is_int(self) -> None:
        """Sizes are always ints, even from a float or a decimal unit."""

        assert {int} == {type(parse_size(v)) for v in (1.0, "1.5GB", "1 KiB")}

    @pytest.mark.parametrize(
        "value",
        [
            "huge",
            "",
            "MiB",
            "-1",
            -1,
            -0.5,
            "1 XB",
            "1 MiBs",
            "1e6",
            "1,000",
            "1 2",
            True,
            None,
            float("nan"),
            float("inf"),
            [1],
            timedelta(1),
        ],
    )
    def test_rejects(self, value: object) -> None:
        """Anything else raises ValueError naming the value and the expected form."""
        with pytest.raises(ValueError) as info:
            parse_size(value)

        assert f'expected a size like "100 MiB" or a number of bytes, got {value!r}' == str(
            info.value
        )


class TestParseDuration:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (3, 3.0),
            (0, 0.0),
            (2.5, 2.5),
            (timedelta(minutes=2), 120.0),
            ("10", 10.0),
            ("1.5", 1.5),
            ("1s", 1.0),
            ("1 s", 1.0),
            ("1 sec", 1.0),
            ("2 seconds", 2.0),
            ("250ms", 0.25),
            ("300ms", 0.3),
            ("500us", 0.0005),
            ("500\N{MICRO SIGN}s", 0.0005),
            ("500\N{GREEK SMALL LETTER MU}s", 0.0005),
            ("100ns", 1e-7),
            ("5m", 300.0),
            ("5 min", 300.0),
            ("2h", 7200.0),
            ("1.5 hours", 5400.0),
            ("1h30m", 5400.0),
            ("1h 30m 15s", 5415.0),
            ("1H30M", 5400.0),
            ("90d", 90 * 86400.0),
            ("10 days", 864000.0),
            ("2w", 14 * 86400.0),
            ("1 week", 604800.0),
        ],
    )
    def test_forms(self, value: object, expected: float) -> None:
        """Numbers and timedeltas are seconds; strings are one or more number-unit parts."""

        assert expected == parse_duration(value)

    def test_result_is_float(self) -> None:
        """Durations are always floats, even from an int."""

        assert float is type(parse_duration(10))

    @pytest.mark.parametrize(
        "value",
        [
            "soon",
            "",
            "s",
            "1h30",
            "1 fortnight",
            "-1s",
            -1,
            "1 s 2",
            "1y",
            "1ss",
            True,
            None,
            float("nan"),
            timedelta(seconds=-1),
            [1],
        ],
    )
    def test_rejects(self, value: object) -> None:
        """Anything else raises ValueError naming the value and the expected form."""
        with pytest.raises(ValueError) as info:
            parse_duration(value)

        assert f"got {value!r}" in str(info.value)
        assert str(info.value).startswith('expected a duration like "90d"')


class TestBounds:
    """#11 (defect 8): every duration and size has an upper bound, refused at configure()."""

    URL = "http://127.0.0.1:9/ingest"

    @pytest.mark.parametrize(
        ("config", "path", "expected"),
        [
            (
                {"sinks": [{"type": "http", "url": URL, "retry": {"initial_delay": 1e308}}]},
                "sinks[0].retry.initial_delay",
                "at most 100 years",
            ),
            (
                {"sinks": [{"type": "http", "url": URL, "retry": {"max_delay": 1e12}}]},
                "sinks[0].retry.max_delay",
                "at most 100 years",
            ),
            (
                {"sinks": [{"type": "http", "url": URL, "timeout": 1e308}]},
                "sinks[0].timeout",
                "at most 100 years",
            ),
            (
                {"sinks": [{"type": "http", "url": URL, "batch": {"max_delay": 1e300}}]},
                "sinks[0].batch.max_delay",
                "at most 100 years",
            ),
            (
                {"sinks": [{"type": "http", "url": URL, "spool_max_size": 1e300}]},
                "sinks[0].spool_max_size",
                "at most 1 PiB",
            ),
            (
                {"sinks": [{"type": "http", "url": URL, "batch": {"max_records": 10**30}}]},
                "sinks[0].batch.max_records",
                "at most 2147483647",
            ),
            (
                {"sinks": [{"type": "syslog", "address": "udp://127.0.0.1:514", "timeout": 1e308}]},
                "sinks[0].timeout",
                "at most 100 years",
            ),
            (
                {"sinks": [{"type": "file", "path": "x.jsonl", "rotation": {"size": 1e30}}]},
                "sinks[0].rotation.size",
                "at most 1 PiB",
            ),
            (
                {"sinks": [{"type": "file", "path": "x.jsonl", "rotation": {"when": "1e9h"}}]},
                "sinks[0].rotation.when",
                "one of hourly",
            ),
            (
                {
                    "sinks": [
                        {"type": "file", "path": "x.jsonl", "rotation": {"when": "999999999d"}}
                    ]
                },
                "sinks[0].rotation.when",
                "at most 100 years",
            ),
            ({"queue": {"block_timeout": 1e308}}, "queue.block_timeout", "at most 100 years"),
            ({"queue": {"size": 10**20}}, "queue.size", "at most 2147483647"),
        ],
    )
    def test_out_of_range_is_a_config_error_with_the_key(
        self, config: dict[str, object], path: str, expected: str
    ) -> None:
        with pytest.raises(tapelog.ConfigError) as caught:
            tapelog.configure(config)

        assert (path, True) == (caught.value.path, expected in str(caught.value))

    def test_the_largest_values_are_accepted_and_a_sink_runs_with_them(self) -> None:
        """At the bounds, a sink thread waits as asked instead of dying."""
        config = tapelog.configure(
            {
                "sinks": [
                    {
                        "type": "http",
                        "url": self.URL,
                        "timeout": "36500d",
                        "retry": {"initial_delay": "36500d", "max_delay": "36500d"},
                        "batch": {"max_delay": "36500d"},
                    }
                ]
            }
        )
        tapelog.get_logger("bounds").info("held for a century")

        assert 36500 * 86400.0 == config.sinks[0].options["timeout"]
        assert tapelog.flush(10)  # the held batch is sent (its one attempt fails): not lost
        sink = tapelog.stats().sinks[config.sinks[0].name]
        # The sink's own failure report may pass through it too (as timing decides), so
        # the user's entry is one of those accounted, not necessarily the only one.
        assert sink.spooled + sink.failed + sink.written >= 1

    def test_parse_functions_refuse_beyond_the_bounds(self) -> None:
        with pytest.raises(ValueError, match="at most 100 years"):
            parse_duration(1e308)
        with pytest.raises(ValueError, match="at most 1 PiB"):
            parse_size(2**51)
        assert 2**50 == parse_size(2**50)
