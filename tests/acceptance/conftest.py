"""Fixtures for the acceptance tests: the real receivers the applications write to."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tapelog.cli._collector import Collector
from tests.conftest import need
from tests.integration.rsyslog import rsyslog_missing, running_rsyslog


if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.rsyslog import Rsyslog


@pytest.fixture(name="rsyslog", scope="session")
def _rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    """One rsyslogd per test process, on TCP only (what the applications send to)."""
    missing = rsyslog_missing()
    need(missing is None, str(missing))
    with running_rsyslog(
        tmp_path_factory.mktemp("rsyslog"), tls=False, udp=False, unix=False
    ) as server:
        yield server


@pytest.fixture(name="collector")
def _collector() -> Iterator[Collector]:
    """A local HTTP collector that stores every NDJSON batch it is sent."""
    with Collector() as collector:
        yield collector
