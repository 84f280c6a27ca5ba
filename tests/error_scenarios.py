"""Exceptions of every shape the traceback printer knows, for the golden tests.

Importable (the 3.11 tests use it in process) and runnable as a script under another
interpreter: ``python error_scenarios.py SRC_DIR`` loads ``tapelog.errors`` from SRC_DIR
without the package's dependencies and prints, per scenario, whether ``render()`` equals
``traceback.format_exception`` and whether the JSON round trip renders the same.
"""

from __future__ import annotations

import json
import sys
import traceback
import types
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Callable


def _raises(function: Callable[[], object]) -> BaseException:
    try:
        function()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")  # pragma: no cover


def _binary() -> object:
    prices = {"bid": 1}
    return prices["bid"] + 2 * (1 / 0)


def _subscript() -> object:
    book: dict[str, list[int]] = {"asks": []}
    return book["asks"][0]


def _wide() -> object:
    label = "注文"
    return label + 1  # type: ignore[operator]


def _multiline() -> object:
    return int(
        "not a number",
        10,
    )


def _cause() -> None:
    try:
        _binary()
    except ZeroDivisionError as exc:
        raise KeyError("price") from exc


def _context() -> None:
    try:
        _cause()
    except KeyError as exc:
        exc.add_note("while pricing BTC-USD\nsecond line of the note")
        raise ValueError("outer ünïcödé ✓")  # noqa: B904 - the context is the point


def _chain_context() -> None:
    try:
        _cause()
    except KeyError:
        raise RuntimeError("during handling")  # noqa: B904 - the context is the point


def _suppressed() -> None:
    try:
        _binary()
    except ZeroDivisionError:
        raise LookupError("quiet") from None


def _group() -> None:
    errors: list[Exception] = [_raises(_binary), _raises(_subscript)]  # type: ignore[list-item]
    inner = ExceptionGroup("inner", [TypeError("t"), _raises(_chain_context)])  # type: ignore[list-item]
    errors.append(_raises(lambda: _throw(inner)))  # type: ignore[arg-type]
    raise ExceptionGroup("orders failed", errors)


def _wide_group() -> None:
    raise ExceptionGroup("many", [ValueError(i) for i in range(20)])


def _throw(exc: BaseException) -> None:
    raise exc


def _recursion(depth: int = 0) -> int:
    if depth >= 30:
        raise RecursionError("too deep on purpose")
    return _recursion(depth + 1)


class BrokenStrError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def _broken() -> None:
    raise BrokenStrError


def _empty() -> None:
    raise ConnectionError


def _cycle() -> None:
    first = ValueError("first")
    second = KeyError("second")
    try:
        try:
            raise first
        except ValueError:
            raise second  # noqa: B904
    except KeyError:
        first.__context__ = second
        raise


def _notes_only() -> None:
    exc = OSError(111, "Connection refused")
    exc.add_note("")
    exc.add_note("retrying in 5 s")
    raise exc


def _syntax() -> None:
    compile("price = (1 +\n", "strategy_config.py", "exec")


def _syntax_eval() -> None:
    eval("qty  +* 2")


def _syntax_chained() -> None:
    try:
        _syntax()
    except SyntaxError as exc:
        raise ValueError("config rejected") from exc


SCENARIOS: dict[str, Callable[[], object]] = {
    "syntax": _syntax,
    "syntax_eval": _syntax_eval,
    "syntax_chained": _syntax_chained,
    "binary": _binary,
    "subscript": _subscript,
    "wide": _wide,
    "multiline": _multiline,
    "cause": _cause,
    "context_notes": _context,
    "chain_context": _chain_context,
    "suppressed": _suppressed,
    "group": _group,
    "wide_group": _wide_group,
    "recursion": _recursion,
    "broken_str": _broken,
    "empty": _empty,
    "cycle": _cycle,
    "notes": _notes_only,
}


def exceptions() -> dict[str, BaseException]:
    """Each scenario's exception, raised for real."""
    return {name: _raises(function) for name, function in SCENARIOS.items()}


def _load(src: Path) -> types.ModuleType:
    """``tapelog.errors`` from a source tree, without running ``tapelog/__init__``."""
    package = types.ModuleType("tapelog")
    package.__path__ = [str(src / "tapelog")]
    sys.modules["tapelog"] = package
    import tapelog.errors

    return tapelog.errors


def main(src: str) -> None:
    errors = _load(Path(src))
    results = {}
    for name, exc in exceptions().items():
        info = errors.capture(exc, locals=False, redact=False)
        rendered = info.render()
        back = errors.ErrorInfo.from_dict(json.loads(json.dumps(info.to_dict()))).render()
        results[name] = {
            "equal": rendered == "".join(traceback.format_exception(exc)),
            "round_trip": back == rendered,
        }
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
