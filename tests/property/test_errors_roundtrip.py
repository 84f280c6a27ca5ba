"""Properties of ``tapelog.errors`` over generated exception trees.

Chains (cause, context, suppressed context), nested groups, notes, any Unicode, and huge
or hostile local values: the captured data survives to_dict -> JSON -> from_dict ->
render unchanged, renders as Python prints it (without locals), and logging the exception
always gives one valid entry.
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import tapelog
from tapelog.errors import ErrorInfo, capture
from tapelog.formats import LogfmtFormat, parse_logfmt, unflatten
from tapelog.testing import capture as capture_entries


TYPES = (ValueError, KeyError, RuntimeError, OSError, TimeoutError, ConnectionError, LookupError)
TEXT = (
    st.text(max_size=40)
    | st.text(min_size=300, max_size=2000)
    | st.sampled_from(["", "\n", "a\nb", "token=abc123", "\u2028", "注文 ✓", "\x00\x1b[31m"])
)
LEAF = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(range(len(TYPES))),
        "message": TEXT,
        "notes": st.lists(TEXT, max_size=3),
        "payload": st.text(max_size=30) | st.integers() | st.binary(max_size=50),
        "depth": st.integers(min_value=0, max_value=4),
    }
)


def _extend(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.builds(
            lambda leaf, link, child: {**leaf, "link": link, "child": child},
            LEAF,
            st.sampled_from(["cause", "context", "suppressed"]),
            children,
        ),
        st.builds(
            lambda leaf, members: {**leaf, "members": members},
            LEAF,
            st.lists(children, min_size=1, max_size=4),
        ),
    )


TREES = st.recursive(LEAF, _extend, max_leaves=8)


class _Huge:
    def __repr__(self) -> str:
        return "H" * 100_000


def _raise_at(depth: int, exc: BaseException, payload: object) -> None:
    huge = _Huge()
    if depth:
        _raise_at(depth - 1, exc, payload)
    del huge
    raise exc


def _build(spec: dict[str, Any]) -> BaseException:
    """Raise an exception shaped as ``spec`` for real (with tracebacks) and return it."""
    message = spec["message"]
    if "members" in spec:
        exc: BaseException = ExceptionGroup(message, [_build(m) for m in spec["members"]])  # type: ignore[type-var]
    else:
        exc = TYPES[spec["kind"]](message)
    for note in spec["notes"]:
        exc.add_note(note)
    link, child = spec.get("link"), spec.get("child")
    try:
        if link == "cause":
            raise exc from _build(child)  # type: ignore[arg-type]
        if link in {"context", "suppressed"}:
            try:
                raise _build(child)  # type: ignore[arg-type]
            except BaseException:
                if link == "suppressed":
                    exc.__suppress_context__ = True
                _raise_at(spec["depth"], exc, spec["payload"])
        _raise_at(spec["depth"], exc, spec["payload"])
    except BaseException as caught:
        return caught
    raise AssertionError("unreachable")  # pragma: no cover


@settings(max_examples=60)
@given(spec=TREES)
def test_round_trip_and_python_text(spec: dict[str, Any]) -> None:
    exc = _build(spec)
    plain = capture(exc, locals=False, redact=False)
    with_locals = capture(exc, locals=True)

    assert "".join(traceback.format_exception(exc)) == plain.render()
    for info in (plain, with_locals):
        data = json.loads(json.dumps(info.to_dict()))
        assert info.render() == ErrorInfo.from_dict(data).render()


@settings(max_examples=40)
@given(spec=TREES, locals_on=st.booleans())
def test_always_one_valid_entry(spec: dict[str, Any], locals_on: bool, validator: Any) -> None:
    exc = _build(spec)
    tapelog.configure({"errors": {"locals": locals_on}})
    with capture_entries() as entries:
        tapelog.get_logger("prop").error("failed", exc_info=exc)
        tapelog.flush()

    assert 1 == len(entries)
    (entry,) = entries
    assert [] == [str(e) for e in validator.iter_errors(entry)]
    error = entry["error"]
    rendered = ErrorInfo.from_dict(error).render()
    assert error["stack_trace"] == ErrorInfo.from_dict(error).render(locals=False)
    # And through logfmt: parsed back, it validates and renders the same.
    back = unflatten(parse_logfmt(LogfmtFormat()(entry).decode()))
    assert [] == [str(e) for e in validator.iter_errors(back)]
    assert rendered == ErrorInfo.from_dict(back["error"]).render()  # type: ignore[arg-type]
