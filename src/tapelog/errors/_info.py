"""``ErrorInfo``: an exception as plain data, and the traceback text rebuilt from it.

The data holds everything Python's own traceback printer reads: per exception its type
as printed, its message, its notes, its frames (file, line, function, the source line and
the columns of the failing expression), how it links to the exceptions before it (cause
or context, and whether the context is suppressed) and, for an exception group, its
members. ``render()`` feeds that data to the standard library's frame formatter and
reproduces the rest of ``TracebackException.format`` here, so that, for an exception
captured without locals, ``render()`` is the text ``traceback.format_exception`` gives,
byte for byte, on the interpreter that captured it.

Nothing here imports, evaluates or opens anything named in the data: ``from_dict`` only
checks types and copies values, and rendering never reads a source file.
"""

from __future__ import annotations

import sys
import textwrap
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast


__all__ = ["NETWORK_KEYS", "ErrorInfo", "FrameInfo", "SyntaxInfo"]

NETWORK_KEYS: Final = (
    "code",
    "errno",
    "server.address",
    "server.port",
    "url.full",
    "http.response.status_code",
)
"""What a network failure carries inside ``error``, in the order they are written."""

_CAUSE: Final = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT: Final = "\nDuring handling of the above exception, another exception occurred:\n\n"
_MAX_GROUP_WIDTH: Final = 15  # as TracebackException's defaults
_MAX_GROUP_DEPTH: Final = 10
_MULTILINE_POSITIONS: Final = sys.version_info >= (3, 13)  # 3.13 shows every line of a span
_NETWORK_INT: Final = frozenset({"errno", "server.port", "http.response.status_code"})


@dataclass(frozen=True, slots=True)
class FrameInfo:
    """One frame of a traceback, as data.

    Attributes:
        file: the code's file name, as the traceback prints it.
        line: the line number (0 when Python did not know it).
        function: the function's name.
        code: the source text from ``line`` to ``end_line`` as it was in the file
            (indentation kept, no final newline), or ``None`` when it was not available.
        end_line: the last line of the failing expression, when known.
        col: the failing expression's start column (a UTF-8 byte offset, as Python keeps it).
        end_col: its end column.
        locals: the frame's local variables as redacted, size-capped reprs, when captured.
        locals_omitted: how many locals the per-frame limit left out.
        skipped: how many frames were left out just before this one (the frame limit).
    """

    file: str
    line: int
    function: str
    code: str | None = None
    end_line: int | None = None
    col: int | None = None
    end_col: int | None = None
    locals: Mapping[str, str] | None = None
    locals_omitted: int = 0
    skipped: int = 0

    def to_dict(self) -> dict[str, object]:
        """The frame as the entry writes it; ``None`` and zero counts are left out."""
        out: dict[str, object] = {"file": self.file, "line": self.line, "function": self.function}
        if self.code is not None:
            out["code"] = self.code
        if self.end_line is not None:
            out["end_line"] = self.end_line
        if self.col is not None:
            out["col"] = self.col
        if self.end_col is not None:
            out["end_col"] = self.end_col
        if self.locals is not None:
            out["locals"] = dict(self.locals)
        if self.locals_omitted:
            out["locals_omitted"] = self.locals_omitted
        if self.skipped:
            out["skipped"] = self.skipped
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object], where: str = "frame") -> FrameInfo:
        """Rebuild a frame from ``to_dict``'s output (after JSON, logfmt or OTLP).

        Raises:
            ValueError: a key has the wrong type; the message names it.
        """
        if not isinstance(data, Mapping):  # pyright: ignore[reportUnnecessaryIsInstance] - JSON data
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        raw_locals = data.get("locals")
        local_values: dict[str, str] | None = None
        if raw_locals is not None:
            if not isinstance(raw_locals, Mapping):
                raise ValueError(f"{where}.locals: expected an object")
            local_values = {}
            for name, value in cast("Mapping[object, object]", raw_locals).items():
                local_values[str(name)] = _text(value, f"{where}.locals.{name}")
        return cls(
            file=_text(data.get("file", ""), f"{where}.file"),
            line=_integer(data.get("line", 0), f"{where}.line") or 0,
            function=_text(data.get("function", ""), f"{where}.function"),
            code=_optional_text(data.get("code"), f"{where}.code"),
            end_line=_integer(data.get("end_line"), f"{where}.end_line"),
            col=_integer(data.get("col"), f"{where}.col"),
            end_col=_integer(data.get("end_col"), f"{where}.end_col"),
            locals=local_values,
            locals_omitted=_integer(data.get("locals_omitted"), f"{where}.locals_omitted") or 0,
            skipped=_integer(data.get("skipped"), f"{where}.skipped") or 0,
        )


@dataclass(frozen=True, slots=True)
class SyntaxInfo:
    """Where a ``SyntaxError`` points: what the traceback shows above its last line.

    Written as the last item of ``frames``, marked with a ``syntax_error`` object (the
    schema's frames may carry more keys; its error object may not).
    """

    filename: str | None = None
    lineno: int | None = None
    end_lineno: int | None = None
    text: str | None = None
    offset: int | None = None
    end_offset: int | None = None
    msg: str | None = None

    def to_frame(self) -> dict[str, object]:
        """The marker frame: where the error is, and the compiler's facts."""
        facts: dict[str, object] = {}
        for key in ("filename", "lineno", "end_lineno", "text", "offset", "end_offset", "msg"):
            value = getattr(self, key)
            if value is not None:
                facts[key] = value
        return {
            "file": self.filename or "<string>",
            "line": self.lineno or 0,
            "function": "<syntax error>",
            "syntax_error": facts,
        }

    @classmethod
    def from_frame(cls, data: Mapping[str, object], where: str) -> SyntaxInfo:
        """Rebuild from the marker frame's ``syntax_error`` object."""
        return cls(
            filename=_optional_text(data.get("filename"), f"{where}.filename"),
            lineno=_integer(data.get("lineno"), f"{where}.lineno"),
            end_lineno=_integer(data.get("end_lineno"), f"{where}.end_lineno"),
            text=_optional_text(data.get("text"), f"{where}.text"),
            offset=_integer(data.get("offset"), f"{where}.offset"),
            end_offset=_integer(data.get("end_offset"), f"{where}.end_offset"),
            msg=_optional_text(data.get("msg"), f"{where}.msg"),
        )

    def lines(self, type_name: str) -> list[str]:
        """The stdlib's own lines for a syntax error (file, line, text, carets, message)."""
        # An empty TracebackException holding only these facts: its formatter is the one
        # that knows this interpreter's layout (3.13 places the carets differently).
        shell: Any = traceback.TracebackException.__new__(traceback.TracebackException)
        shell.filename = self.filename
        shell.lineno = str(self.lineno) if self.lineno is not None else None
        shell.end_lineno = str(self.end_lineno) if self.end_lineno is not None else None
        shell.text = self.text
        shell.offset = self.offset
        shell.end_offset = self.end_offset
        shell.msg = self.msg
        try:
            return list(getattr(shell, "_format_syntax_error")(type_name))  # noqa: B009 - private
        except Exception:  # an interpreter whose traceback module differs
            return [_final_line(type_name, self.msg or "")]


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An exception, its chain and its group members, as data that renders like Python.

    Get one with :func:`tapelog.errors.capture`; rebuild one from a log entry's ``error``
    object with :meth:`from_dict`.

    Attributes:
        type: the type as a traceback prints it (``ValueError``, ``urllib.error.URLError``).
        message: ``str()`` of the exception (redacted).
        frames: the traceback, outermost call first.
        notes: ``__notes__`` (redacted), or ``None`` when it had none.
        cause: ``__cause__`` (``raise ... from ...``).
        context: ``__context__`` (raised while handling another).
        suppress_context: ``__suppress_context__``: the context is not printed.
        exceptions: an exception group's members, ``None`` for any other exception.
        truncated: something was cut by a limit (frames, locals, a repr, the chain,
            group members, a long message or note); where is marked in place.
        network: what a network failure carries (``code``, ``errno``, ``server.address``,
            ``server.port``, ``url.full``, ``http.response.status_code``).
    """

    type: str
    message: str
    frames: tuple[FrameInfo, ...] = ()
    notes: tuple[str, ...] | None = None
    cause: ErrorInfo | None = None
    context: ErrorInfo | None = None
    suppress_context: bool = False
    exceptions: tuple[ErrorInfo, ...] | None = None
    truncated: bool = False
    network: Mapping[str, str | int] = field(default_factory=dict[str, "str | int"])
    syntax: SyntaxInfo | None = None

    # -- data ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The ``error`` object of a log entry (JSON-ready; keys in a stable order)."""
        out: dict[str, Any] = {"type": self.type, "message": self.message}
        for key in NETWORK_KEYS:
            if key in self.network:
                out[key] = self.network[key]
        if self.frames or self.syntax is not None:
            out["frames"] = [frame.to_dict() for frame in self.frames]
            if self.syntax is not None:
                out["frames"].append(self.syntax.to_frame())
        if self.notes is not None:
            out["notes"] = list(self.notes)
        if self.suppress_context:
            out["suppress_context"] = True
        if self.cause is not None:
            out["cause"] = self.cause.to_dict()
        if self.context is not None:
            out["context"] = self.context.to_dict()
        if self.exceptions is not None:
            out["exceptions"] = [member.to_dict() for member in self.exceptions]
        if self.truncated:
            out["truncated"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ErrorInfo:
        """Rebuild an ``ErrorInfo`` from an entry's ``error`` object.

        Accepts what ``to_dict`` wrote, also after a trip through JSON, logfmt (parsed
        and unflattened) or OTLP attributes. Only types are checked and values copied:
        nothing named in the data is imported, evaluated or opened. ``stack_trace`` is
        ignored (``render()`` rebuilds it).

        Raises:
            ValueError: the data is not an error object; the message says which key.
        """
        return _from_dict(data, "error", 0)

    # -- text ------------------------------------------------------------------------

    def render(self, *, locals: bool = True) -> str:  # noqa: A002 - the natural name
        """The traceback as Python prints it, locals (when captured) under each frame.

        Args:
            locals: show the captured locals; ``False`` gives exactly the text Python
                printed (the entry's ``stack_trace``).
        """
        return "".join(self.lines(locals_style=("", "") if locals else None))

    def lines(self, locals_style: tuple[str, str] | None = ("", "")) -> Iterator[str]:
        """``render()`` in pieces, each ending with a newline.

        Args:
            locals_style: text put before and after each line that shows a local
                variable (the console format dims them); ``None`` leaves locals out.
        """
        return _format(self, _Context(locals_style))

    def format_exception_only(self) -> list[str]:
        """The last lines of the traceback: type, message and notes."""
        if self.syntax is not None:
            lines = self.syntax.lines(self.type)
        else:
            lines = [_final_line(self.type, self.message)]
        if self.notes is not None:
            for note in self.notes:
                lines.extend(part + "\n" for part in note.split("\n"))
        return lines


# -- from_dict ---------------------------------------------------------------------------

_MAX_NESTING: Final = 64  # far above what capture writes; stops a hostile deep object


def _from_dict(raw: object, where: str, depth: int) -> ErrorInfo:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(raw).__name__}")
    if depth > _MAX_NESTING:
        raise ValueError(f"{where}: nested more than {_MAX_NESTING} levels")
    data = cast("Mapping[str, object]", raw)
    frames_data = data.get("frames", ())
    if not isinstance(frames_data, Sequence) or isinstance(frames_data, str):
        raise ValueError(f"{where}.frames: expected a list")
    frame_list: list[FrameInfo] = []
    syntax: SyntaxInfo | None = None
    for index, item in enumerate(cast("Sequence[object]", frames_data)):
        marker = item.get("syntax_error") if isinstance(item, Mapping) else None  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
        if isinstance(marker, Mapping):
            syntax = SyntaxInfo.from_frame(
                cast("Mapping[str, object]", marker), f"{where}.frames[{index}].syntax_error"
            )
            continue
        frame_list.append(
            FrameInfo.from_dict(cast("Mapping[str, object]", item), f"{where}.frames[{index}]")
        )
    frames = tuple(frame_list)
    notes_data = data.get("notes")
    notes: tuple[str, ...] | None = None
    if notes_data is not None:
        if not isinstance(notes_data, Sequence) or isinstance(notes_data, str):
            raise ValueError(f"{where}.notes: expected a list of strings")
        notes = tuple(
            _text(note, f"{where}.notes[{index}]")
            for index, note in enumerate(cast("Sequence[object]", notes_data))
        )
    members_data = data.get("exceptions")
    members: tuple[ErrorInfo, ...] | None = None
    if members_data is not None:
        if not isinstance(members_data, Sequence) or isinstance(members_data, str):
            raise ValueError(f"{where}.exceptions: expected a list")
        members = tuple(
            _from_dict(member, f"{where}.exceptions[{index}]", depth + 1)
            for index, member in enumerate(cast("Sequence[object]", members_data))
        )
    cause = data.get("cause")
    context = data.get("context")
    suppress = data.get("suppress_context", False)
    truncated = data.get("truncated", False)
    if not isinstance(suppress, bool):
        raise ValueError(f"{where}.suppress_context: expected true or false")
    if not isinstance(truncated, bool):
        raise ValueError(f"{where}.truncated: expected true or false")
    return ErrorInfo(
        type=_text(data.get("type"), f"{where}.type"),
        message=_text(data.get("message", ""), f"{where}.message"),
        frames=frames,
        notes=notes,
        cause=None if cause is None else _from_dict(cause, f"{where}.cause", depth + 1),
        context=None if context is None else _from_dict(context, f"{where}.context", depth + 1),
        suppress_context=suppress,
        exceptions=members,
        truncated=truncated,
        network=_network(data, where),
        syntax=syntax,
    )


def _network(data: Mapping[str, object], where: str) -> dict[str, str | int]:
    found: dict[str, str | int] = {}
    for key in NETWORK_KEYS:
        value = data.get(key)
        if value is None and "." in key:  # a flat view unflattened one level too far
            node: object = data
            for part in key.split("."):
                node = _child(node, part)
            value = node
        if value is None:
            continue
        if key in _NETWORK_INT:
            number = _integer(value, f"{where}.{key}")
            if number is not None:
                found[key] = number
        else:
            found[key] = _text(value, f"{where}.{key}")
    return found


def _child(node: object, key: str) -> object:
    if isinstance(node, Mapping):
        return cast("Mapping[str, object]", node).get(key)
    return None


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    return value


def _optional_text(value: object, where: str) -> str | None:
    return None if value is None else _text(value, where)


def _integer(value: object, where: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{where}: expected an integer, got {type(value).__name__}")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{where}: expected an integer, got {value!r}")
        return int(value)
    if isinstance(value, str):  # OTLP carries very large ints as text
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{where}: expected an integer, got {value!r}") from None
    return value


# -- rendering ---------------------------------------------------------------------------


_FrameKey = tuple[str, int, str, str, "int | None", "int | None", "int | None"]
FRAME_TEXT: dict[_FrameKey, str] = {}
"""The stdlib's text for frames already formatted (the same code fails again and again;
working out the carets parses the source line each time). Bounded: emptied when full."""
_FRAME_TEXT_SIZE: Final = 4096
_StackKey = tuple[str, int, str, "str | None", "int | None", "int | None", "int | None"]
STACK_TEXT: dict[tuple[_StackKey, ...], tuple[str, ...]] = {}
"""The stdlib's lines for whole stacks without locals already formatted, by what each
frame shows (the text is a function of that alone: rendering reads no file). Saves
building a summary per frame when the same stack fails again. Bounded: emptied when full."""
_STACK_TEXT_SIZE: Final = 1024


class _Frame(traceback.FrameSummary):
    """A stdlib frame summary that also carries tapelog's locals and skip marker."""

    __slots__ = ("tapelog_key", "tapelog_locals", "tapelog_omitted", "tapelog_skipped")

    tapelog_key: _FrameKey
    tapelog_locals: Mapping[str, str] | None
    tapelog_omitted: int
    tapelog_skipped: int


class _Stack(traceback.StackSummary):
    """The stdlib's stack formatter, plus locals under each frame."""

    locals_style: tuple[str, str] | None = ("", "")

    def format_frame_summary(self, frame_summary: traceback.FrameSummary, **options: Any) -> str:
        # ``options``: 3.13 passes ``colorize``; it is handed on as given.
        if not isinstance(frame_summary, _Frame):  # pragma: no cover - only _Frame is built
            return super().format_frame_summary(frame_summary, **options)
        key = frame_summary.tapelog_key
        text = FRAME_TEXT.get(key) if not options.get("colorize") else None
        if text is None:
            text = super().format_frame_summary(frame_summary, **options)
            if not options.get("colorize"):
                if len(FRAME_TEXT) >= _FRAME_TEXT_SIZE:
                    FRAME_TEXT.clear()
                FRAME_TEXT[key] = text
        parts = [text]
        if frame_summary.tapelog_locals is not None and self.locals_style is not None:
            before, after = self.locals_style
            for name, value in sorted(frame_summary.tapelog_locals.items()):
                parts.append(f"{before}    {name} = {value}{after}\n")
            if frame_summary.tapelog_omitted:
                omitted = frame_summary.tapelog_omitted
                parts.append(f"{before}    ... {omitted} more locals not kept{after}\n")
        return "".join(parts)


def _summary(frame: FrameInfo) -> _Frame:
    code = frame.code
    if code is None:
        line = ""
    elif _MULTILINE_POSITIONS:
        line = "\n".join(part.rstrip() for part in code.split("\n")) + "\n"
    else:
        line = code.split("\n", 1)[0] + "\n"
    summary = _Frame(
        frame.file,
        frame.line,
        frame.function,
        lookup_line=False,
        line=line,
        end_lineno=frame.end_line,
        colno=frame.col,
        end_colno=frame.end_col,
    )
    summary.tapelog_key = (
        frame.file,
        frame.line,
        frame.function,
        line,
        frame.end_line,
        frame.col,
        frame.end_col,
    )
    summary.tapelog_locals = frame.locals
    summary.tapelog_omitted = frame.locals_omitted
    summary.tapelog_skipped = frame.skipped
    return summary


def _stack_lines(frames: Sequence[FrameInfo], style: tuple[str, str] | None) -> list[str]:
    """The frames as the stdlib formats them; where frames were cut, a line says so."""

    def stack(part: Sequence[FrameInfo]) -> list[str]:
        plain = style is None or all(item.locals is None for item in part)
        key: tuple[_StackKey, ...] | None = None
        if plain:
            key = tuple(
                (
                    item.file,
                    item.line,
                    item.function,
                    item.code,
                    item.end_line,
                    item.col,
                    item.end_col,
                )
                for item in part
            )
            known = STACK_TEXT.get(key)
            if known is not None:
                return list(known)
        summary = _Stack(_summary(item) for item in part)
        summary.locals_style = style
        lines = summary.format()
        if key is not None:
            if len(STACK_TEXT) >= _STACK_TEXT_SIZE:
                STACK_TEXT.clear()
            STACK_TEXT[key] = tuple(lines)
        return lines

    lines: list[str] = []
    start = 0
    for index, frame in enumerate(frames):
        if frame.skipped and index > start:
            lines += stack(frames[start:index])
            start = index
        if frame.skipped:
            count = frame.skipped
            lines.append(f"  [... {count} frame{'s' if count != 1 else ''} not kept ...]\n")
    lines += stack(frames[start:])
    return lines


def _final_line(type_name: str, message: str) -> str:
    return f"{type_name}: {message}\n" if message else f"{type_name}\n"


class _Context:
    """Indentation state while printing exception groups (as the stdlib keeps it)."""

    __slots__ = ("depth", "locals_style", "need_close")

    def __init__(self, locals_style: tuple[str, str] | None = ("", "")) -> None:
        self.depth = 0
        self.need_close = False
        self.locals_style = locals_style

    def indent(self) -> str:
        return " " * (2 * self.depth)

    def emit(self, texts: str | Sequence[str], margin: str = "|") -> Iterator[str]:
        if isinstance(texts, str):
            texts = (texts,)
        if not self.depth:  # outside a group: nothing to indent
            yield from texts
            return
        prefix = f"{self.indent()}{margin} "
        for text in texts:
            yield textwrap.indent(text, prefix, lambda _line: True)


def _format(info: ErrorInfo, ctx: _Context) -> Iterator[str]:
    chain: list[tuple[str | None, ErrorInfo]] = []
    current: ErrorInfo | None = info
    while current is not None:
        if current.cause is not None:
            message, following = _CAUSE, current.cause
        elif current.context is not None and not current.suppress_context:
            message, following = _CONTEXT, current.context
        else:
            message, following = None, None
        chain.append((message, current))
        current = following
    for message, exc in reversed(chain):
        if message is not None:
            yield from ctx.emit(message)
        if exc.exceptions is None:
            if exc.frames:
                yield from ctx.emit("Traceback (most recent call last):\n")
                yield from ctx.emit(_stack_lines(exc.frames, ctx.locals_style))
            yield from ctx.emit(exc.format_exception_only())
        elif ctx.depth > _MAX_GROUP_DEPTH:
            yield from ctx.emit(f"... (max_group_depth is {_MAX_GROUP_DEPTH})\n")
        else:
            yield from _format_group(exc, exc.exceptions, ctx)


def _format_group(exc: ErrorInfo, members: tuple[ErrorInfo, ...], ctx: _Context) -> Iterator[str]:
    top = ctx.depth == 0
    if top:
        ctx.depth += 1
    if exc.frames:
        yield from ctx.emit(
            "Exception Group Traceback (most recent call last):\n", margin="+" if top else "|"
        )
        yield from ctx.emit(_stack_lines(exc.frames, ctx.locals_style))
    yield from ctx.emit(exc.format_exception_only())
    count = len(members)
    shown = count if count <= _MAX_GROUP_WIDTH else _MAX_GROUP_WIDTH + 1
    ctx.need_close = False
    for index in range(shown):
        last = index == shown - 1
        if last:
            ctx.need_close = True
        cut = index >= _MAX_GROUP_WIDTH
        title = f"{index + 1}" if not cut else "..."
        yield (
            ctx.indent()
            + ("+-" if index == 0 else "  ")
            + f"+---------------- {title} ----------------\n"
        )
        ctx.depth += 1
        if not cut:
            yield from _format(members[index], ctx)
        else:
            remaining = count - _MAX_GROUP_WIDTH
            yield from ctx.emit(f"and {remaining} more exception{'s' if remaining > 1 else ''}\n")
        if last and ctx.need_close:
            yield ctx.indent() + "+------------------------------------\n"
            ctx.need_close = False
        ctx.depth -= 1
    if top:
        ctx.depth = 0
