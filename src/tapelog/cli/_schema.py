"""Print the JSON Schema every log entry validates against."""

from __future__ import annotations

import sys
from importlib import resources
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    import argparse


def schema_text() -> str:
    """The shipped schema, as text."""
    return (
        resources.files("tapelog")
        .joinpath("schemas/log-entry.schema.json")
        .read_text(encoding="utf-8")
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options."""
    del parser


def run(args: argparse.Namespace) -> int:
    """Write the schema to stdout."""
    del args
    text = schema_text()
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
