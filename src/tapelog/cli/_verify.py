"""Check audit files' hash chains; say where a chain breaks (exit 0 intact, 1 broken, 2 usage)."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING

import orjson

from tapelog.audit import AuditKey, verify
from tapelog.audit._chain import DEFAULT_KEY_ENV, load_key
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``PATH...``, ``--json``, ``--key-file``, ``--checkpoints``, ``--live``."""
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="audit files, directories, .gz/.zst archives"
    )
    parser.add_argument("--json", action="store_true", help="one JSON report on stdout")
    parser.add_argument(
        "--key-file",
        action="append",
        default=[],
        metavar="FILE",
        help=f"an HMAC key (repeatable; ${DEFAULT_KEY_ENV} is used too)",
    )
    parser.add_argument(
        "--checkpoints",
        metavar="FILE",
        help="checkpoints kept elsewhere (<file>.checkpoints): each must be in its chain",
    )
    parser.add_argument(
        "--live",
        action="store_true",
        help="files still being written: a chain may end without its closing record",
    )


def _keys(files: list[str]) -> list[AuditKey]:
    keys: list[AuditKey] = []
    for name in files:
        key = load_key(None, name)
        if key is not None:
            keys.append(key)
    if os.environ.get(DEFAULT_KEY_ENV):
        key = load_key(DEFAULT_KEY_ENV, None)
        if key is not None:
            keys.append(key)
    return keys


def run(args: argparse.Namespace) -> int:
    """Verify, print the report; the exit status says whether every chain holds."""
    started = time.perf_counter()
    try:
        keys = _keys(args.key_file)
        report = verify(args.paths, keys=keys, checkpoints=args.checkpoints, live=args.live)
    except ConfigError as exc:
        print(f"tapelog verify: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError:
        print(
            'tapelog verify: .zst files need zstandard: pip install "tapelog[zstd]"',
            file=sys.stderr,
        )
        return 2
    except OSError as exc:
        print(f"tapelog verify: {exc}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - started
    if args.json:
        document = report.as_dict()
        document["seconds"] = round(elapsed, 3)
        sys.stdout.write(orjson.dumps(document).decode() + "\n")
        return 0 if report.ok else 1
    for problem in report.problems:
        print(problem)
    for name in report.retained:
        print(f"removed by retention (sealed record): {name}")
    files = len(report.files)
    if report.ok:
        print(
            f"OK: {report.entries} entries in {report.chains} chain(s) across {files} file(s) "
            f"hold ({elapsed:.2f}s)"
        )
        return 0
    print(
        f"BROKEN: {len(report.problems)} problem(s) in {report.entries} entries across "
        f"{files} file(s)"
    )
    return 1
