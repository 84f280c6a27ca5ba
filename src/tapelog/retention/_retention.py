"""Retention: which finished files to archive or purge, decided as a plan, then carried out.

:func:`plan_retention` is a pure function of the files, the policy, the time and the free
disk space, so every rule is tested without a disk or a clock. The rules, in order:

1. ``max_age``: a finished file in the log directory whose last entry is older moves to
   the archive directory (``retention.archived``); without an archive directory it is
   archived where it is when ``archive_max_age`` is set, and purged when it is not;
2. ``archive_max_age``: an archived file older than this is purged (without an archive
   directory: any finished file); a file past both ages at once is purged without being
   moved first;
3. ``max_files``, ``max_total_size``, ``min_free_disk``: the oldest files go first, until
   the limit holds.

Nothing younger than ``min_age`` is ever purged, and the live file is never a candidate.
:func:`apply_plan` carries a plan out; each action claims its file first (a non-blocking
``flock``), so processes sharing the files can run retention at the same time: a file
another process is compressing is skipped, and a file already gone is no error. Only the
process whose rename or unlink succeeded reports the action, so no action is logged twice.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal, TypeAlias, final

from tapelog.retention._compress import claimed, move_file, sync_directory
from tapelog.retention._manifest import Manifest, append_lines, read_manifest, removed_line


if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from tapelog.retention._names import FinishedName
    from tapelog.retention._policy import RetentionPolicy


__all__ = ["Action", "FinishedFile", "Outcome", "Tier", "apply_plan", "plan_retention"]

Tier: TypeAlias = Literal["log", "archive"]
"""Where a finished file is: beside the live file, or in the archive directory."""


@final
@dataclass(frozen=True, slots=True)
class FinishedFile:
    """A finished file of one live file, as retention sees it."""

    path: Path
    """Where it is."""
    name: FinishedName
    """Its parsed name: the time span, for ordering and ages."""
    tier: Tier
    """``log`` (beside the live file) or ``archive`` (in ``archive_dir``)."""
    size: int
    """Bytes on disk."""
    device: int
    """The filesystem it is on (``st_dev``), for ``min_free_disk``."""

    @property
    def end(self) -> float:
        """Epoch seconds of its last entry."""
        return self.name.end


@final
@dataclass(frozen=True, slots=True)
class Action:
    """One step of a plan."""

    kind: Literal["archive", "purge"]
    """Move to the archive directory, or delete."""
    file: FinishedFile
    """The file acted on."""
    reason: str
    """The rule that asked for it: ``max_age``, ``archive_max_age``, ``max_files``,
    ``max_total_size`` or ``min_free_disk``."""


@final
@dataclass(frozen=True, slots=True)
class Outcome:
    """An action carried out: what happened, for the ``retention.*`` event."""

    action: Action
    """The action."""
    path: Path
    """The file acted on, where it was."""
    destination: Path | None
    """Where an archived file went."""


def plan_retention(
    files: Sequence[FinishedFile],
    policy: RetentionPolicy,
    *,
    now: float,
    archive_device: int | None = None,
    log_device: int | None = None,
    free: int | None = None,
) -> list[Action]:
    """Decide which files to archive and purge, oldest first.

    Args:
        files: every finished file of one live file, in both tiers.
        policy: the limits.
        now: the current time (epoch seconds).
        archive_device: the archive directory's filesystem, or ``None`` without an
            archive directory (then ``max_age`` purges instead of archiving).
        log_device: the log directory's filesystem, which ``free`` measures.
        free: free bytes on the log directory's filesystem, for ``min_free_disk``.

    Returns:
        The actions, in the order to carry them out.
    """
    ordered = sorted(files, key=lambda f: f.name)
    floor = policy.min_age

    def protected(file: FinishedFile) -> bool:
        return floor is not None and now - file.end < floor

    actions: list[Action] = []
    kept: list[FinishedFile] = []
    for file in ordered:
        age = now - file.end
        too_old = policy.archive_max_age is not None and age > policy.archive_max_age
        if file.tier == "log" and policy.max_age is not None and age > policy.max_age:
            if archive_device is not None and too_old and not protected(file):
                actions.append(Action("purge", file, "archive_max_age"))  # no point moving it
                continue
            if archive_device is not None:
                actions.append(Action("archive", file, "max_age"))
                file = replace(file, tier="archive", device=archive_device)  # noqa: PLW2901
            elif policy.archive_max_age is None and not protected(file):
                actions.append(Action("purge", file, "max_age"))
                continue
        if (file.tier == "archive" or archive_device is None) and too_old and not protected(file):
            actions.append(Action("purge", file, "archive_max_age"))
            continue
        kept.append(file)

    def purge_oldest(reason: str, over: Callable[[], bool]) -> None:
        while over() and kept and not protected(kept[0]):
            dropped = kept.pop(0)
            actions.append(Action("purge", dropped, reason))
            sizes[0] -= dropped.size

    sizes = [sum(f.size for f in kept)]
    if policy.max_files is not None:
        count = policy.max_files
        purge_oldest("max_files", lambda: len(kept) > count)
    if policy.max_total_size is not None:
        total = policy.max_total_size
        purge_oldest("max_total_size", lambda: sizes[0] > total)
    if policy.min_free_disk is not None and free is not None and log_device is not None:
        # Purging a file on the log directory's filesystem frees its bytes there, and so
        # does moving one to an archive on another filesystem.
        freed = sum(
            a.file.size
            for a in actions
            if a.file.device == log_device
            and (a.kind == "purge" or archive_device not in {None, log_device})
        )
        index = 0
        while free + freed < policy.min_free_disk and index < len(kept):
            file = kept[index]
            if protected(file):
                break  # files are oldest first: every later one is younger still
            if file.device != log_device:
                index += 1
                continue
            actions.append(Action("purge", kept.pop(index), "min_free_disk"))
            freed += file.size
    return actions


def apply_plan(
    actions: Sequence[Action], *, archive_dir: Path | None, when: str, mode: int = 0o640
) -> list[Outcome]:
    """Carry out a plan; return what was done (skipping what someone else did first).

    Each file's manifest (in its directory) is told: a purge appends a ``removed`` line; a
    move appends the record to the archive directory's manifest, then a ``removed`` line
    to the old one.
    """
    outcomes: list[Outcome] = []
    moved: dict[Path, Path] = {}
    manifests: dict[Path, Manifest] = {}
    for action in actions:
        path = moved.get(action.file.path, action.file.path)
        with claimed(path) as fd:
            if fd is None:
                continue
            if action.kind == "archive":
                assert archive_dir is not None
                destination = archive_dir / path.name
                if path.parent not in manifests:
                    manifests[path.parent] = read_manifest(path.parent)
                record = manifests[path.parent].records.get(path.name)
                if record is not None:
                    append_lines(archive_dir, [record.moved(when).to_line()], mode)
                try:
                    move_file(path, destination)
                except FileExistsError:
                    continue
                line = removed_line(path.name, when, action.reason, moved_to=str(archive_dir))
                with contextlib.suppress(OSError):
                    append_lines(path.parent, [line], mode)
                moved[action.file.path] = destination
                outcomes.append(Outcome(action, path, destination))
            else:
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                sync_directory(path.parent)
                with contextlib.suppress(OSError):
                    append_lines(path.parent, [removed_line(path.name, when, action.reason)], mode)
                outcomes.append(Outcome(action, path, None))
    return outcomes
