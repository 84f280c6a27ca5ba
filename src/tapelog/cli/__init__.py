"""The ``tapelog`` command line."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """Run the command line."""
    del argv
    return 0
