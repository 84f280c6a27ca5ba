"""The optional compiled build: ``TAPELOG_COMPILE=1 pip install .``.

Without ``TAPELOG_COMPILE=1`` this hook does nothing and the wheel is pure Python. With
it, the modules listed in ``src/tapelog/_build.py`` (``COMPILED_MODULES``) are compiled
by mypyc (pinned in pyproject.toml, ``compile-requires``) into C extension modules, which
the wheel ships next to the same ``.py`` files; Python loads an extension module before
a source file of the same name. Asking for it without a C compiler or the Python headers
fails with a message naming what is missing. See docs/architecture.md, "The optional compiled core".
"""

from __future__ import annotations

import ast
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


# The compiler and what it needs at build time only; the installed package needs none of it.
MYPYC_REQUIRES = ["mypy==2.4.1", "setuptools==80.9.0", "orjson>=3.10"]

_BUILD_SCRIPT = r"""
import os, sys
from mypyc.build import mypycify
from setuptools import setup
out, paths = sys.argv[1], sys.argv[2:]
extensions = mypycify(
    [*paths, "--follow-imports", "silent", "--cache-dir", os.path.join(out, "mypy-cache")],
    opt_level="3",
    target_dir=os.path.join(out, "c"),
)
setup(
    name="tapelog-compiled",
    ext_modules=extensions,
    script_args=[
        "--quiet", "build_ext", "--build-lib", os.path.join(out, "lib"),
        "--build-temp", os.path.join(out, "tmp"), "--parallel", "2",
    ],
)
"""


def wanted() -> bool:
    """Whether this build was asked to compile (``TAPELOG_COMPILE=1``)."""
    value = os.environ.get("TAPELOG_COMPILE", "").strip().lower()
    if value in {"", "0", "false", "no"}:
        return False
    if value in {"1", "true", "yes"}:
        return True
    msg = f"TAPELOG_COMPILE: expected 1 (compile) or 0 (pure Python), got {value!r}"
    raise ValueError(msg)


def missing_toolchain() -> list[str]:
    """What the compiled build needs and this machine lacks (empty when nothing is)."""
    missing: list[str] = []
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    program = shlex.split(compiler)[0] if compiler.strip() else "cc"
    if shutil.which(program) is None:
        missing.append(f"a C compiler ({program!r} is not on PATH; e.g. apt-get install gcc)")
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").is_file():
        missing.append(
            f"the Python headers (no Python.h in {include}; e.g. apt-get install python3-dev)"
        )
    return missing


def compiled_module_list(root: Path) -> list[str]:
    """``COMPILED_MODULES`` as ``src/tapelog/_build.py`` states it, read without importing."""
    tree = ast.parse((root / "src/tapelog/_build.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and node.target.id == "COMPILED_MODULES"
            and node.value is not None
        ):
            return list(ast.literal_eval(node.value))
    msg = "src/tapelog/_build.py: no COMPILED_MODULES tuple"
    raise RuntimeError(msg)


class CompileHook(BuildHookInterface):  # type: ignore[type-arg]
    """Compiles the hot modules with mypyc when ``TAPELOG_COMPILE=1``."""

    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        """The compiler (mypy carries mypyc) and setuptools, for a compiled build only."""
        if self.target_name != "wheel" or not wanted():
            return []
        return [str(requirement) for requirement in self.config.get("compile-requires", [])]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Compile, then add the extension modules to the wheel."""
        if self.target_name != "wheel" or not wanted():
            return
        if version == "editable":
            msg = (
                "TAPELOG_COMPILE=1: the compiled build needs a regular install "
                "(pip install .), not an editable one (pip install -e .)"
            )
            raise RuntimeError(msg)
        missing = missing_toolchain()
        if missing:
            msg = (
                "TAPELOG_COMPILE=1 asks for the compiled build, but this machine lacks "
                + " and ".join(missing)
                + ". Install them, or leave TAPELOG_COMPILE unset for the pure-Python "
                "package (same behaviour)."
            )
            raise RuntimeError(msg)
        root = Path(self.root)
        modules = compiled_module_list(root)
        paths = [name.replace(".", "/") + ".py" for name in modules]
        self._out = tempfile.mkdtemp(prefix="tapelog-compile-")
        self.app.display_info(f"tapelog: compiling {len(paths)} modules with mypyc")
        result = subprocess.run(
            [sys.executable, "-c", _BUILD_SCRIPT, self._out, *paths],
            cwd=root / "src",
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            msg = f"tapelog: mypyc failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            raise RuntimeError(msg)
        lib = Path(self._out) / "lib"
        built = sorted(path for path in lib.rglob("*") if path.is_file())
        if not built:
            msg = f"tapelog: mypyc built nothing:\n{result.stdout[-4000:]}"
            raise RuntimeError(msg)
        for path in built:
            build_data["force_include"][str(path)] = path.relative_to(lib).as_posix()
        build_data["pure_python"] = False
        build_data["infer_tag"] = True

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        """Remove the build's temporary directory."""
        del version, build_data, artifact_path
        out = getattr(self, "_out", None)
        if out is not None:
            shutil.rmtree(out, ignore_errors=True)
