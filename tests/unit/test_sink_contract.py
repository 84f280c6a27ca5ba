"""The sink contract as the pipeline keeps it: events a sink writes itself are built like others."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tapelog._levels import WARNING
from tapelog._pipeline import build_pipeline
from tapelog.config import load_config
from tapelog.sinks import FileSink


if TYPE_CHECKING:
    from pathlib import Path


class TestEventsAtClose:
    def test_events_a_file_sink_writes_at_close_get_seq_and_redaction(self, tmp_path: Path) -> None:
        """An event left when the file sink closes goes through the entry builder: it gets a
        seq and its secrets are redacted."""
        path = tmp_path / "app.jsonl"
        config = load_config({"sinks": [{"type": "file", "path": str(path)}]})
        pipeline = build_pipeline(config)
        sink = pipeline.slots[0].sink
        assert isinstance(sink, FileSink)
        sink._events.append((WARNING, "left at close", {"event": "x.y", "password": "hunter2"}))

        pipeline.close()

        (entry,) = [json.loads(line) for line in path.read_text().splitlines()]
        assert ("warning", "tapelog", "left at close") == (
            entry["level"],
            entry["logger"],
            entry["message"],
        )
        assert isinstance(entry["seq"], int)
        assert "[REDACTED]" == entry["password"]
