"""Tests for tapelog.formats.ConsoleFormat and should_color."""

from __future__ import annotations

import io
import traceback

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.formats_data import ENTRY as BASE
from tests.formats_data import LINE_BREAKS

from tapelog.formats import ConsoleFormat, should_color


BIDI_CONTROLS = {
    chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
}


MARK = ConsoleFormat.CONTINUATION


def render(color: bool = False, **fields: object) -> list[str]:
    """Format BASE updated with ``fields`` and return its lines."""
    out = ConsoleFormat(color=color)({**BASE, **fields})
    assert out.endswith(b"\n")
    return out.decode().splitlines()


def real_error() -> dict[str, object]:
    """Return an error object made from a real chained exception, as tapelog.errors would."""
    try:
        try:
            raise TimeoutError("connect timed out")
        except TimeoutError as exc:
            raise ConnectionError(
                "proxy 203.0.113.7 down\n2026-11-23 07:01:02.000000 INFO forged"
            ) from exc
    except ConnectionError as exc:
        return {
            "type": "ConnectionError",
            "message": str(exc),
            "stack_trace": "".join(traceback.format_exception(exc)),
        }


class TestConsoleFormat:
    def test_layout(self) -> None:
        """Time without T and Z, padded level and logger, message, then logfmt fields."""
        lines = render(trade={"side": "buy", "order_qty": "10"}, note="two words")

        expected = (
            "2026-11-23 07:01:02.123456 INFO     trading          order filled"
            '                    trade.side=buy trade.order_qty="10" note="two words"'
        )

        assert [expected] == lines

    def test_no_fields_no_padding(self) -> None:
        """A line without fields ends at the message."""
        assert ["2026-11-23 07:01:02.123456 INFO     trading          order filled"] == render()

    @pytest.mark.parametrize("level", ["trace", "debug", "info", "warning", "error", "critical"])
    def test_levels_align(self, level: str) -> None:
        """Every level name takes the same width, so loggers line up."""
        (line,) = render(level=level)

        assert f"{level.upper():<8} trading " == line[27:44]

    def test_long_logger_still_separated(self) -> None:
        """A logger longer than the column is followed by one space."""
        (line,) = render(logger="a.very.long.logger.name.here")

        assert line.endswith(" a.very.long.logger.name.here order filled")

    def test_required_keys_are_not_repeated(self) -> None:
        """Only the fields beyond timestamp, level, logger and message follow the message."""
        (line,) = render(event="order.filled", seq=7)

        assert line.endswith("  event=order.filled seq=7")
        assert 1 == line.count("trading")

    @pytest.mark.parametrize("char", LINE_BREAKS)
    def test_line_breaks_are_escaped(self, char: str) -> None:
        """A line break in the message, the logger or a field stays on the line, escaped."""
        lines = render(message=f"a{char}b", logger=f"x{char}y", field=f"c{char}d")

        assert 1 == len(lines)

    def test_message_escapes_controls_but_not_quotes(self) -> None:
        """The message shows controls escaped, and quotes and backslashes as they are."""
        (line,) = render(message='say "hi"\tC:\\tmp\n\x1b[31mred\x85')

        assert line.endswith('say "hi"\\tC:\\tmp\\n\\u001b[31mred\\u0085')

    def test_no_escape_sequences_from_values(self) -> None:
        """A value cannot inject terminal escape sequences."""
        out = ConsoleFormat()({**BASE, "message": "\x1b]0;pwned\x07", "v": "\x1b[2J", "\x1b": 1})

        assert b"\x1b" not in out

    @pytest.mark.parametrize(
        "char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200f", "\u061c", "\u200b", "\ufeff"]
    )
    def test_bidi_and_invisible_characters_are_shown_escaped(self, char: str) -> None:
        """A value cannot reorder or hide what the terminal shows (Trojan Source)."""
        out = ConsoleFormat()({**BASE, "message": f"pay{char}usd", "to": f"acct{char}1"})
        text = out.decode()

        assert char not in text
        assert f"pay\\u{ord(char):04x}usd" in text
        assert f"acct\\u{ord(char):04x}1" in text

    def test_joiners_that_scripts_and_emoji_need_are_kept(self) -> None:
        """ZWJ and ZWNJ are not hidden-text tricks: an emoji sequence shows as itself."""
        family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
        out = ConsoleFormat()({**BASE, "message": family})

        assert family in out.decode()

    @given(st.lists(st.sampled_from(sorted(BIDI_CONTROLS)) | st.characters()).map("".join))
    def test_no_bidi_control_survives_any_text(self, text: str) -> None:
        """Whatever the message and a field hold, no bidirectional control is written."""
        out = ConsoleFormat()({**BASE, "message": text, "note": text}).decode()

        assert not set(out) & BIDI_CONTROLS

    def test_no_color_no_escapes(self) -> None:
        """Without colour the output holds no ANSI escape."""
        out = ConsoleFormat()({**BASE, "k": 1, "error": real_error()})

        assert b"\x1b" not in out

    def test_color(self) -> None:
        """With colour the level is coloured and keys are dim."""
        (line,) = render(color=True, level="error", k="v")

        assert "\x1b[31mERROR   \x1b[0m" in line
        assert "\x1b[2mk=\x1b[0mv" in line

    def test_stack_trace_on_continuation_lines(self) -> None:
        """An error's stack trace follows the line, each line after the marker."""
        error = real_error()
        lines = render(level="error", error=error)

        assert "error=" not in lines[0]
        assert [MARK + line for line in str(error["stack_trace"]).splitlines()] == lines[1:]
        assert (
            f"{MARK}The above exception was the direct cause of the following exception:" in lines
        )
        assert lines[-1] == f"{MARK}2026-11-23 07:01:02.000000 INFO forged"

    def test_error_without_stack_trace(self) -> None:
        """Without a stack trace an error shows as type: message."""
        lines = render(error={"type": "ValueError", "message": "bad qty"})

        assert [f"{MARK}ValueError: bad qty"] == lines[1:]

    def test_error_with_empty_message(self) -> None:
        """An error without a message shows its type alone, as Python does."""
        lines = render(error={"type": "KeyboardInterrupt", "message": ""})

        assert [f"{MARK}KeyboardInterrupt"] == lines[1:]

    def test_chained_errors_without_stack_traces(self) -> None:
        """A cause, a context, notes and group members read as Python would print them."""
        error = {
            "type": "ExceptionGroup",
            "message": "checks failed (2 sub-exceptions)",
            "notes": ["proxy pool: eu-1"],
            "exceptions": [
                {"type": "TimeoutError", "message": "a"},
                {"type": "OSError", "message": "b\nsecond line"},
            ],
            "cause": {
                "type": "RuntimeError",
                "message": "pool empty",
                "context": {"type": "KeyError", "message": "'eu-1'"},
            },
        }

        lines = render(error=error)

        assert [
            f"{MARK}KeyError: 'eu-1'",
            MARK,
            f"{MARK}During handling of the above exception, another exception occurred:",
            MARK,
            f"{MARK}RuntimeError: pool empty",
            MARK,
            f"{MARK}The above exception was the direct cause of the following exception:",
            MARK,
            f"{MARK}ExceptionGroup: checks failed (2 sub-exceptions)",
            f"{MARK}proxy pool: eu-1",
            f"{MARK}+---- 1 ----",
            f"{MARK}| TimeoutError: a",
            f"{MARK}+---- 2 ----",
            f"{MARK}| OSError: b",
            f"{MARK}| second line",
        ] == lines[1:]

    def test_group_member_that_is_not_an_object(self) -> None:
        """A group member that is not an error object is shown as text."""
        lines = render(error={"type": "ExceptionGroup", "message": "m", "exceptions": ["odd"]})

        assert [f"{MARK}ExceptionGroup: m", f"{MARK}+---- 1 ----", f"{MARK}| odd"] == lines[1:]

    def test_stack_trace_controls_are_escaped(self) -> None:
        """Tabs expand and controls are escaped on continuation lines."""
        lines = render(error={"type": "E", "message": "m", "stack_trace": "a\tb\x1b[2J\x85c"})

        assert [f"{MARK}a   b\\u001b[2J", f"{MARK}c"] == lines[1:]

    def test_coloured_error_keeps_the_marker_first(self) -> None:
        """With colour every continuation line still starts with the plain marker."""
        lines = render(color=True, error=real_error())

        assert all(line.startswith(MARK) for line in lines[1:])

    def test_error_that_is_not_an_object_is_a_field(self) -> None:
        """An error value that is not an object is written like any other field."""
        assert [line.endswith('error="disk full"') for line in render(error="disk full")] == [True]

    def test_cyclic_error_chain_ends(self) -> None:
        """An error that is its own cause is cut after a fixed depth."""
        error: dict[str, object] = {"type": "E", "message": "loop"}
        error["cause"] = error

        lines = render(error=error)

        assert f"{MARK}..." == lines[1]

    def test_odd_entries_still_give_a_line(self) -> None:
        """Missing or mistyped required keys still give one readable line."""
        out = ConsoleFormat()({"level": 5, "message": None, "timestamp": 1.5})

        assert b"1.5 5" in out
        assert out.endswith(b"None\n")

    def test_hostile_entry_still_gives_a_line(self) -> None:
        """An entry whose iteration raises still gives one line naming the failure."""

        class Hostile(dict[str, object]):
            def items(self) -> object:  # type: ignore[override]
                raise RuntimeError("boom\nforged")

        out = ConsoleFormat()(Hostile(BASE))

        assert out.startswith(b"<console format failed: boom\\nforged> ")
        assert 1 == len(out.decode().splitlines())

    def test_repr(self) -> None:
        """The repr shows whether it colours."""
        assert "ConsoleFormat(color=False)" == repr(ConsoleFormat())


class FakeStream(io.StringIO):
    """A stream that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


class BrokenStream:
    """A stream whose isatty raises, as a closed file's does."""

    def isatty(self) -> bool:
        raise ValueError("I/O operation on closed file")


@pytest.fixture(name="clean_env")
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("NO_COLOR", "FORCE_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


class TestShouldColor:
    def test_terminal(self, clean_env: pytest.MonkeyPatch) -> None:
        """A terminal with no opt-out gets colour."""
        assert should_color(FakeStream(tty=True))

    def test_not_a_terminal(self, clean_env: pytest.MonkeyPatch) -> None:
        """A file or pipe gets no colour."""
        assert not should_color(FakeStream(tty=False))

    @pytest.mark.parametrize(("value", "expected"), [("1", False), ("", True)])
    def test_no_color(self, clean_env: pytest.MonkeyPatch, value: str, expected: bool) -> None:
        """NO_COLOR set to anything but the empty string turns colour off."""
        clean_env.setenv("NO_COLOR", value)

        assert expected == should_color(FakeStream(tty=True))

    def test_dumb_terminal(self, clean_env: pytest.MonkeyPatch) -> None:
        """TERM=dumb turns colour off."""
        clean_env.setenv("TERM", "dumb")

        assert not should_color(FakeStream(tty=True))

    def test_force_color(self, clean_env: pytest.MonkeyPatch) -> None:
        """FORCE_COLOR forces colour, even to a pipe and over NO_COLOR."""
        clean_env.setenv("FORCE_COLOR", "1")
        clean_env.setenv("NO_COLOR", "1")

        assert should_color(FakeStream(tty=False))

    def test_empty_force_color_is_ignored(self, clean_env: pytest.MonkeyPatch) -> None:
        """FORCE_COLOR set to the empty string forces nothing."""
        clean_env.setenv("FORCE_COLOR", "")

        assert not should_color(FakeStream(tty=False))

    @pytest.mark.parametrize("stream", [object(), BrokenStream(), None])
    def test_odd_streams(self, clean_env: pytest.MonkeyPatch, stream: object) -> None:
        """A stream without a working isatty gets no colour."""
        assert not should_color(stream)
