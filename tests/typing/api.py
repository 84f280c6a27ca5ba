"""Checked by pyright in strict mode: the public API is precisely typed."""

from __future__ import annotations

from typing import assert_type

import tapelog
from tapelog.testing import capture
from tapelog.typing import EventDict


log = tapelog.get_logger()
assert_type(log, tapelog.Logger)
assert_type(tapelog.get_logger("x", a=1).bind(b=2), tapelog.Logger)
assert_type(log.info("m", k=1), None)
assert_type(log.is_enabled("debug"), bool)
assert_type(tapelog.flush(1.0), bool)
assert_type(tapelog.stats(), tapelog.Stats)
assert_type(tapelog.configure(level="info"), tapelog.Config)
assert_type(tapelog.reload(), bool)

with tapelog.context(a=1) as fields:
    assert_type(fields, dict[str, object])

with capture() as entries:
    assert_type(entries, list[EventDict])
