"""The optional compiled build: which build runs, and how asking for it fails without a compiler.

`./dev test` runs the suite on the pure-Python package; `TAPELOG_COMPILE=1
VENV=.venv-compiled ./dev test` installs the compiled build and runs the same suite on it,
with ``EXPECTED_TAPELOG_BUILD=compiled`` set, so a build that silently came out pure fails
here instead of passing as if it had been tested.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

import pytest

import tapelog
from tapelog._build import COMPILED_MODULES, compiled_modules


ROOT = Path(__file__).resolve().parents[2]
EXPECTED = os.environ.get("EXPECTED_TAPELOG_BUILD", "pure Python")


def test_the_running_build_is_the_one_this_run_installed() -> None:
    """Every listed module runs compiled in the compiled run, and none in the pure one."""
    loaded = {name: importlib.import_module(name).__file__ or "" for name in COMPILED_MODULES}
    extensions = sorted(
        name for name, path in loaded.items() if path.endswith(tuple(EXTENSION_SUFFIXES))
    )

    assert EXPECTED == tapelog.build()
    if EXPECTED == "compiled":
        assert sorted(COMPILED_MODULES) == extensions
        assert sorted(COMPILED_MODULES) == sorted(compiled_modules())
    else:
        assert [] == extensions
        assert () == compiled_modules()


def test_json_lines_encodes_a_batch_s_call_fields_at_once_in_the_pure_build_only() -> None:
    """The batch-wide encoding of call fields pays in pure Python and costs compiled (see
    ``tapelog._entry.ONE_CALL_ENCODING``): the entry builder tells its build right."""
    from tapelog._entry import ONE_CALL_ENCODING

    assert ONE_CALL_ENCODING is (EXPECTED == "pure Python")


def test_the_compiled_list_names_modules_that_exist() -> None:
    """The build hook compiles these files: each one is a module of the package's source."""
    missing = [
        name
        for name in COMPILED_MODULES
        if not (ROOT / "src" / (name.replace(".", "/") + ".py")).is_file()
    ]

    assert [] == missing


def _wheel(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``pip wheel`` of this checkout with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
        timeout=300,
    )


@pytest.mark.slow
def test_asking_for_the_compiled_build_without_a_compiler_names_what_is_missing(
    tmp_path: Path,
) -> None:
    """TAPELOG_COMPILE=1 on a machine without a C compiler fails, and says so."""
    done = _wheel(tmp_path, TAPELOG_COMPILE="1", CC="/nonexistent/tapelog-test-cc")
    output = done.stdout + done.stderr

    assert 0 != done.returncode
    assert "TAPELOG_COMPILE=1 asks for the compiled build" in output
    assert "a C compiler ('/nonexistent/tapelog-test-cc' is not on PATH" in output
    assert [] == list(tmp_path.glob("*.whl"))


@pytest.mark.slow
def test_a_bad_compile_value_is_refused_by_name(tmp_path: Path) -> None:
    """TAPELOG_COMPILE takes 1 or 0; anything else is an error naming the value."""
    done = _wheel(tmp_path, TAPELOG_COMPILE="maybe")

    assert 0 != done.returncode
    assert "TAPELOG_COMPILE: expected 1 (compile) or 0 (pure Python), got 'maybe'" in (
        done.stdout + done.stderr
    )
