"""The public surface: DESIGN.md's table, sorted, each name at home, classes final."""

from __future__ import annotations

import inspect
import subprocess
import sys

import tapelog


DESIGN_NAMES = {
    "configure",
    "get_logger",
    "Logger",
    "context",
    "bind_context",
    "unbind_context",
    "clear_context",
    "get_context",
    "set_level",
    "flush",
    "shutdown",
    "stats",
    "Stats",
    "reload",
    "capture_stdlib",
}


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """__all__ is sorted and holds every name of DESIGN.md's table."""
        assert sorted(tapelog.__all__) == tapelog.__all__
        assert set() == DESIGN_NAMES - set(tapelog.__all__)

    def test_every_export_exists(self) -> None:
        """Every name in __all__ resolves."""
        missing = [name for name in tapelog.__all__ if not hasattr(tapelog, name)]

        assert [] == missing

    def test_concrete_classes_are_final(self) -> None:
        """Public classes cannot be subclassed by accident."""
        not_final = [
            name
            for name in tapelog.__all__
            if inspect.isclass(getattr(tapelog, name))
            and not issubclass(getattr(tapelog, name), BaseException)
            and name != "Config"
            and not getattr(getattr(tapelog, name), "__final__", False)
        ]

        assert [] == not_final

    def test_version(self) -> None:
        """__version__ is a dotted version string."""
        assert tapelog.__version__.count(".") >= 2

    def test_testing_module(self) -> None:
        """tapelog.testing offers capture."""
        from tapelog import testing

        assert callable(testing.capture)


class TestLayers:
    def test_caller_side_does_not_import_sinks_or_formats(self) -> None:
        """Importing the caller's side loads no sink, format or config module."""
        code = (
            "import sys, tapelog._logger, tapelog._context, tapelog._levels;"
            "print(sorted(m for m in sys.modules if m.startswith(('tapelog.sinks', 'tapelog.formats', 'tapelog.config'))))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout

        assert "[]" == out.strip()
