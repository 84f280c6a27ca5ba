from __future__ import annotations

import asyncio
import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor

import tapelog
from tapelog.testing import capture


class TestContext:
    def test_bind_and_unbind(self) -> None:
        """bind_context adds fields to every entry until unbound."""
        log = tapelog.get_logger("ctx")

        with capture() as entries:
            tapelog.bind_context(request_id="r1", user="u")
            log.info("a")
            tapelog.unbind_context("user")
            log.info("b")
            tapelog.clear_context()
            log.info("c")

        assert [("r1", "u"), ("r1", None), (None, None)] == [
            (e.get("request_id"), e.get("user")) for e in entries
        ]

    def test_context_manager_restores(self) -> None:
        """context() as a with-block restores the previous fields on exit."""
        tapelog.bind_context(a=1)
        with tapelog.context(a=2, b=3):
            inner = tapelog.get_context()

        assert ({"a": 2, "b": 3}, {"a": 1}) == (inner, tapelog.get_context())

    def test_context_decorator_on_recursion(self) -> None:
        """The decorator gives each call its own scope, even recursively."""
        seen: list[object] = []

        @tapelog.context(depth="set")
        def walk(n: int) -> None:
            seen.append(tapelog.get_context().get("depth"))
            if n:
                walk(n - 1)

        walk(2)

        assert (["set", "set", "set"], {}) == (seen, tapelog.get_context())

    def test_threads_see_their_own_context(self) -> None:
        """A thread's bindings are invisible to other threads."""
        results: dict[str, object] = {}

        def worker(name: str) -> None:
            tapelog.bind_context(who=name)
            results[name] = tapelog.get_context()["who"]

        threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert ({f"t{i}": f"t{i}" for i in range(4)}, {}) == (results, tapelog.get_context())

    def test_asyncio_tasks_see_their_own_context(self) -> None:
        """Each asyncio task keeps its own context across awaits."""

        async def task(name: str) -> object:
            tapelog.bind_context(task=name)
            await asyncio.sleep(0)
            return tapelog.get_context()["task"]

        async def main() -> list[object]:
            return list(await asyncio.gather(*(task(f"k{i}") for i in range(5))))

        assert [f"k{i}" for i in range(5)] == asyncio.run(main())

    def test_async_decorator(self) -> None:
        """The decorator wraps coroutine functions for the whole await."""

        @tapelog.context(job="j1")
        async def job() -> object:
            await asyncio.sleep(0)
            return tapelog.get_context().get("job")

        assert "j1" == asyncio.run(job())

    def test_carry_context_into_thread_pool(self) -> None:
        """copy_context().run carries the caller's context into a pool thread."""
        tapelog.bind_context(order="o1")
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(1) as pool:
            carried = pool.submit(ctx.run, tapelog.get_context).result()
            plain = pool.submit(tapelog.get_context).result()

        assert ({"order": "o1"}, {}) == (carried, plain)
