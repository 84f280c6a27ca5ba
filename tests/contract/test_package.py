"""The built wheel ships the schema and py.typed, and the command line runs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[2]


class TestWheel:
    @pytest.mark.slow
    def test_wheel_contains_package_data(self, tmp_path: Path) -> None:
        """The wheel holds py.typed and the schema next to the code."""
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--quiet",
                "-w",
                str(tmp_path),
                str(ROOT),
            ],
            check=True,
            capture_output=True,
            env={key: value for key, value in os.environ.items() if key != "TAPELOG_COMPILE"},
        )
        wheel = next(tmp_path.glob("tapelog-*.whl"))
        names = set(zipfile.ZipFile(wheel).namelist())

        assert {
            "tapelog/py.typed",
            "tapelog/schemas/log-entry.schema.json",
            "tapelog/lnav/tapelog_json.json",
        } <= names
        # Without TAPELOG_COMPILE=1 the wheel is pure Python, for any interpreter.
        assert wheel.name.endswith("-py3-none-any.whl")
        assert [] == [name for name in names if name.endswith((".so", ".pyd", ".c"))]


class TestCommandLine:
    def test_schema_command_prints_the_shipped_schema(self) -> None:
        """`tapelog schema` prints the same schema the package ships."""
        out = subprocess.run(
            [sys.executable, "-m", "tapelog", "schema"], capture_output=True, text=True, check=True
        ).stdout
        shipped = json.loads((ROOT / "src/tapelog/schemas/log-entry.schema.json").read_text())

        assert shipped == json.loads(out)

    def test_schema_carries_the_wave_two_contract(self) -> None:
        """The shipped schema knows the domain keys the contract gained in wave 2."""
        schema = json.loads((ROOT / "src/tapelog/schemas/log-entry.schema.json").read_text())
        error = schema["$defs"]["error"]["properties"]
        audit = schema["$defs"]["audit"]["properties"]

        assert {
            "errno",
            "server.address",
            "server.port",
            "url.full",
            "http.response.status_code",
            "suppress_context",
        } <= error.keys()
        assert "writer" in audit
        assert re.fullmatch(schema["propertyNames"]["pattern"], "ключ")

    def test_no_command_prints_help(self) -> None:
        """`tapelog` without a command explains itself and exits 2."""
        result = subprocess.run(
            [sys.executable, "-m", "tapelog"], capture_output=True, text=True, check=False
        )

        assert (2, True) == (result.returncode, "demo" in result.stdout)
