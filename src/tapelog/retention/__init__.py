"""Files that manage themselves: rotation, compression, archives, retention, reading back.

Public here is what a user of the file sink reaches for: the rotation and retention
policies, :func:`plan_retention` to check a policy before deploying it, and a
:class:`ManualClock` to move a file sink through days in a test instead of sleeping.
The machinery (``_rotate.RotatingFile``, ``_housekeeping.Housekeeper``, the readers and
the archive tools) is private; the file sink and the command line import it directly.
"""

from tapelog.retention._clock import Clock as Clock
from tapelog.retention._clock import ManualClock as ManualClock
from tapelog.retention._policy import RetentionPolicy as RetentionPolicy
from tapelog.retention._policy import RotationPolicy as RotationPolicy
from tapelog.retention._retention import Action as Action
from tapelog.retention._retention import FinishedFile as FinishedFile
from tapelog.retention._retention import plan_retention as plan_retention


__all__ = [
    "Action",
    "Clock",
    "FinishedFile",
    "ManualClock",
    "RetentionPolicy",
    "RotationPolicy",
    "plan_retention",
]
