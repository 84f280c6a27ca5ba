"""The error object through every way out: OTLP (exception.* attributes), console, and the
``tapelog query --traceback`` command reading a log file back."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from tests import error_scenarios
from tests.integration.test_otlp_sink import _receiver, configure, received  # noqa: F401 - fixture

import tapelog
from tapelog.cli import main
from tapelog.errors import ErrorInfo
from tapelog.formats import ConsoleFormat
from tapelog.testing import capture as capture_entries


if TYPE_CHECKING:
    from pathlib import Path

    from tapelog.cli._collector import Collector


def _strategy_failure() -> None:
    api_key = "sk-live-abcdefghijklmnopqrstu"
    position = {"symbol": "BTC-USD", "qty": 3}
    _keep(api_key, position)
    error_scenarios._group()


def _keep(*values: object) -> None:
    del values


def test_otlp_carries_the_error_and_it_comes_back(receiver: Collector) -> None:
    """exception.type/message/stacktrace per the conventions; the rest rebuilds the traceback."""
    configure(receiver, errors={"locals": True})
    try:
        _strategy_failure()
    except ExceptionGroup:
        tapelog.get_logger("otlp.errors").exception("strategy crashed")
    (found,) = received(receiver, "otlp.errors", 1)
    attributes = found["attributes"]
    error = {
        "type": attributes["exception.type"],
        "message": attributes["exception.message"],
        **attributes["tapelog.error"],
    }

    assert "ExceptionGroup" == attributes["exception.type"]
    assert attributes["exception.stacktrace"] == ErrorInfo.from_dict(error).render(locals=False)
    assert "    api_key = '[REDACTED]'\n" in ErrorInfo.from_dict(error).render()


def test_console_shows_the_traceback_and_dims_locals() -> None:
    tapelog.configure({"errors": {"locals": True}})
    with capture_entries() as entries:
        try:
            _strategy_failure()
        except ExceptionGroup:
            tapelog.get_logger("strategy").exception("crashed")
        tapelog.flush()
    (entry,) = entries
    plain = ConsoleFormat(color=False)(entry).decode()
    colored = ConsoleFormat(color=True)(entry).decode()
    marker = ConsoleFormat.CONTINUATION

    body = [line.removeprefix(marker) for line in plain.splitlines()[1:]]
    assert ErrorInfo.from_dict(entry["error"]).render().splitlines() == body
    assert f"{marker}\x1b[2m  |     position = {{'symbol': 'BTC-USD', 'qty': 3}}\x1b[0m" in colored
    assert f"{marker}\x1b[31m    | ZeroDivisionError: division by zero\x1b[0m" in colored


@pytest.mark.parametrize("form", ["json", "logfmt"])
def test_query_prints_the_traceback_of_logged_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str
) -> None:
    """tapelog query --traceback: Python's traceback again, from the log file alone."""
    path = tmp_path / f"app.{form}"
    tapelog.configure({"sinks": [{"type": "file", "path": str(path), "format": form}]})
    log = tapelog.get_logger("strategy")
    log.info("started")
    exceptions = error_scenarios.exceptions()
    log.error("context_notes failed", exc_info=exceptions["context_notes"])
    log.error("group failed", exc_info=exceptions["group"])
    tapelog.flush()

    status = main(["query", str(path), "--traceback", "--where", "message=group failed"])
    out = capsys.readouterr().out

    assert 0 == status
    head, _, body = out.partition("\n")
    assert head.startswith("--- ")
    assert head.endswith(" error strategy group failed")
    import traceback

    assert "".join(traceback.format_exception(exceptions["group"])) + "\n" == body

    main(["query", str(path), "--traceback"])
    heads = [line for line in capsys.readouterr().out.splitlines() if line.startswith("--- ")]
    assert 2 == len(heads)  # "started" logged no error: skipped


def test_query_traceback_of_an_old_entry_without_frames(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An entry written before frames were recorded still shows its stack_trace text."""
    old = {
        "timestamp": "2026-11-23T07:01:02.123456Z",
        "level": "error",
        "logger": "old",
        "message": "failed",
        "error": {
            "type": "ValueError",
            "message": "bad",
            "stack_trace": "Traceback\nValueError: bad\n",
        },
    }
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(old) + "\n", encoding="utf-8")

    main(["query", str(path), "--traceback"])

    assert "ValueError: bad\n" in capsys.readouterr().out
