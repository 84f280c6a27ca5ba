"""The compiled build for the "tapelog (async, compiled)" row.

``./dev bench`` builds it where a C compiler is found: ``TAPELOG_COMPILE=1 pip install
--no-deps --target DIR .`` into ``build/bench-compiled/<interpreter>-<source hash>/``
(once per state of the source), and that row's children import tapelog from there
(``PYTHONPATH``), every other row from the source tree as before. The row checks
``tapelog.build()`` in the child, so it can never measure the pure package by mistake.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from benchmarks._common import ROOT


COMPILED_ROWS = frozenset({"tapelog-compiled"})
_BUILDS = ROOT / "build" / "bench-compiled"


def source_hash() -> str:
    """A digest of everything the compiled build is made from."""
    digest = hashlib.sha256()
    files = [ROOT / "pyproject.toml", ROOT / "hatch_build.py", *sorted((ROOT / "src").rglob("*"))]
    for path in files:
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(ROOT).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def missing_compiler() -> str | None:
    """Why this machine cannot build it (no compiler, no headers), or None."""
    compiler = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    program = shlex.split(compiler)[0] if compiler.strip() else "cc"
    if shutil.which(program) is None:
        return f"no C compiler ({program!r} is not on PATH)"
    if not (Path(sysconfig.get_paths()["include"]) / "Python.h").is_file():
        return "no Python headers (Python.h)"
    return None


def ensure_built() -> tuple[Path | None, str]:
    """The directory holding the compiled package (built if needed), or None and why not."""
    why = missing_compiler()
    if why is not None:
        return None, why
    tag = f"{sys.implementation.cache_tag}-{source_hash()}"
    target = _BUILDS / tag
    if (target / ".complete").is_file():
        return target, f"cached in {target.relative_to(ROOT)}"
    if _BUILDS.is_dir():
        shutil.rmtree(_BUILDS)  # older states of the source
    env = {**os.environ, "TAPELOG_COMPILE": "1"}
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-deps", "--target", str(target), str(ROOT)),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return None, "the compiled build failed: " + " / ".join(tail)
    (target / ".complete").write_text(tag)
    return target, f"built into {target.relative_to(ROOT)}"


def pythonpath_for(target: str, built: Path | None) -> dict[str, str]:
    """What a child of ``target`` adds to its environment: the compiled package's path."""
    if target not in COMPILED_ROWS or built is None:
        return {}
    paths = [str(built), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths)}
