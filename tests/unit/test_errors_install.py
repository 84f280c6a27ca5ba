"""install_hooks / uninstall_hooks: in place once, the previous hooks back after."""

from __future__ import annotations

import asyncio
import sys
import threading

import tapelog
from tapelog.errors import install_hooks, uninstall_hooks
from tapelog.errors._hooks import installed as hooks_installed
from tapelog.testing import capture as capture_entries


def test_install_is_idempotent_and_uninstall_restores() -> None:
    before = (
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
        asyncio.BaseEventLoop.call_exception_handler,
    )
    try:
        install_hooks()
        installed = (sys.excepthook, threading.excepthook, sys.unraisablehook)
        install_hooks()

        assert hooks_installed()
        assert installed == (sys.excepthook, threading.excepthook, sys.unraisablehook)
        assert before[0] is not sys.excepthook
    finally:
        uninstall_hooks()

    assert not hooks_installed()
    assert before == (
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
        asyncio.BaseEventLoop.call_exception_handler,
    )


def test_config_key_installs_and_removes_them() -> None:
    try:
        tapelog.configure({"errors": {"hooks": True}})
        assert hooks_installed()
        tapelog.configure({"errors": {"hooks": False}})
        assert not hooks_installed()
    finally:
        uninstall_hooks()


def test_a_thread_hook_logs_then_calls_the_previous_one() -> None:
    """In process: the previous threading hook still runs after the entry is written."""
    seen: list[str] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: seen.append(type(args.exc_value).__name__)
    try:
        install_hooks()
        with capture_entries() as entries:

            def fail() -> None:
                raise LookupError("no route")

            worker = threading.Thread(target=fail, name="router")
            worker.start()
            worker.join()
            tapelog.flush()
    finally:
        uninstall_hooks()
        threading.excepthook = previous

    assert ["LookupError"] == seen
    (entry,) = entries
    assert ("error.unhandled", "critical", "router") == (
        entry["event"],
        entry["level"],
        entry["thread"],
    )


def test_asyncio_loop_with_its_own_handler_is_covered() -> None:
    handled: list[str] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: handled.append(context["message"]))
        loop.call_soon(_explode)
        await asyncio.sleep(0.01)

    try:
        install_hooks()
        with capture_entries() as entries:
            asyncio.run(main())
            tapelog.flush()
    finally:
        uninstall_hooks()

    assert 1 == len(handled)
    (entry,) = entries
    assert ("asyncio", "ZeroDivisionError") == (entry["mechanism"], entry["error"]["type"])


def _explode() -> None:
    1 / 0  # noqa: B018 - raises
