"""Check a config file, or show the effective configuration and where each value came from.

``tapelog config check FILE`` validates the file on its own (the environment is not
applied) and exits 0, or 1 with the key path, the bad value and what is allowed.
``tapelog config show [FILE]`` merges the file (default: ``TAPELOG_CONFIG``), the
environment and the defaults as a process started here would, and prints every key
path with its value and its origin; secrets are redacted, and file modes are shown in
octal as TOML writes them (``0o640``; ``--json`` gives the number, JSON having no octal).
Every ``invalid:`` message names the key path, the problem and where the value came from.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from tapelog._runtime import redactor_for
from tapelog.config._sources import load_config
from tapelog.config._watch import describe
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    import argparse


EXIT_INVALID = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``check FILE`` and ``show [FILE] [--json]``."""
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check",
        help="validate a config file (exit 1 naming the key path and the reason)",
        description="Validate a config file on its own, without the environment. "
        "Exit status: 0 valid, 1 invalid (the key path and the reason go to stderr), "
        "2 bad usage.",
    )
    check.add_argument("file", metavar="FILE", help="a .toml or .json config file")
    show = actions.add_parser(
        "show",
        help="the effective configuration, and where each value came from",
        description="Print the configuration a process started here would use: FILE "
        "(default: $TAPELOG_CONFIG), the TAPELOG_* environment and the defaults, one key "
        "path per line with its origin. Secrets are redacted. Exit status: 0, or 1 if the "
        "configuration is invalid.",
    )
    show.add_argument("file", metavar="FILE", nargs="?", help="a .toml or .json config file")
    show.add_argument("--json", action="store_true", help="print a JSON object instead")


def run(args: argparse.Namespace) -> int:
    """Run ``check`` or ``show``."""
    if args.action == "check":
        return _check(str(args.file))
    return _show(args.file, as_json=bool(args.json))


def _invalid(exc: ConfigError, path: str | None) -> int:
    """Print ``invalid: <key path>: <problem> (from <source>)``: every message names its source."""
    message = str(exc)
    if not exc.source and path is not None:
        message = f"{message} (from file:{os.path.abspath(path)})"  # noqa: PTH100 - a str
    print(f"invalid: {message}", file=sys.stderr)
    return EXIT_INVALID


def _check(path: str) -> int:
    try:
        load_config(path, environ={})
    except ConfigError as exc:
        return _invalid(exc, path)
    print(f"ok: {path}")
    return 0


def _shown(key: str, value: object) -> str:
    """A value as TOML would write it; a file mode in octal (``0o640``, not ``416``)."""
    if key.rsplit(".", 1)[-1] == "mode" and type(value) is int:
        return f"0o{value:o}"
    return json.dumps(value, ensure_ascii=False)


def _show(path: str | None, *, as_json: bool) -> int:
    try:
        config = load_config(path)
    except ConfigError as exc:
        return _invalid(exc, path)
    rows = describe(config, redactor_for(config))
    if as_json:
        data = {key: {"value": value, "origin": origin} for key, value, origin in rows}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    cells = [(f"{key} = {_shown(key, value)}", origin) for key, value, origin in rows]
    width = max(len(text) for text, _ in cells)
    for text, origin in cells:
        print(f"{text.ljust(width)}  # {origin}")
    return 0
