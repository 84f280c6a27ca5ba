"""``[clock] sync``: periodic ``clock.sync`` entries, written by their own thread.

The facts come from the real ``adjtimex`` call on Linux; only the test of the result on
a system without it pretends to be another platform (the call works here).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog.config import validate
from tapelog.exceptions import ConfigError
from tapelog.trading._clock import CONFIGURED, clock_status, log_clock_sync


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

_WAIT = 10.0  # a bound on waiting for entries, never the expected time


def _config(path: Path, clock: str) -> str:
    return (
        'level = "info"\n'
        '[fields]\ninclude = ["thread"]\n'
        f'[[sinks]]\ntype = "file"\npath = "{path}"\n'
        f"{clock}"
    )


def _clock_entries(path: Path) -> list[dict[str, Any]]:
    tapelog.flush(5)
    if not path.exists():
        return []
    return [e for e in read_jsonl(path) if e.get("event") == "clock.sync"]


def _wait_for(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + _WAIT
    while not check():
        assert time.monotonic() < deadline, "not within the bound"
        time.sleep(0.02)


class TestValidation:
    def test_absent_means_no_entries(self) -> None:
        assert validate({}).clock.sync is None

    @pytest.mark.parametrize(
        ("value", "seconds"), [("60s", 60.0), ("1m", 60.0), ("100ms", 0.1), (5, 5.0)]
    )
    def test_a_duration(self, value: object, seconds: float) -> None:
        assert validate({"clock": {"sync": value}}).clock.sync == seconds

    def test_false_means_none(self) -> None:
        assert validate({"clock": {"sync": False}}).clock.sync is None

    @pytest.mark.parametrize("value", ["0s", "50ms", -1, True, "soon", [1]])
    def test_bad_periods_name_the_key(self, value: object) -> None:
        with pytest.raises(ConfigError, match=r"clock\.sync: expected a duration of at least") as e:
            validate({"clock": {"sync": value}})
        assert e.value.path == "clock.sync"

    def test_bad_logger_names_the_key(self) -> None:
        with pytest.raises(ConfigError, match=r"clock\.logger: expected a logger name"):
            validate({"clock": {"sync": "1m", "logger": ""}})

    def test_unknown_key_is_refused(self) -> None:
        with pytest.raises(ConfigError, match=r"clock\.period"):
            validate({"clock": {"period": "1m"}})


class TestPeriodicEntries:
    def test_entries_at_the_period_from_their_own_thread(
        self, tmp_path: Path, validator: Any
    ) -> None:
        log = tmp_path / "app.jsonl"
        tapelog.configure(
            {
                "fields": {"include": ["thread"]},
                "sinks": [{"type": "file", "path": str(log)}],
                "clock": {"sync": "100ms", "logger": "trading.clock"},
            }
        )
        _wait_for(lambda: len(_clock_entries(log)) >= 3)
        entries = _clock_entries(log)
        for entry in entries:
            validator.validate(entry)
            assert entry["logger"] == "trading.clock"
            assert entry["thread"] == "tapelog-clock"
            assert entry["thread"] != threading.current_thread().name
        facts = entries[0]["clock"]
        # The same facts, with the same kinds of values, as the call reports right now.
        now = clock_status()
        assert set(facts) == set(now)
        assert facts["synchronized"] in {True, False, None}
        if sys.platform.startswith("linux"):
            assert facts["source"] == "adjtimex"
            assert isinstance(facts["synchronized"], bool)
            assert isinstance(facts["est_error_us"], int)
            assert isinstance(facts["max_error_us"], int)
            assert facts["max_error_us"] >= 0
        expected_level = "warning" if facts["synchronized"] is False else "info"
        assert entries[0]["level"] == expected_level

    def test_shutdown_stops_and_configure_starts_again(self, tmp_path: Path) -> None:
        log = tmp_path / "app.jsonl"
        config = {"sinks": [{"type": "file", "path": str(log)}], "clock": {"sync": "1h"}}
        tapelog.configure(config)
        assert CONFIGURED.running
        _wait_for(lambda: len(_clock_entries(log)) == 1)  # one at once, the next in an hour
        tapelog.shutdown(5)
        assert not CONFIGURED.running
        tapelog.configure(config)
        assert CONFIGURED.running
        _wait_for(lambda: len(_clock_entries(log)) == 2)

    def test_no_key_no_thread(self, tmp_path: Path) -> None:
        tapelog.configure({"sinks": [{"type": "file", "path": str(tmp_path / "a.jsonl")}]})
        assert not CONFIGURED.running


class TestReload:
    def test_a_reload_starts_changes_and_stops_the_entries(self, tmp_path: Path) -> None:
        log, conf = tmp_path / "app.jsonl", tmp_path / "tapelog.toml"
        conf.write_text(_config(log, ""), encoding="utf-8")
        tapelog.configure(str(conf))
        assert not CONFIGURED.running

        conf.write_text(_config(log, '[clock]\nsync = "1h"\n'), encoding="utf-8")
        assert tapelog.reload()
        assert CONFIGURED.running
        _wait_for(lambda: len(_clock_entries(log)) == 1)

        # Another key changes: the running thread is kept (no extra entry at once).
        running = CONFIGURED._sync  # pyright: ignore[reportPrivateUsage]
        conf.write_text(
            _config(log, '[clock]\nsync = "1h"\n').replace('"info"', '"debug"'), encoding="utf-8"
        )
        assert tapelog.reload()
        assert CONFIGURED._sync is running  # pyright: ignore[reportPrivateUsage]
        assert len(_clock_entries(log)) == 1
        # A shorter period: the new thread writes at once, then every 100ms.
        conf.write_text(_config(log, '[clock]\nsync = "100ms"\n'), encoding="utf-8")
        assert tapelog.reload()
        _wait_for(lambda: len(_clock_entries(log)) >= 3)
        changes = [
            c
            for e in read_jsonl(log)
            if e.get("event") == "config.changed"
            for c in e["changes"]
            if c["key"] == "clock.sync"
        ]
        assert [(c["old"], c["new"]) for c in changes] == [(None, 3600.0), (3600.0, 0.1)]

        conf.write_text(_config(log, ""), encoding="utf-8")
        assert tapelog.reload()
        assert not CONFIGURED.running  # joined: nothing more can be written
        count = len(_clock_entries(log))
        tapelog.get_logger("app").info("after")
        assert len(_clock_entries(log)) == count

    def test_a_bad_value_keeps_the_running_thread(self, tmp_path: Path) -> None:
        log, conf = tmp_path / "app.jsonl", tmp_path / "tapelog.toml"
        conf.write_text(_config(log, '[clock]\nsync = "1h"\n'), encoding="utf-8")
        tapelog.configure(str(conf))
        conf.write_text(_config(log, '[clock]\nsync = "10ms"\n'), encoding="utf-8")
        assert not tapelog.reload()
        assert CONFIGURED.running
        assert CONFIGURED.config is not None
        assert CONFIGURED.config.sync == 3600.0
        tapelog.flush(5)
        (failed,) = [e for e in read_jsonl(log) if e.get("event") == "config.reload_failed"]
        assert failed["key"] == "clock.sync"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_writes_its_own(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    tapelog.configure(
        {
            "fields": {"include": ["pid"]},
            "sinks": [{"type": "file", "path": str(log)}],
            "clock": {"sync": "1h"},
        }
    )
    _wait_for(lambda: len(_clock_entries(log)) == 1)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0 if CONFIGURED.running else 3
        deadline = time.monotonic() + _WAIT
        while not any(e.get("pid") == os.getpid() for e in _clock_entries(log)):
            if time.monotonic() > deadline:
                code = 4
                break
            time.sleep(0.02)
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert {e["pid"] for e in _clock_entries(log)} == {os.getpid(), pid}


def test_without_adjtimex_the_entry_says_unknown(
    tmp_path: Path, validator: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a system without ``adjtimex`` the entry is written and says it cannot know."""
    log = tmp_path / "app.jsonl"
    tapelog.configure({"sinks": [{"type": "file", "path": str(log)}]})
    monkeypatch.setattr(sys, "platform", "darwin")
    status = log_clock_sync()
    (entry,) = _clock_entries(log)
    validator.validate(entry)
    assert entry["clock"] == status
    assert status["source"] == "unavailable"
    assert status["synchronized"] is None
    assert status["resolution_ns"] >= 1
    assert entry["level"] == "info"
    assert entry["message"] == "clock state unknown"
