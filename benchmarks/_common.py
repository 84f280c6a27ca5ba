"""Small helpers shared by the parent (``__main__``) and the child (``run_one``) processes."""

from __future__ import annotations

import json
import os
import resource
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable


ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
MESSAGE_BYTES = b"order placed"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def make_stamper() -> Callable[[int], str]:
    """An ISO 8601 UTC timestamp with microseconds, the cheap way: one strftime per second."""
    last_second = -1
    prefix = ""

    def stamp(ns: int) -> str:
        nonlocal last_second, prefix
        second, rest = divmod(ns, 1_000_000_000)
        if second != last_second:
            last_second = second
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{prefix}.{rest // 1000:06d}Z"

    return stamp


def current_rss_mib() -> float:
    """The resident set size of this process now, in MiB."""
    with Path("/proc/self/statm").open() as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def rss_of_pid_mib(pid: int) -> float | None:
    """The resident set size of another process now, in MiB; None once it is gone."""
    try:
        with Path(f"/proc/{pid}/statm").open() as f:
            return int(f.read().split()[1]) * _PAGE / 2**20
    except (OSError, IndexError, ValueError):
        return None


def peak_rss_mib() -> float:
    """The peak resident set size of this process so far (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def count_lines(path: Path) -> tuple[int, int, int, str]:
    """Count the lines of a log file.

    Returns:
        (lines holding the benchmark's message, all lines, bytes, the last such line).
    """
    matching = total = 0
    last = b""
    if not path.exists():
        return 0, 0, 0, ""
    with path.open("rb") as f:
        for line in f:
            total += 1
            if MESSAGE_BYTES in line:
                matching += 1
                last = line
    return matching, total, path.stat().st_size, last.decode("utf-8", "replace").rstrip("\n")


def median(values: Iterable[float | None]) -> float | None:
    """The median of the values that are not None; None if there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def percentile(sorted_values: list[int], fraction: float) -> int:
    """The nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def child_env() -> dict[str, str]:
    """The environment for a child: this one without ``TAPELOG_*`` overrides."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TAPELOG_")}


def emit(result: dict[str, object], out: Path | None) -> None:
    """A child's result: JSON to ``out`` (where the parent reads it), or to stdout."""
    text = json.dumps(result)
    if out is None:
        print(text)
    else:
        out.write_text(text)
