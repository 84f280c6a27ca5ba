"""List archives with their time ranges, sizes and integrity, or restore them."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from tapelog.retention._archive import RestoreError, list_archives, restore_archive


if TYPE_CHECKING:
    import argparse

    from tapelog.retention._archive import ArchiveStatus


__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``list`` and ``restore`` subcommands."""
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="archives in a directory: time range, size, entries, integrity",
        description="List the archives in DIR with their time range, size, entry count "
        "and integrity against the manifest (exit status 1 if any fails).",
    )
    listing.add_argument("directory", metavar="DIR", help="an archive or log directory")
    listing.add_argument("--json", action="store_true", help="one JSON object per archive")
    listing.add_argument(
        "--no-verify", action="store_true", help="compare sizes only, do not hash the archives"
    )
    restore = sub.add_parser(
        "restore",
        help="decompress archives into a directory, verified, never overwriting",
        description="Decompress each ARCHIVE into DIR under its original name, verifying the "
        "archive and the content against the manifest; an existing file is never replaced.",
    )
    restore.add_argument("archives", nargs="+", metavar="ARCHIVE", help="archive files")
    restore.add_argument("--to", required=True, metavar="DIR", help="where to write")


def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":  # noqa: PLR2004 - binary units
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def _row(status: ArchiveStatus) -> dict[str, object]:
    record = status.record
    return {
        "file": status.name,
        "first": status.first,
        "last": status.last,
        "size": status.size,
        "entries": record.entries if record is not None else None,
        "content_size": record.content_size if record is not None else None,
        "compression": record.compression if record is not None else None,
        "integrity": status.integrity,
        "detail": status.detail,
    }


def _list(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        sys.stderr.write(f"tapelog archive list: {directory}: not a directory\n")
        return 2
    statuses = list_archives(directory, verify=not args.no_verify)
    bad = [s for s in statuses if s.integrity in {"mismatch", "missing"}]
    if args.json:
        for status in statuses:
            sys.stdout.write(orjson.dumps(_row(status)).decode() + "\n")
    else:
        rows = [
            (
                s.name,
                s.first or "-",
                s.last or "-",
                _human(s.size),
                str(s.record.entries) if s.record is not None else "-",
                s.integrity.upper() + (f" ({s.detail})" if s.detail else ""),
            )
            for s in statuses
        ]
        header = ("FILE", "FIRST", "LAST", "SIZE", "ENTRIES", "INTEGRITY")
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            sys.stdout.write("  ".join([*cells, row[-1]]) + "\n")
        total = sum(s.size or 0 for s in statuses)
        entries = sum(s.record.entries for s in statuses if s.record is not None)
        summary = f"{len(statuses)} archive(s), {_human(total)}, {entries} entries recorded"
        sys.stdout.write(f"{summary}; {len(bad)} failed the integrity check\n")
    return 1 if bad else 0


def _restore(args: argparse.Namespace) -> int:
    to = Path(args.to)
    status = 0
    for name in args.archives:
        archive = Path(name)
        try:
            restored = restore_archive(archive, to)
        except RestoreError as exc:
            sys.stderr.write(f"tapelog archive restore: {exc}\n")
            status = 1
            continue
        except OSError as exc:
            sys.stderr.write(f"tapelog archive restore: {archive}: {exc.strerror or exc}\n")
            status = 1
            continue
        except (EOFError, ValueError) as exc:  # a truncated or corrupt archive
            sys.stderr.write(f"tapelog archive restore: {archive}: unreadable: {exc}\n")
            status = 1
            continue
        if restored.record is None:
            sys.stdout.write(f"restored {restored.path} (not in the manifest: unverified)\n")
        else:
            sys.stdout.write(
                f"restored {restored.path} ({restored.record.entries} entries, "
                f"sha256 {restored.record.content_sha256[:12]}... verified)\n"
            )
    return status


def run(args: argparse.Namespace) -> int:
    """Run ``list`` or ``restore``."""
    return _list(args) if args.action == "list" else _restore(args)
