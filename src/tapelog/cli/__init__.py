"""The ``tapelog`` command line: one module per command, dispatched from here."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from tapelog._build import build_name as _build_name
from tapelog._version import __version__
from tapelog.cli import (
    _archive,
    _config,
    _demo,
    _metrics,
    _query,
    _reload,
    _schema,
    _tail,
    _verify,
)


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


__all__ = ["main"]

_COMMANDS: dict[
    str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
] = {
    "archive": (_archive.add_arguments, _archive.run),
    "config": (_config.add_arguments, _config.run),
    "demo": (_demo.add_arguments, _demo.run),
    "metrics": (_metrics.add_arguments, _metrics.run),
    "query": (_query.add_arguments, _query.run),
    "reload": (_reload.add_arguments, _reload.run),
    "schema": (_schema.add_arguments, _schema.run),
    "tail": (_tail.add_arguments, _tail.run),
    "verify": (_verify.add_arguments, _verify.run),
}


def _build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command."""
    parser = argparse.ArgumentParser(prog="tapelog", description="Structured logging tools.")
    parser.add_argument(
        "--version",
        action="version",
        version=f"tapelog {__version__} ({_build_name()})",
        help="print the version and the build (compiled or pure Python)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _) in _COMMANDS.items():
        module_doc = sys.modules[add_arguments.__module__].__doc__ or ""
        summary = module_doc.strip().splitlines()[0] if module_doc else name
        add_arguments(sub.add_parser(name, help=summary, description=summary))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _, run = _COMMANDS[args.command]
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
