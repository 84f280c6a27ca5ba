"""``testing.capture()``: while a block is open, entries go synchronously to a list.

The runtime owns the configuration and the dispatcher; this unit owns what capturing
changes about them, so the runtime reads the same whether a block is open or not. While
a block is open the dispatcher runs a capture pipeline (the configuration's entry builder,
one ``CapturingSink``, sync mode) and :attr:`Captures.after` keeps the real pipeline to go
back to. A ``configure()`` inside the block builds its pipeline from that one, retires the
old sinks as a swap would, and rebuilds the capture pipeline with the new settings; the
block's end swaps the latest real pipeline in. Blocks nest: each collects what is logged
while it is the innermost.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import TYPE_CHECKING, final

from tapelog.sinks._base import BaseSink


if TYPE_CHECKING:
    from collections.abc import Generator, Sequence

    from tapelog._dispatch import PipelineLike
    from tapelog._pipeline import Pipeline
    from tapelog._runtime import Runtime
    from tapelog.typing import EventDict


__all__ = ["Captures", "CapturingSink"]


class CapturingSink(BaseSink):
    """Keeps entries in a list, as dicts. ``tapelog.testing`` builds on it."""

    def __init__(self, name: str = "capture") -> None:
        self.name = name
        self.entries: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Append the entries."""
        self.entries.extend(entries)

    def flush(self) -> None:
        """Nothing to flush."""

    def close(self, timeout: float | None = None) -> None:
        """Nothing to close."""


@final
class Captures:
    """The open ``capture()`` blocks of a runtime, innermost last."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._sinks: list[CapturingSink] = []
        self.after: PipelineLike | None = None
        """The pipeline entries go to once the last block ends (kept up to date by
        ``configure``); None while no block is open."""

    def real_pipeline(self) -> PipelineLike:
        """The configuration's pipeline: the one running, or the one a block set aside."""
        dispatcher = self._runtime.dispatcher
        return self.after if self._sinks and self.after is not None else dispatcher.pipeline

    def install(self, current: PipelineLike, pipeline: Pipeline) -> bool:
        """Inside a block, take a new configuration's ``pipeline``; False outside any.

        The new settings (redaction, fields, levels) apply to the captured entries at
        once, and the new sinks take over when the block ends.
        """
        if not self._sinks:
            return False
        _retire(current, pipeline)
        self.after = pipeline
        self._runtime.dispatcher.swap(self._pipeline(self._sinks[-1]), close_old=False)
        return True

    @contextlib.contextmanager
    def capturing(self, level: int | str | None = None) -> Generator[list[EventDict], None, None]:
        """Send entries, synchronously, to a list instead of the sinks for a while."""
        runtime = self._runtime
        dispatcher = runtime.dispatcher
        with runtime.lock:
            dispatcher.flush()
            sink = CapturingSink()
            if not self._sinks:
                self.after = dispatcher.pipeline
            self._sinks.append(sink)
            previous_level = runtime.loggers.overrides.get("")
            dispatcher.configure_queue(dataclasses.replace(runtime.config.queue, mode="sync"))
            dispatcher.swap(self._pipeline(sink), close_old=False)
            if level is not None:
                runtime.set_level_quietly(level, None)
        try:
            yield sink.entries
        finally:
            with runtime.lock:
                self._sinks.remove(sink)
                if self._sinks:  # back to the enclosing block's capture
                    dispatcher.swap(self._pipeline(self._sinks[-1]), close_old=False)
                else:
                    # The latest configuration's sinks, a configure() inside the block
                    # included; the queue as that configuration has it.
                    after, self.after = self.after, None
                    if after is not None:
                        dispatcher.swap(after, close_old=False)
                    dispatcher.configure_queue(runtime.config.queue)
                if level is not None:
                    runtime.set_level_quietly(previous_level, None)

    def _pipeline(self, sink: CapturingSink) -> Pipeline:
        """A pipeline building entries as the configuration says, all into ``sink``."""
        from tapelog._pipeline import Pipeline, SinkSlot, build_pipeline  # on first use
        from tapelog.config._model import SinkConfig

        config = self._runtime.config
        previous = self.after if isinstance(self.after, Pipeline) else None
        base = build_pipeline(dataclasses.replace(config, sinks=()), previous)
        slot = SinkSlot(sink, SinkConfig(type="capture", name="capture"), 0)
        return Pipeline(base.builder, [slot], config)


def _retire(old: PipelineLike, new: PipelineLike) -> None:
    """What ``Dispatcher.swap`` does to a pipeline it replaces, for one not in use."""
    with contextlib.suppress(Exception):
        old.flush()
    old.close(keep=new)
