"""Process and system readings for ``[metrics] system = true``.

With psutil installed (the ``metrics`` extra) every reading comes from it. Without it, on
Linux, the same readings come from ``/proc`` (``/proc/self/stat``, ``/proc/self/statm``,
``/proc/stat``, ``/proc/meminfo``, ``/proc/net/dev``, ``/proc/diskstats``); elsewhere,
only the process's CPU time (``os.times``) and its peak resident size
(``resource.getrusage``) are known, and the rest is left out rather than guessed.

A reading is cumulative (CPU seconds, bytes sent); the reporter turns two readings into
an interval's utilisation and byte counts. Names and units are OpenTelemetry's.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final


__all__ = ["Reading", "SystemSampler", "psutil_available"]


@functools.cache
def _load_psutil() -> Any:
    """psutil, imported on first use (it costs milliseconds), or None without the extra."""
    try:
        return importlib.import_module("psutil")
    except ImportError:  # pragma: no cover - depends on the extra being installed
        return None


def psutil_available() -> bool:
    """Whether psutil (the ``metrics`` extra) is installed."""
    return _load_psutil() is not None


def _cpus() -> int:
    with contextlib.suppress(AttributeError, OSError):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


@dataclass(slots=True)
class Reading:
    """One set of cumulative readings at ``wall`` (monotonic seconds); None: not known."""

    wall: float
    source: str = "psutil"
    process_cpu: float | None = None
    """Seconds of CPU (user + system) this process used."""
    process_memory: tuple[int, int] | None = None
    """Bytes resident and virtual."""
    threads: int | None = None
    system_cpu: tuple[float, float] | None = None
    """Seconds all CPUs were busy, and in total (for utilisation)."""
    system_memory: tuple[int, int] | None = None
    """Bytes in use (total less available), and in total."""
    net: dict[str, int] = field(default_factory=dict[str, int])
    """``transmit`` and ``receive`` bytes, all interfaces."""
    disk: dict[str, int] = field(default_factory=dict[str, int])
    """``read`` and ``write`` bytes, all disks."""
    peak_rss: int | None = None
    """Without psutil or /proc: the peak resident size, all that is known."""


class SystemSampler:
    """Takes readings, through psutil or the fallback; ``use_psutil=False`` forces it."""

    def __init__(self, *, use_psutil: bool = True) -> None:
        psutil = _load_psutil() if use_psutil else None
        self.source = "psutil" if psutil is not None else _fallback_name()
        self.cpus = _cpus()
        self._process: Any = psutil.Process() if psutil is not None else None
        self._page = _page_size()

    def read(self) -> Reading:
        """A reading now; a source that fails leaves its fields out."""
        if self.source == "psutil":
            return self._read_psutil()
        if self.source == "proc":
            return self._read_proc()
        return self._read_portable()

    def _read_psutil(self) -> Reading:
        psutil = _load_psutil()
        reading = Reading(time.monotonic(), source="psutil")
        process = self._process
        with contextlib.suppress(Exception), process.oneshot():
            times = process.cpu_times()
            reading.process_cpu = times.user + times.system
            memory = process.memory_info()
            reading.process_memory = (memory.rss, memory.vms)
            reading.threads = process.num_threads()
        with contextlib.suppress(Exception):
            cpu = psutil.cpu_times()
            idle = cpu.idle + getattr(cpu, "iowait", 0.0)
            total = sum(cpu)
            # guest time is already counted in user time on Linux
            total -= getattr(cpu, "guest", 0.0) + getattr(cpu, "guest_nice", 0.0)
            reading.system_cpu = (total - idle, total)
        with contextlib.suppress(Exception):
            memory = psutil.virtual_memory()
            reading.system_memory = (memory.total - memory.available, memory.total)
        with contextlib.suppress(Exception):
            net = psutil.net_io_counters()
            if net is not None:
                reading.net = {"transmit": net.bytes_sent, "receive": net.bytes_recv}
        with contextlib.suppress(Exception):
            disk = psutil.disk_io_counters()
            if disk is not None:
                reading.disk = {"read": disk.read_bytes, "write": disk.write_bytes}
        return reading

    def _read_proc(self) -> Reading:
        reading = Reading(time.monotonic(), source="proc")
        times = os.times()
        reading.process_cpu = times.user + times.system
        with contextlib.suppress(OSError, ValueError, IndexError):
            with Path("/proc/self/statm").open("rb") as file:
                parts = file.read().split()
            reading.process_memory = (int(parts[1]) * self._page, int(parts[0]) * self._page)
        with contextlib.suppress(OSError, ValueError, IndexError):
            with Path("/proc/self/stat").open("rb") as file:
                stat = file.read()
            # after the command name in parentheses: field 20 (num_threads) is index 17
            reading.threads = int(stat[stat.rindex(b")") + 2 :].split()[17])
        with contextlib.suppress(OSError, ValueError, IndexError):
            with Path("/proc/stat").open("rb") as file:
                first = file.readline().split()
            ticks = [int(x) for x in first[1:]]
            hz = os.sysconf("SC_CLK_TCK")
            # user nice system idle iowait irq softirq steal guest guest_nice
            total = sum(ticks[:8])
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # noqa: PLR2004
            reading.system_cpu = ((total - idle) / hz, total / hz)
        with contextlib.suppress(OSError, ValueError, KeyError):
            info: dict[str, int] = {}
            with Path("/proc/meminfo").open("rb") as file:
                for line in file:
                    key, _, rest = line.partition(b":")
                    info[key.decode()] = int(rest.split()[0]) * 1024
            reading.system_memory = (info["MemTotal"] - info["MemAvailable"], info["MemTotal"])
        with contextlib.suppress(OSError, ValueError, IndexError):
            sent = received = 0
            with Path("/proc/net/dev").open("rb") as file:
                for line in file.readlines()[2:]:
                    _, _, rest = line.partition(b":")
                    numbers = rest.split()
                    received += int(numbers[0])
                    sent += int(numbers[8])
            reading.net = {"transmit": sent, "receive": received}
        with contextlib.suppress(OSError, ValueError, IndexError):
            read = written = 0
            with Path("/proc/diskstats").open("rb") as file:
                for line in file:
                    parts = line.split()
                    name = parts[2].decode()
                    if _whole_disk(name):
                        read += int(parts[5]) * 512
                        written += int(parts[9]) * 512
            reading.disk = {"read": read, "write": written}
        return reading

    def _read_portable(self) -> Reading:
        reading = Reading(time.monotonic(), source="resource")
        times = os.times()
        reading.process_cpu = times.user + times.system
        with contextlib.suppress(ImportError, OSError):
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            reading.peak_rss = peak if sys.platform == "darwin" else peak * 1024
        return reading


_PARTITION_SUFFIX: Final = ("p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9")


def _whole_disk(name: str) -> bool:
    """Count whole devices only (``sda``, ``nvme0n1``, ``vda``), not their partitions."""
    if name.startswith(("loop", "ram", "dm-", "sr", "zram")):
        return False
    if Path(f"/sys/block/{name}").exists():
        return True
    return not name[-1:].isdigit() and not name.endswith(_PARTITION_SUFFIX)


def _fallback_name() -> str:
    return "proc" if Path("/proc/self/statm").exists() else "resource"


def _page_size() -> int:
    with contextlib.suppress(AttributeError, ValueError, OSError):
        return os.sysconf("SC_PAGE_SIZE")
    return 4096
