"""The console sink: stderr (default) or stdout, one write and one flush per batch."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal, final

from tapelog.sinks._base import BaseSink, render_batch


if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO

    from tapelog.config._model import SinkConfig
    from tapelog.typing import EventDict, Formatter


__all__ = ["ConsoleSink"]


@final
class ConsoleSink(BaseSink):
    """Writes to ``sys.stderr`` or ``sys.stdout``, looked up at each write.

    Looking the stream up each time follows redirections (pytest's capture, a
    ``contextlib.redirect_stdout``) made after configuration.
    """

    def __init__(
        self,
        formatter: Formatter,
        *,
        stream: Literal["stderr", "stdout"] = "stderr",
        name: str = "console",
    ) -> None:
        self.name = name
        self.formatter = formatter
        self.stream_name = stream

    @classmethod
    def from_config(cls, config: SinkConfig, formatter: Formatter) -> ConsoleSink:
        """Build from a validated ``[[sinks]]`` table."""
        stream = "stdout" if config.options.get("stream") == "stdout" else "stderr"
        return cls(formatter, stream=stream, name=config.name)

    def _stream(self) -> TextIO | None:
        return sys.stdout if self.stream_name == "stdout" else sys.stderr

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        """Write the batch with one call."""
        stream = self._stream()
        if stream is None or not entries:
            return
        data = render_batch(self.formatter, entries)
        buffer = getattr(stream, "buffer", None)
        if buffer is not None:
            stream.flush()  # keep ordering with text already written to the stream
            buffer.write(data)
            buffer.flush()
        else:
            stream.write(data.decode("utf-8", "replace"))
            stream.flush()

    def flush(self) -> None:
        """Flush the stream."""
        stream = self._stream()
        if stream is not None:
            stream.flush()

    def close(self, timeout: float | None = None) -> None:
        """Flush; the process's streams are never closed by tapelog."""
        del timeout  # a flush of a local stream is not bounded
        self.flush()
