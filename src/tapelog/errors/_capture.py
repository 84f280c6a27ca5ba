"""Turning a live exception into an ``ErrorInfo``, within limits, never raising.

Two steps, so that each runs where it must:

- ``snapshot(exc, locals=...)`` reads the traceback: frames, columns, source lines and,
  when asked, the locals as reprs. With locals it runs on the caller's thread (a local's
  value can change, and a repr must not run concurrently with the caller); without, the
  worker does it, since a traceback's frames and positions no longer change.
- ``finish(info, redactor)`` redacts (local names by the field rules, reprs, messages,
  notes, source lines and URLs by the text rules) and cuts reprs to their limit. It runs
  on the worker, where the pipeline's redactor lives.

Limits (each cut marked in place and with ``truncated``): 50 frames per exception (the
first 10 and the last 40), 20 locals per frame, 200 characters per repr, containers shown
3 levels deep, a message of 8192 characters, 16 notes of 2048, 32 members per group, and
an exception tree 12 links deep and 64 exceptions in all.
"""

from __future__ import annotations

import itertools
import linecache
import os
import sys
import sysconfig
import types
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Final, cast

from ._info import FRAME_TEXT, STACK_TEXT, ErrorInfo, FrameInfo, SyntaxInfo
from ._network import network_facts


if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from tapelog.processors._redact import Redactor


__all__ = ["LIMITS", "capture", "finish", "snapshot", "type_name"]

MAX_FRAMES: Final = 50
HEAD_FRAMES: Final = 10
TAIL_FRAMES: Final = 40
MAX_LOCALS: Final = 20
MAX_REPR: Final = 200
MAX_DEPTH: Final = 3
MAX_MESSAGE: Final = 8192
MAX_NOTES: Final = 16
MAX_NOTE: Final = 2048
MAX_MEMBERS: Final = 32
MAX_NESTING: Final = 12
MAX_EXCEPTIONS: Final = 64
REPR_SECONDS: Final = 0.05  # one repr may take this long before it is stopped
LOCALS_SECONDS: Final = 0.25  # all reprs of one capture
LIMITS: Final = {
    "frames": MAX_FRAMES,
    "head_frames": HEAD_FRAMES,
    "tail_frames": TAIL_FRAMES,
    "locals": MAX_LOCALS,
    "repr": MAX_REPR,
    "depth": MAX_DEPTH,
    "message": MAX_MESSAGE,
    "notes": MAX_NOTES,
    "note": MAX_NOTE,
    "members": MAX_MEMBERS,
    "nesting": MAX_NESTING,
    "exceptions": MAX_EXCEPTIONS,
}
"""The capture limits, by name (documented in docs/errors.md)."""

_RAW_REPR: Final = MAX_REPR * 4  # kept until redaction, so a cut never hides half a secret
_ELLIPSIS: Final = "…"
_MULTILINE: Final = sys.version_info >= (3, 13)
_MAX_CODE_LINES: Final = 8


def type_name(cls: type[BaseException]) -> str:
    """The type as a traceback prints it: ``module.Qualname`` unless builtins or main."""
    qualname = getattr(cls, "__qualname__", None) or getattr(cls, "__name__", "?")
    module = getattr(cls, "__module__", None)
    if module in ("__main__", "builtins"):
        return str(qualname)
    if not isinstance(module, str):
        module = "<unknown>"
    return f"{module}.{qualname}"


def _safe_str(value: object, what: str) -> str:
    try:
        return str(value)
    except Exception:
        return f"<{what} str() failed>"


class Budget:
    """Time left for reprs in one capture, and whether anything was cut."""

    __slots__ = ("cut", "deadline", "exceptions")

    def __init__(self) -> None:
        self.deadline = perf_counter() + LOCALS_SECONDS
        self.cut = False
        self.exceptions = 0


class _Stop(BaseException):
    """Raised inside a repr that ran past its time.

    A BaseException, so that ``except Exception`` in the repr cannot swallow it.
    """


def _guarded_repr(value: object) -> str:
    """``repr(value)``, stopped if its Python code runs longer than ``REPR_SECONDS``.

    The time limit is a trace function, and it ends with the repr: a frame made during
    the repr that outlives it (a generator the repr started and kept) would otherwise
    keep it as its own trace function, and a debugger or coverage tool that traces the
    thread but not that file leaves it there, so resuming the frame later would raise
    ``_Stop`` in the application. So the frames it traced are handed back untraced, and
    a call that still reaches it afterwards turns it off for its frame.
    """
    deadline = perf_counter() + REPR_SECONDS
    traced: list[types.FrameType] = []
    live = True

    def tracer(frame: types.FrameType, event: str, arg: object) -> Callable[..., object] | None:
        del arg
        if not live:
            return None
        if event == "call":
            # A loop on one line gives no line events: trace each instruction.
            frame.f_trace_opcodes = True
            traced.append(frame)
        if perf_counter() > deadline:
            raise _Stop
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)  # pyright: ignore[reportArgumentType] - only this thread; the previous tracer (a debugger) comes back
    try:
        return repr(value)
    finally:
        sys.settrace(previous)
        live = False
        for frame in traced:
            frame.f_trace_opcodes = False
            if frame.f_trace is tracer:
                frame.f_trace = None


_SIMPLE: Final = frozenset({int, float, bool, type(None), complex})
_PLAIN_REPR: Final = (
    types.BuiltinFunctionType,
    types.WrapperDescriptorType,
    types.MethodWrapperType,
)


def safe_repr(value: object, budget: Budget, depth: int = 0) -> str:
    """A repr of at most ``_RAW_REPR`` characters that never raises and never hangs.

    Builtin containers are walked here, ``MAX_DEPTH`` levels deep and only as far as the
    length allows; any other object's own ``__repr__`` runs under a time limit.
    """
    try:
        cls = type(value)
        if cls in _SIMPLE:
            return repr(value)
        if cls is str or cls is bytes:
            text = cast("str | bytes", value)
            if len(text) > _RAW_REPR:
                return repr(text[:_RAW_REPR]) + _ELLIPSIS
            return repr(text)
        if cls in (list, tuple, set, frozenset, dict):
            return _container(value, cls, budget, depth)
        if perf_counter() > budget.deadline:
            budget.cut = True
            return f"<{cls.__name__} not shown: time limit>"
        method = getattr(cls, "__repr__", None)
        text = repr(value) if isinstance(method, _PLAIN_REPR) else _guarded_repr(value)
    except _Stop:
        budget.cut = True
        return f"<{type(value).__name__} repr took too long>"
    except RecursionError:
        return f"<{type(value).__name__} repr recursed too deep>"
    except Exception as exc:
        return f"<{type(value).__name__} repr failed: {type(exc).__name__}>"
    if type(text) is not str:  # pragma: no cover - repr() checks this itself
        return f"<{type(value).__name__}>"
    if len(text) > _RAW_REPR:
        return text[:_RAW_REPR] + _ELLIPSIS
    return text


def _container(value: object, cls: type, budget: Budget, depth: int) -> str:
    if cls is dict:
        items = cast("dict[object, object]", value)
        opening, closing = "{", "}"
    elif cls is list:
        items = cast("list[object]", value)
        opening, closing = "[", "]"
    elif cls is tuple:
        items = cast("tuple[object, ...]", value)
        opening, closing = "(", ")"
    else:
        items = cast("set[object]", value)
        if not items:
            return f"{cls.__name__}()"
        opening, closing = ("{", "}") if cls is set else ("frozenset({", "})")
    if not items:
        return opening + closing
    if depth >= MAX_DEPTH:
        return f"{opening}...{closing}"
    parts: list[str] = []
    size = 0
    for item in items:
        if cls is dict:
            mapping = cast("dict[object, object]", value)
            key = safe_repr(item, budget, depth + 1)
            text = f"{key}: {safe_repr(mapping[item], budget, depth + 1)}"
        else:
            text = safe_repr(item, budget, depth + 1)
        parts.append(text)
        size += len(text) + 2
        if size > _RAW_REPR:
            parts.append("...")
            break
    if cls is tuple and len(parts) == 1:
        return f"({parts[0]},)"
    return opening + ", ".join(parts) + closing


# -- frames ----------------------------------------------------------------------------


def _positions(
    code: types.CodeType, lasti: int
) -> tuple[int | None, int | None, int | None, int | None]:
    if lasti < 0:
        return (None, None, None, None)
    try:
        return next(itertools.islice(code.co_positions(), lasti // 2, None))
    except (StopIteration, ValueError):
        return (None, None, None, None)


def _source(
    filename: str, first: int, last: int | None, module_globals: Mapping[str, object]
) -> str | None:
    linecache.lazycache(filename, cast("dict[str, object]", module_globals))
    line = linecache.getline(filename, first)
    if not line:
        return None
    lines = [line.removesuffix("\n")]
    if _MULTILINE and last is not None and last > first:
        lines.extend(
            linecache.getline(filename, number).rstrip("\n")
            for number in range(first + 1, min(last, first + _MAX_CODE_LINES) + 1)
        )
    return "\n".join(lines)


def _library_prefixes() -> tuple[str, ...]:
    """Where the standard library and installed packages live (as given and resolved)."""
    paths = sysconfig.get_paths()
    found: set[str] = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = paths.get(key)
        if path:
            found.add(str(Path(path)) + os.sep)
            found.add(str(Path(path).resolve()) + os.sep)
    return (*sorted(found), "<frozen ")


_LIBRARY: Final = _library_prefixes()


def is_library(filename: str) -> bool:
    """Whether code in ``filename`` belongs to Python or an installed package, not the app."""
    return filename.startswith(_LIBRARY)


_DEFINITIONS: Final = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType)


def _frame_locals(frame: types.FrameType, budget: Budget) -> tuple[dict[str, str], int]:
    shown: dict[str, str] = {}
    omitted = 0
    try:
        variables = dict(frame.f_locals)
    except Exception:  # pragma: no cover - a frame's locals are a dict
        return shown, 0
    module_level = frame.f_locals is frame.f_globals
    for name, value in variables.items():
        if type(name) is not str or (name.startswith("__") and name.endswith("__")):
            continue
        if module_level and isinstance(value, _DEFINITIONS):
            continue  # a module's imports, functions and classes are not its state
        if len(shown) >= MAX_LOCALS:
            omitted += 1
            continue
        shown[name] = safe_repr(value, budget)
    if omitted:
        budget.cut = True
    return shown, omitted


_FrameKey = tuple[int, int, int]
FRAME_FACTS: dict[_FrameKey, tuple[types.CodeType, object, FrameInfo]] = {}
"""What a frame shows without locals (positions, function, source text), by code object
and instruction: the same code fails again and again, and working the columns out walks
the code's position table. Each is kept with the code object (so its id stays its own)
and the ``linecache`` entry its source text came from: once ``checkcache`` drops or
reloads a changed file, the entry differs and the facts are read again. Bounded: emptied
when full."""
_FRAME_FACTS_SIZE: Final = 4096


def _frame_facts(entry: types.TracebackType, code: types.CodeType) -> FrameInfo:
    """A frame as the traceback shows it without locals, read afresh."""
    line, end_line, col, end_col = _positions(code, entry.tb_lasti)
    if line is None:
        line = entry.tb_lineno
    filename = code.co_filename
    return FrameInfo(
        file=filename,
        line=line or 0,
        function=code.co_name,
        code=_source(filename, line, end_line, entry.tb_frame.f_globals) if line else None,
        end_line=end_line,
        col=col,
        end_col=end_col,
    )


def _known_facts(entry: types.TracebackType, code: types.CodeType) -> FrameInfo:
    """``_frame_facts``, from ``FRAME_FACTS`` while the code and its source are the same.

    Call after ``linecache.checkcache(code.co_filename)``.
    """
    key = (id(code), entry.tb_lasti, entry.tb_lineno or 0)
    known = FRAME_FACTS.get(key)
    filename = code.co_filename
    if known is not None and known[0] is code and linecache.cache.get(filename) is known[1]:
        return known[2]
    facts = _frame_facts(entry, code)
    source = linecache.cache.get(filename)
    # Kept only when the text came from a loaded entry (a lazy one, length 1, is replaced
    # when read) or needed no source at all.
    if facts.code is None and facts.line and source is None:
        return facts  # no source found: look again next time, as linecache would
    if source is None or len(source) != 1:
        if len(FRAME_FACTS) >= _FRAME_FACTS_SIZE:
            FRAME_FACTS.clear()
        FRAME_FACTS[key] = (code, source, facts)
    return facts


def _frames(
    tb: types.TracebackType | None, with_locals: bool, budget: Budget, seen_files: set[str]
) -> tuple[FrameInfo, ...]:
    entries: list[types.TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    skipped = 0
    if len(entries) > MAX_FRAMES:
        skipped = len(entries) - HEAD_FRAMES - TAIL_FRAMES
        entries = entries[:HEAD_FRAMES] + entries[-TAIL_FRAMES:]
        budget.cut = True
    frames: list[FrameInfo] = []
    for index, entry in enumerate(entries):
        code = entry.tb_frame.f_code
        filename = code.co_filename
        if filename not in seen_files:
            seen_files.add(filename)
            linecache.checkcache(filename)
        facts = _known_facts(entry, code)
        local_values: dict[str, str] | None = None
        omitted = 0
        if with_locals and not is_library(filename):  # the application's frames only
            local_values, omitted = _frame_locals(entry.tb_frame, budget)
        skip = skipped if skipped and index == HEAD_FRAMES else 0
        if local_values is None and not skip:
            frames.append(facts)  # immutable: the same object serves every capture
            continue
        frames.append(
            FrameInfo(
                facts.file,
                facts.line,
                facts.function,
                facts.code,
                facts.end_line,
                facts.col,
                facts.end_col,
                local_values,
                omitted,
                skip,
            )
        )
    return tuple(frames)


# -- the exception tree ----------------------------------------------------------------


def _clip(text: str, limit: int, budget: Budget) -> str:
    if len(text) <= limit:
        return text
    budget.cut = True
    return text[:limit] + _ELLIPSIS


def _one(exc: BaseException, with_locals: bool, budget: Budget, seen_files: set[str]) -> ErrorInfo:
    frames = _frames(exc.__traceback__, with_locals, budget, seen_files)
    raw_notes = getattr(exc, "__notes__", None)
    notes: tuple[str, ...] | None = None
    if raw_notes is not None:
        try:
            items = list(raw_notes) if not isinstance(raw_notes, (str, bytes)) else [raw_notes]
        except Exception:
            items = [_safe_str(raw_notes, "__notes__")]
        if len(items) > MAX_NOTES:
            items = items[:MAX_NOTES]
            budget.cut = True
        notes = tuple(
            _clip(_safe_str(note, "note"), MAX_NOTE, budget) for note in cast("list[object]", items)
        )
    return ErrorInfo(
        type=type_name(type(exc)),
        message=_clip(_safe_str(exc, "exception"), MAX_MESSAGE, budget),
        frames=frames,
        notes=notes,
        suppress_context=bool(exc.__suppress_context__),
        syntax=_syntax(exc, budget) if isinstance(exc, SyntaxError) else None,
    )


def _syntax(exc: SyntaxError, budget: Budget) -> SyntaxInfo:
    def number(value: object) -> int | None:
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def text(value: object, limit: int) -> str | None:
        return _clip(_safe_str(value, "text"), limit, budget) if value is not None else None

    return SyntaxInfo(
        filename=text(exc.filename, MAX_NOTE),
        lineno=number(exc.lineno),
        end_lineno=number(exc.end_lineno),
        text=text(exc.text, MAX_MESSAGE),
        offset=number(exc.offset),
        end_offset=number(exc.end_offset),
        msg=text(exc.msg, MAX_MESSAGE),
    )


def snapshot(exc: BaseException, *, locals: bool = False) -> ErrorInfo:  # noqa: A002 - the documented name
    """Read an exception into an ``ErrorInfo`` (unredacted; reprs not yet cut).

    Walks ``__cause__``, ``__context__`` and group members as the stdlib's
    ``TracebackException`` does (an exception met twice is shown once), within the limits.
    Never raises for a hostile exception: a broken ``__str__``, ``__repr__`` or notes.
    """
    budget = Budget()
    try:
        return _snapshot(exc, locals, budget)
    except RecursionError:  # pragma: no cover - the walk is iterative; reprs guard themselves
        return ErrorInfo(
            type=type_name(type(exc)), message="<error too deep to capture>", truncated=True
        )


def _snapshot(exc: BaseException, with_locals: bool, budget: Budget) -> ErrorInfo:
    seen: set[int] = {id(exc)}
    # Built bottom-up: first every node's own facts (parents before children, as the
    # stdlib walks), then the links, from the leaves back to the root.
    seen_files: set[str] = set()  # files whose linecache entry was checked this capture
    root = _one(exc, with_locals, budget, seen_files)
    nodes: dict[int, ErrorInfo] = {}
    links: dict[int, tuple[int | None, int | None, list[int] | None]] = {}
    order: list[int] = []
    counter = itertools.count()
    root_id = next(counter)
    nodes[root_id] = root
    queue: list[tuple[int, BaseException, int]] = [(root_id, exc, 0)]
    total = 1

    def add(child: BaseException, depth: int) -> int | None:
        nonlocal total
        if id(child) in seen:
            return None
        if depth > MAX_NESTING or total >= MAX_EXCEPTIONS:
            budget.cut = True
            return None
        seen.add(id(child))
        total += 1
        node_id = next(counter)
        nodes[node_id] = _one(child, with_locals, budget, seen_files)
        queue.append((node_id, child, depth))
        return node_id

    while queue:
        node_id, current, depth = queue.pop()
        order.append(node_id)
        cause = current.__cause__
        context = current.__context__
        cause_id = add(cause, depth + 1) if cause is not None else None
        context_id = add(context, depth + 1) if context is not None else None
        member_ids: list[int] | None = None
        if isinstance(current, BaseExceptionGroup):
            group = cast("BaseExceptionGroup[BaseException]", current)
            member_ids = []
            members = list(group.exceptions)
            if len(members) > MAX_MEMBERS:
                members = members[:MAX_MEMBERS]
                budget.cut = True
            for member in members:
                member_id = add(member, depth + 1)
                if member_id is not None:
                    member_ids.append(member_id)
        links[node_id] = (cause_id, context_id, member_ids)
    built: dict[int, ErrorInfo] = {}
    for node_id in reversed(order):
        cause_id, context_id, member_ids = links[node_id]
        node = nodes[node_id]
        root_node = node_id == root_id
        built[node_id] = ErrorInfo(
            node.type,
            node.message,
            node.frames,
            node.notes,
            built.get(cause_id) if cause_id is not None else None,
            built.get(context_id) if context_id is not None else None,
            node.suppress_context,
            tuple(built[m] for m in member_ids) if member_ids is not None else None,
            budget.cut if root_node else False,
            network_facts(exc) if root_node else {},
            node.syntax,
        )
    return built[root_id]


# -- redaction and the final cut -------------------------------------------------------


def _cut_repr(text: str) -> str:
    if len(text) <= MAX_REPR:
        return text
    return text[: MAX_REPR - 1] + _ELLIPSIS


def finish(info: ErrorInfo, redactor: Redactor | None, _depth: int = 0) -> ErrorInfo:
    """Redact an ``ErrorInfo`` and cut its reprs to ``MAX_REPR`` characters.

    Local names follow the field rules (a sensitive name's value is replaced whole);
    reprs, messages, notes, source lines and ``url.full`` follow the text rules. With
    ``redactor`` None only the cut is applied.
    """
    redact: Callable[[str], str] = redactor.redact_text if redactor is not None else _same
    cut = False
    frames: list[FrameInfo] = []
    for frame in info.frames:
        code = redact(frame.code) if frame.code is not None else None
        local_values = frame.locals
        if local_values is not None:
            cleaned: dict[str, str] = {}
            for name, value in local_values.items():
                if redactor is not None and redactor.is_sensitive(name):
                    cleaned[name] = repr(redactor.replacement)
                    continue
                text = redact(value)
                short = _cut_repr(text)
                cut = cut or short is not text or text.endswith(_ELLIPSIS)
                cleaned[name] = short
            local_values = cleaned
        if code is frame.code and local_values is None:
            frames.append(frame)  # nothing redacted: the frame as it is
        else:
            frames.append(
                FrameInfo(
                    frame.file,
                    frame.line,
                    frame.function,
                    code,
                    frame.end_line,
                    frame.col,
                    frame.end_col,
                    local_values,
                    frame.locals_omitted,
                    frame.skipped,
                )
            )
    network = dict(info.network)
    url = network.get("url.full")
    if isinstance(url, str):
        network["url.full"] = redact(url)
    return ErrorInfo(
        info.type,
        redact(info.message),
        tuple(frames),
        tuple(redact(note) for note in info.notes) if info.notes is not None else None,
        finish(info.cause, redactor, _depth + 1) if info.cause is not None else None,
        finish(info.context, redactor, _depth + 1) if info.context is not None else None,
        info.suppress_context,
        tuple(finish(member, redactor, _depth + 1) for member in info.exceptions)
        if info.exceptions is not None
        else None,
        info.truncated or cut,
        network,
        _redact_syntax(info.syntax, redact) if info.syntax is not None else None,
    )


def _redact_syntax(syntax: SyntaxInfo, redact: Callable[[str], str]) -> SyntaxInfo:
    return SyntaxInfo(
        syntax.filename,
        syntax.lineno,
        syntax.end_lineno,
        redact(syntax.text) if syntax.text is not None else None,
        syntax.offset,
        syntax.end_offset,
        redact(syntax.msg) if syntax.msg is not None else None,
    )


def _same(text: str) -> str:
    return text


def current_redactor() -> Redactor | None:
    """The redactor of the pipeline in use (for ``capture`` called by the application)."""
    runtime = sys.modules.get("tapelog._runtime")
    if runtime is None:
        return None
    try:
        pipeline = runtime.RUNTIME.dispatcher.pipeline
        return cast("Redactor | None", pipeline.builder.redactor)
    except AttributeError:
        return None


def capture(
    exc: BaseException,
    *,
    locals: bool | None = None,  # noqa: A002 - the documented name
    redact: bool = True,
) -> ErrorInfo:
    """Capture an exception as redacted, size-limited data.

    Args:
        exc: the exception (its ``__traceback__``, chain and group members are read).
        locals: capture each frame's local variables as reprs; ``None`` follows the
            ``[errors] locals`` setting (off by default).
        redact: apply the configured redaction rules (as log entries do). ``False``
            keeps every text as Python gave it (local reprs are still cut to length).

    Returns:
        An ``ErrorInfo``; ``render()`` gives the traceback Python prints (without locals,
        byte for byte), ``to_dict()`` the entry's ``error`` object.
    """
    with_locals = locals_enabled() if locals is None else locals
    return finish(snapshot(exc, locals=with_locals), current_redactor() if redact else None)


def locals_enabled() -> bool:
    """Whether ``[errors] locals`` is on in the current configuration."""
    runtime = sys.modules.get("tapelog._runtime")
    if runtime is None:
        return False
    try:
        return bool(runtime.RUNTIME.config.errors.locals)
    except AttributeError:
        return False


def clear_caches() -> None:
    """Forget every frame's facts and text kept so far (the next capture reads afresh)."""
    FRAME_FACTS.clear()
    FRAME_TEXT.clear()
    STACK_TEXT.clear()
