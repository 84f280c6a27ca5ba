"""Fixtures for integration tests: a real rsyslog for the syslog sink."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from tests.conftest import need
from tests.integration.rsyslog import rsyslog_missing, running_rsyslog


if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.integration.rsyslog import Rsyslog


@pytest.fixture(name="rsyslog", scope="session")
def _rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    """One rsyslogd per test process, listening on TCP, TLS, UDP and a unix socket."""
    missing = rsyslog_missing()
    need(missing is None, str(missing))
    with running_rsyslog(tmp_path_factory.mktemp("rsyslog")) as server:
        yield server
