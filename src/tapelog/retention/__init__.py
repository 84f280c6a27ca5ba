"""Files that manage themselves: rotation, compression, archives, retention, reading back.

The file sink uses :class:`RotatingFile` to write and rotate (safely across processes)
and :class:`Housekeeper` to compress, archive and purge; the command line uses the
readers and the archive tools. Every piece takes its time from a :class:`Clock`, so
tests move a :class:`ManualClock` through days instead of sleeping.
"""

from tapelog.retention._archive import ArchiveStatus as ArchiveStatus
from tapelog.retention._archive import RestoreError as RestoreError
from tapelog.retention._archive import list_archives as list_archives
from tapelog.retention._archive import restore_archive as restore_archive
from tapelog.retention._clock import SYSTEM_CLOCK as SYSTEM_CLOCK
from tapelog.retention._clock import Clock as Clock
from tapelog.retention._clock import FreeDisk as FreeDisk
from tapelog.retention._clock import ManualClock as ManualClock
from tapelog.retention._clock import SystemClock as SystemClock
from tapelog.retention._clock import free_disk as free_disk
from tapelog.retention._housekeeping import Background as Background
from tapelog.retention._housekeeping import Event as Event
from tapelog.retention._housekeeping import Housekeeper as Housekeeper
from tapelog.retention._manifest import MANIFEST_NAME as MANIFEST_NAME
from tapelog.retention._manifest import ArchiveRecord as ArchiveRecord
from tapelog.retention._manifest import read_manifest as read_manifest
from tapelog.retention._names import NamePattern as NamePattern
from tapelog.retention._policy import RetentionPolicy as RetentionPolicy
from tapelog.retention._policy import RotationPolicy as RotationPolicy
from tapelog.retention._retention import Action as Action
from tapelog.retention._retention import FinishedFile as FinishedFile
from tapelog.retention._retention import plan_retention as plan_retention
from tapelog.retention._rotate import RotatingFile as RotatingFile
from tapelog.retention._rotate import Rotation as Rotation
from tapelog.retention._rotate import RotationError as RotationError


__all__ = [
    "MANIFEST_NAME",
    "SYSTEM_CLOCK",
    "Action",
    "ArchiveRecord",
    "ArchiveStatus",
    "Background",
    "Clock",
    "Event",
    "FinishedFile",
    "FreeDisk",
    "Housekeeper",
    "ManualClock",
    "NamePattern",
    "RestoreError",
    "RetentionPolicy",
    "RotatingFile",
    "Rotation",
    "RotationError",
    "RotationPolicy",
    "SystemClock",
    "free_disk",
    "list_archives",
    "plan_retention",
    "read_manifest",
    "restore_archive",
]
