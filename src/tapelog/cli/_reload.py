"""Ask a running process to reload its configuration (sends it SIGHUP).

The process must have called ``tapelog.install_signal_handlers(sighup=True)``. SIGHUP
ends a process that does not handle it, so where ``/proc`` says which signals a process
catches (Linux), a process that does not catch SIGHUP is refused unless ``--force``.
The reload itself happens in the process; its outcome is logged there
(``config.changed`` or ``config.reload_failed``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path


EXIT_NO_PROCESS = 1
EXIT_NOT_PERMITTED = 3
EXIT_NOT_HANDLED = 4

_EPILOG = """\
exit status:
  0  SIGHUP was sent
  1  there is no process with this PID
  2  bad usage
  3  not permitted: the process belongs to another user
  4  the process does not handle SIGHUP, which would end it (see --force)
"""


def _pid(text: str) -> int:
    # 0 and negative numbers would signal whole process groups: never that.
    if not text.isdigit() or int(text) <= 0:
        msg = f"expected a process id (a positive integer), got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``PID`` and ``--force``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("pid", metavar="PID", type=_pid, help="the process to reload")
    parser.add_argument(
        "--force",
        action="store_true",
        help="send SIGHUP even if the process does not seem to handle it",
    )


def handles_sighup(pid: int) -> bool | None:
    """Whether the process catches SIGHUP, from ``/proc/PID/status``; ``None`` if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            caught = int(line.split()[1], 16)
            return bool(caught >> (signal.SIGHUP - 1) & 1)
    return None


def run(args: argparse.Namespace) -> int:
    """Check the process, then send it SIGHUP."""
    pid = int(args.pid)
    try:
        os.kill(pid, 0)  # exists, and may we signal it?
    except ProcessLookupError:
        print(f"no process with PID {pid}", file=sys.stderr)
        return EXIT_NO_PROCESS
    except PermissionError:
        print(f"not permitted to signal process {pid} (another user's)", file=sys.stderr)
        return EXIT_NOT_PERMITTED
    if not args.force and handles_sighup(pid) is False:
        print(
            f"process {pid} does not handle SIGHUP, which would end it; it must call "
            "tapelog.install_signal_handlers(sighup=True) (or use --force)",
            file=sys.stderr,
        )
        return EXIT_NOT_HANDLED
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"no process with PID {pid}", file=sys.stderr)
        return EXIT_NO_PROCESS
    print(f"asked process {pid} to reload its configuration")
    return 0
