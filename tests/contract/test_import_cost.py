"""``import tapelog`` loads only what every program needs; the rest comes on first use.

Behaviour, not timing: which modules a fresh interpreter holds after ``import tapelog``
(the time itself is measured in benchmarks/, "import time").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from pathlib import Path


# What a configuration may not use, and what tapelog therefore must not import up front.
# (Not `tomllib`: coverage, measuring a subprocess, reads pyproject.toml with it.)
LAZY = (
    "tapelog._pipeline",
    "tapelog._entry",
    "tapelog.config._sources",
    "tapelog.config._validate",
    "tapelog.config._sinks",
    "tapelog.config._convert",
    "tapelog.config._watch",
    "tapelog.formats",
    "tapelog.processors",
    "tapelog.sinks._console",
    "tapelog.sinks._registry",
    "tapelog.sinks._file",
    "tapelog.stdlib",
    "tapelog.metrics",
    "tapelog.trading",
    "logging",
    "orjson",
)


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAPELOG_")}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**clean, **env},
        timeout=60,
    )


def test_import_tapelog_loads_no_parser_format_or_sink() -> None:
    code = (
        f"import sys, json, tapelog; print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))"
    )
    assert [] == json.loads(run(code).stdout.splitlines()[-1])


def test_the_first_entry_still_goes_to_the_default_console() -> None:
    code = "import tapelog; tapelog.get_logger('lazy').warning('hello', n=1); tapelog.flush(5)"
    err = run(code).stderr
    assert "hello" in err
    assert "lazy" in err


def test_the_lazy_public_names_are_there() -> None:
    code = (
        "import tapelog, json; print(json.dumps([tapelog.Config.__module__,"
        " tapelog.capture_stdlib.__module__, tapelog.Config().queue.size]))"
    )
    assert ["tapelog.config", "tapelog", 65536] == json.loads(run(code).stdout)


def test_a_bad_environment_config_is_reported_by_a_program_that_never_logs(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[queue]\nsize = 'many'\n")
    err = run("import tapelog", TAPELOG_CONFIG=str(path)).stderr
    assert "queue.size" in err
