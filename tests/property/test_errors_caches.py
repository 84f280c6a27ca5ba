"""The error capture's caches serve exactly what reading afresh gives.

``FRAME_FACTS`` keeps what a frame shows (positions, function, source text) per code
object and instruction; ``STACK_TEXT`` keeps the stdlib's text of whole stacks. Over
generated source files that fail in generated ways: a capture with warm caches equals one
after ``clear_caches()`` and renders as Python prints it, and a source file edited between
two captures shows its new text (what ``traceback.format_exception`` shows then), never
the cached old one.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tapelog.errors import _capture, capture
from tapelog.errors._capture import clear_caches, finish, snapshot
from tapelog.processors import Redactor


if TYPE_CHECKING:
    from collections.abc import Iterator

_names = itertools.count()
_DIRECTORIES: list[Path] = []  # made by the fixture below, removed after the module

# Statements that fail, each on one line, with a varying part.
FAILING = st.sampled_from(
    [
        "return {{}}[{value!r}]",
        "return {number} / (1 - 1)",
        "return int({value!r} + 'x')",
        "raise ValueError({value!r})",
        "return [{number}][{number} + 5]",
        "return {value!r}.missing_attribute",
        "return len(None) + {number}",
    ]
)
VALUES = st.text(alphabet="abcdefgh xyz_=0123456789", max_size=12)
NUMBERS = st.integers(min_value=0, max_value=999)


@st.composite
def sources(draw: st.DrawFn) -> tuple[str, int]:
    """A module whose ``entry()`` fails ``depth`` calls down, maybe re-raised ``from``."""
    statement = draw(FAILING).format(value=draw(VALUES), number=draw(NUMBERS))
    depth = draw(st.integers(min_value=0, max_value=5))
    chained = draw(st.booleans())
    padding = draw(st.integers(min_value=0, max_value=3))
    lines = ["# generated", *(f"# padding {index}" for index in range(padding))]
    lines += ["def fail(depth):", "    if depth:", "        return fail(depth - 1)"]
    lines.append(f"    {statement}")
    lines += ["def entry(depth):"]
    if chained:
        lines += [
            "    try:",
            "        fail(depth)",
            "    except Exception as exc:",
            "        raise RuntimeError('wrapped ' + type(exc).__name__) from exc",
        ]
    else:
        lines.append("    return fail(depth)")
    return "\n".join(lines) + "\n", depth


def _run(path: Path, source: str, depth: int) -> BaseException:
    path.write_text(source, encoding="utf-8")
    namespace: dict[str, Any] = {"__name__": path.stem, "__file__": str(path)}
    exec(compile(source, str(path), "exec"), namespace)
    try:
        namespace["entry"](depth)
    except Exception as exc:
        return exc
    raise AssertionError("the generated code did not fail")


@pytest.fixture(autouse=True, scope="module")
def _generated_directory() -> Iterator[None]:
    _DIRECTORIES.append(Path(tempfile.mkdtemp(prefix="tapelog-errors-caches-")))
    yield
    shutil.rmtree(_DIRECTORIES.pop(), ignore_errors=True)


@pytest.fixture(autouse=True, scope="module")
def _no_time_limits() -> Iterator[None]:
    """Captures here compare with and without the caches, so none may be cut short.

    The reprs of a capture run under time limits (``safe_repr``); on a starved machine
    (other jobs at a higher priority) one of two captures may reach them and show a
    local as "not shown: time limit" where the other shows it: a difference the caches
    did not make. The limits have tests of their own.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_capture, "LOCALS_SECONDS", 3600.0)
        patch.setattr(_capture, "REPR_SECONDS", 3600.0)
        yield


def _fresh_path() -> Path:
    return _DIRECTORIES[-1] / f"generated_{next(_names)}.py"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), st.booleans())
def test_cached_frames_equal_fresh_ones(generated: tuple[str, int], with_locals: bool) -> None:
    """Captures served from the caches equal captures read afresh, and render as Python."""
    source, depth = generated
    exc = _run(_fresh_path(), source, depth)
    first = snapshot(exc, locals=with_locals)
    again = snapshot(exc, locals=with_locals)  # every frame's facts now from FRAME_FACTS
    rendered = capture(exc, locals=False, redact=False).render()
    rendered_again = capture(exc, locals=False, redact=False).render()  # from STACK_TEXT
    clear_caches()
    fresh = snapshot(exc, locals=with_locals)
    rendered_fresh = capture(exc, locals=False, redact=False).render()

    assert first == again == fresh
    assert rendered == rendered_again == rendered_fresh == "".join(traceback.format_exception(exc))
    redactor = Redactor()
    warm = finish(snapshot(exc), redactor)
    clear_caches()
    assert warm.to_dict() == finish(snapshot(exc), redactor).to_dict()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources(), VALUES.filter(bool))
def test_an_edited_file_is_not_served_stale(generated: tuple[str, int], marker: str) -> None:
    """After the failing line changes on disk, the capture shows the new line."""
    source, depth = generated
    path = _fresh_path()
    exc = _run(path, source, depth)
    before = capture(exc, redact=False)  # the caches now hold the old text
    failing = before.frames[-1]
    assert failing.code is not None
    lines = source.split("\n")
    edited_line = f"    return {marker!r}  # edited"
    lines[failing.line - 1] = edited_line
    path.write_text("\n".join(lines), encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))

    after = capture(exc, redact=False)

    assert after.frames[-1].code == edited_line
    assert after.render() == "".join(traceback.format_exception(exc))
    assert after.frames[:-1] == before.frames[:-1]


def test_a_file_that_is_gone_is_read_again_when_it_returns() -> None:
    """No source found is not remembered: once the file is back, its line shows."""
    path = _fresh_path()
    source = "def entry(depth):\n    return {}['k']\n"
    exc = _run(path, source, 0)
    path.unlink()
    assert capture(exc, redact=False).frames[-1].code is None

    path.write_text(source, encoding="utf-8")

    assert capture(exc, redact=False).frames[-1].code == "    return {}['k']"
