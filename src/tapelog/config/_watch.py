"""Live configuration: a watcher for the config file, and configurations described key by key.

The watcher polls the file with ``os.stat`` instead of using inotify, kqueue or a package
such as watchdog. Polling needs no dependency, works on every filesystem (NFS, overlay
and bind mounts in containers, where change notifications are missing or unreliable),
and costs one ``stat`` four times a second on a thread that otherwise sleeps on an
``Event``. The device and inode are part of what is compared, so an editor that saves by
writing a new file and renaming it over the old one is seen as well as one that writes
in place.

A change is acted on once the file has looked the same twice in a row, so a file caught
half-written is not loaded; what still fails to load is reported by the runtime, which
keeps the configuration it has. A rewrite that keeps the size and lands within the same
tick of the filesystem's clock as the previous write can go unseen; ``SIGHUP`` and
``tapelog.reload()`` always re-read the file.

``describe`` and ``diff`` turn configurations into key paths (``queue.size``,
``levels.proxy.health``, ``sinks[1].path``) with plain values, for ``tapelog config
show`` and for ``config.changed`` entries. Values under sensitive keys are redacted.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass
from datetime import date, time
from typing import Final, Protocol, TypeAlias, cast, final

from tapelog._levels import LEVEL_NAMES, OFF
from tapelog.config._convert import join, origin_of
from tapelog.config._model import Config, SinkConfig


__all__ = [
    "WATCH_INTERVAL",
    "ConfigWatcher",
    "Redacting",
    "Signature",
    "describe",
    "diff",
    "file_digest",
    "file_signature",
    "level_text",
]

WATCH_INTERVAL: Final = 0.25
"""Seconds between two looks at the config file."""

Signature: TypeAlias = tuple[int, int, int, int, int]
"""What identifies a version of a file: device, inode, size, mtime and ctime (ns)."""

_SKIPPED_FIELDS: Final = frozenset({"source_path", "origins"})


class Redacting(Protocol):
    """What describing a configuration needs of ``tapelog.processors.Redactor``."""

    @property
    def replacement(self) -> str:
        """The text that stands in for a secret."""
        ...

    def is_sensitive(self, key: str) -> bool:
        """Whether values under ``key`` are replaced whole."""
        ...

    def redact_text(self, text: str) -> str:
        """``text`` with credentials and pattern matches replaced."""
        ...


def file_signature(path: str) -> Signature | None:
    """Return the signature of the file at ``path``, or ``None`` if it cannot be seen."""
    try:
        st = os.stat(path)  # noqa: PTH116 - a str path, polled: no Path object per look
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: str) -> str | None:
    """Return a digest of the file's content, or ``None`` if it cannot be read."""
    try:
        with open(path, "rb") as file:  # noqa: PTH123 - one small read
            return hashlib.sha256(file.read()).hexdigest()
    except OSError:
        return None


@final
class ConfigWatcher:
    """Watches one file on a daemon thread and calls back when it changed and settled.

    It also runs reloads asked for with :meth:`request`, which only sets a flag and so is
    safe in a signal handler. The callback runs on the watcher's thread with the trigger,
    ``"watch"`` (the file changed) or ``"signal"`` (a request).

    Args:
        on_change: called with the trigger; an exception it raises is printed to stderr.
        interval: seconds between two looks.
    """

    def __init__(
        self, on_change: Callable[[str], object], *, interval: float = WATCH_INTERVAL
    ) -> None:
        self._on_change = on_change
        self._interval = interval
        self._lock = threading.Lock()
        self._path: str | None = None
        self._seen: Signature | None = None
        self._pending: Signature | None = None
        self._has_pending = False
        self._requested = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def path(self) -> str | None:
        """The file being watched, if any."""
        return self._path

    @property
    def running(self) -> bool:
        """Whether the thread is running and has not been asked to stop."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stop.is_set()

    def watch(self, path: str | None, seen: Signature | None) -> None:
        """Watch ``path`` (``None``: no file), whose version in effect is ``seen``.

        ``seen`` must be taken *before* the file was read, so that a write landing
        between the read and this call is still noticed.
        """
        with self._lock:
            self._path = path
            self._seen = seen
            self._has_pending = False

    def request(self) -> None:
        """Ask for a reload on the watcher's thread, at its next look.

        Only a flag is set: no lock is taken, so a signal handler may call this even
        when it interrupted a thread inside this watcher.
        """
        self._requested = True

    def poll(self) -> str | None:
        """Look once; run the callback for a request or a settled change.

        Returns:
            The trigger the callback ran with, or ``None``.
        """
        if self._requested:
            self._requested = False
            self._call("signal")
            return "signal"
        with self._lock:
            path = self._path
            if path is None:
                return None
            current = file_signature(path)
            if current == self._seen:
                self._has_pending = False
                return None
            if not self._has_pending or current != self._pending:
                # Changed since the last look: wait until it holds still for one more.
                self._pending, self._has_pending = current, True
                return None
            self._seen, self._has_pending = current, False
        self._call("watch")
        return "watch"

    def _call(self, trigger: str) -> None:
        try:
            self._on_change(trigger)
        except Exception as exc:  # the thread must outlive a failed reload
            stream = sys.__stderr__
            if stream is not None:
                stream.write(f"tapelog: config {trigger} failed: {type(exc).__name__}: {exc}\n")

    def start(self) -> None:
        """Start the thread, unless it runs already."""
        with self._lock:
            if self.running:
                return
            # Each thread has its own stop event, so a thread told to stop while its
            # callback runs cannot be revived by a later start().
            stop = self._stop = threading.Event()
            thread = threading.Thread(
                target=self._run, args=(stop,), name="tapelog-config-watch", daemon=True
            )
            self._thread = thread
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop the thread; wait up to ``timeout`` for a reload it is running to end.

        Takes no lock, so the SIGTERM handler's shutdown can call it at any moment.
        """
        thread = self._thread
        self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def after_fork(self) -> None:
        """Forget the parent's thread and locks; the file and its version stay."""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._requested = False
        self._has_pending = False

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._interval):
            self.poll()


# -- configurations as key paths -----------------------------------------------------------


def level_text(level: int | None) -> str | int | None:
    """A level as its name (``off`` for 100); a number between names stays a number."""
    if level is None:
        return None
    return LEVEL_NAMES.get(level) or ("off" if level == OFF else level)


def _plain(value: object) -> object:
    """Turn model values into JSON-like data: tables, lists, strings and numbers."""
    if isinstance(value, SinkConfig):
        return _sink_table(value)
    if is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in fields(value)
            if f.name not in _SKIPPED_FIELDS
        }
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in cast("Mapping[object, object]", value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in cast("tuple[object, ...]", value)]
    if isinstance(value, time | date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float):
        return value
    return str(value)


def _sink_table(sink: SinkConfig) -> dict[str, object]:
    """A sink as its ``[[sinks]]`` table (keys set to nothing left out), levels by name."""
    table = cast("dict[str, object]", _plain({**_common(sink), **sink.options}))
    table["level"] = level_text(sink.level)
    sample = table.get("sample")
    if isinstance(sample, dict):
        keep = cast("list[int]", cast("dict[str, object]", sample)["keep_levels"])
        sample["keep_levels"] = [level_text(n) for n in keep]
    return {key: value for key, value in table.items() if value is not None}


def _common(sink: SinkConfig) -> dict[str, object]:
    return {f.name: getattr(sink, f.name) for f in fields(sink) if f.name != "options"}


def _as_data(config: Config) -> dict[str, object]:
    """The configuration shaped like the file, levels by name."""
    data = cast("dict[str, object]", _plain(config))
    data["level"] = level_text(config.level)
    data["levels"] = {name: level_text(n) for name, n in config.levels.items()}
    return data


def _flatten(
    value: object, path: str, out: dict[str, object], *, keep_empty: bool
) -> dict[str, object]:
    if isinstance(value, dict):
        table = cast("dict[str, object]", value)
        if not table and keep_empty:
            out[path] = {}
        for key, item in table.items():
            _flatten(item, join(path, key), out, keep_empty=keep_empty)
    elif isinstance(value, list) and any(isinstance(x, dict) for x in cast("list[object]", value)):
        for index, item in enumerate(cast("list[object]", value)):
            _flatten(item, f"{path}[{index}]", out, keep_empty=keep_empty)
    elif value is not None:
        out[path] = value
    return out


def _redacted(value: object, key: str, redactor: Redacting) -> object:
    # Logger names under ``levels`` are not secrets' keys, whatever words they hold.
    last = key.rsplit(".", 1)[-1] if not key.startswith("levels.") else ""
    if last and redactor.is_sensitive(last.split("[", 1)[0]):
        return redactor.replacement
    if isinstance(value, str):
        return redactor.redact_text(value)
    if isinstance(value, dict):
        table = cast("dict[str, object]", value)
        return {k: _redacted(v, k, redactor) for k, v in table.items()}
    if isinstance(value, list):
        return [_redacted(v, "", redactor) for v in cast("list[object]", value)]
    return value


def describe(config: Config, redactor: Redacting) -> list[tuple[str, object, str]]:
    """Every key path of ``config`` with its value (redacted) and where it came from."""
    flat = _flatten(_as_data(config), "", {}, keep_empty=True)
    return [
        (key, _redacted(value, key, redactor), origin_of(key, config.origins))
        for key, value in flat.items()
    ]


def _category(origin: str) -> str:
    """``file``, ``env`` or ``api`` (overrides, a dict, a ``Config``); else ``default``."""
    if origin.startswith("file:"):
        return "file"
    if origin.startswith("env:"):
        return "env"
    return "default" if origin == "default" else "api"


def _source(where: Sequence[tuple[Mapping[str, str], str]]) -> str:
    """The category of the first of these (origins, path) pairs that is not a default."""
    for origins, path in where:
        category = _category(origin_of(path, origins))
        if category != "default":
            return category
    return "default"


def diff(old: Config, new: Config, redactor: Redacting) -> list[dict[str, object]]:
    """What changed from ``old`` to ``new``, one item per key path.

    Each item is ``{"key", "old", "new", "source"}``: values are plain and redacted
    (``None`` for absent), and ``source`` is where the change came from (``file``,
    ``env`` or ``api``): the origin of the new value or, for a value that went back to
    its default, of the old one. Sinks are matched by name; a sink's keys are written
    with its index in ``new`` (in ``old`` for a removed sink), and an added or removed
    sink is one item holding its whole table.
    """
    changes: list[dict[str, object]] = []

    def change(key: str, before: object, after: object, source: str) -> None:
        changes.append(
            {
                "key": key,
                "old": _redacted(before, key, redactor),
                "new": _redacted(after, key, redactor),
                "source": source,
            }
        )

    def compare(before: object, after: object, key: str, old_key: str) -> None:
        a = _flatten(before, "", {}, keep_empty=False)
        b = _flatten(after, "", {}, keep_empty=False)
        for sub in [*b, *(k for k in a if k not in b)]:
            if a.get(sub) != b.get(sub):
                where: list[tuple[Mapping[str, str], str]] = [
                    (new.origins, join(key, sub)),
                    (old.origins, join(old_key, sub)),
                ]
                if key:  # a sink's default option: the change came with the sink's table
                    where += [(new.origins, key), (old.origins, old_key)]
                change(join(key, sub), a.get(sub), b.get(sub), _source(where))

    old_data, new_data = _as_data(old), _as_data(new)
    old_sinks = cast("list[dict[str, object]]", old_data.pop("sinks"))
    new_sinks = cast("list[dict[str, object]]", new_data.pop("sinks"))
    compare(old_data, new_data, "", "")
    by_name = {str(table["name"]): (index, table) for index, table in enumerate(old_sinks)}
    for index, table in enumerate(new_sinks):
        key = f"sinks[{index}]"
        found = by_name.pop(str(table["name"]), None)
        if found is None:
            change(key, None, table, _source([(new.origins, key)]))
        else:
            compare(found[1], table, key, f"sinks[{found[0]}]")
    for index, table in by_name.values():
        key = f"sinks[{index}]"
        change(key, table, None, _source([(old.origins, key)]))
    return changes
