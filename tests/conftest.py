"""Shared fixtures: every test starts from tapelog's defaults and leaves no state behind."""

from __future__ import annotations

import importlib
import json
import os
from collections import deque
from importlib import resources
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings


if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from tapelog._event import Record

settings.register_profile(
    "default",
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("default"), max_examples=100)
settings.load_profile("ci" if os.environ.get("CI") else "default")

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


class KeepingOutlet:
    """An outlet (``tapelog._logger.set_outlet``) that keeps every record: no worker."""

    def __init__(self) -> None:
        self.queue: deque[Record] = deque()
        self.room = 1 << 30
        self.idle = False

    def wake(self) -> None:
        return None

    def put(self, record: Record) -> None:
        self.queue.append(record)

    slow_put = put


def need(condition: bool, reason: str) -> None:
    """Skip locally when a real dependency is missing; in CI it must be there."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)


def need_module(name: str) -> Any:
    """Import an optional dependency a test needs: skip locally without it, fail in CI."""
    try:
        return importlib.import_module(name)
    except ImportError:
        need(False, f"{name} is not installed (./dev test installs it)")


@pytest.fixture(autouse=True)
def _restore_tapelog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("TAPELOG_CONFIG", "TAPELOG_LEVEL", "TAPELOG_LEVELS", "TAPELOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    import tapelog
    from tapelog._runtime import RUNTIME

    yield
    tapelog.flush(5)
    RUNTIME.loggers.clear_overrides()
    RUNTIME.dispatcher.reopen()
    tapelog.configure({"sinks": [{"type": "console"}]})
    tapelog.clear_context()


@pytest.fixture(name="setenv")
def _setenv() -> Iterator[Callable[[str, str], None]]:
    """Set TAPELOG_* variables for one test; they are gone before tapelog's defaults return."""
    names: list[str] = []

    def setenv(name: str, value: str) -> None:
        names.append(name)
        os.environ[name] = value

    yield setenv
    for name in names:
        os.environ.pop(name, None)


@pytest.fixture(name="schema", scope="session")
def _schema() -> dict[str, Any]:
    text = (
        resources.files("tapelog")
        .joinpath("schemas/log-entry.schema.json")
        .read_text(encoding="utf-8")
    )
    return json.loads(text)


@pytest.fixture(name="validator", scope="session")
def _validator(schema: dict[str, Any]) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every line of a JSON-lines file, parsed."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
