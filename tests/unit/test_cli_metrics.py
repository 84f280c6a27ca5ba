"""`tapelog metrics`: a table per metric and attribute set, from live and archived logs."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING, Any

import pytest

import tapelog
from tapelog import metrics
from tapelog.cli import main
from tapelog.cli._metrics import sparkline
from tapelog.metrics._reporter import REPORTER


if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(name="logs")
def _logs(tmp_path: Path) -> Path:
    """Three snapshots in an archived file, two more and an open alert in the live one."""
    live = tmp_path / "app.jsonl"
    archived = tmp_path / "archive" / "app.2026-01-01.jsonl"
    archived.parent.mkdir()
    rule = {"metric": "app.queue.depth", "above": 100, "clear": 50}
    REPORTER.reset()
    config = {
        "sinks": [{"type": "file", "path": str(archived)}],
        "metrics": {"interval": "1h", "thresholds": [rule]},
    }
    tapelog.configure(config)
    for round_ in range(3):
        for i in range(100):
            metrics.observe(
                "http.client.request.duration", (i + 1) / 1000 * (round_ + 1), method="GET"
            )
        metrics.increment("app.orders", 10)
        metrics.gauge("app.queue.depth", 10 * round_)
        metrics.report()
    tapelog.flush()
    config["sinks"] = [{"type": "file", "path": str(live)}]
    tapelog.configure(config)
    for depth in (150, 160):
        metrics.observe("http.client.request.duration", 0.5, method="POST")
        metrics.gauge("app.queue.depth", depth)
        metrics.report()
    tapelog.flush()
    tapelog.configure({"sinks": [], "metrics": {"enabled": False}})
    REPORTER.reset()
    with archived.open("rb") as plain, gzip.open(f"{archived}.gz", "wb") as packed:
        packed.write(plain.read())
    archived.unlink()
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["metrics", *args])
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, dict[str, Any]]:
    found = {}
    for line in out.splitlines():
        row = json.loads(line)
        label = row["name"] + "".join(f",{k}={v}" for k, v in row["attributes"].items())
        found[label] = row
    return found


def test_the_table_merges_intervals_and_marks_an_open_alert(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(logs), "--no-sparkline")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["METRIC", "TYPE"]
    get = next(line for line in lines if "http.client.request.duration{method=GET}" in line)
    assert "n=300" in get
    depth = next(line for line in lines if "app.queue.depth" in line)
    assert depth.startswith("! ")
    assert "FIRING since" in depth
    assert "above 100" in depth
    assert "(value 150)" in depth
    assert not next(line for line in lines if "app.orders" in line).startswith("!")


def test_json_rows_hold_percentiles_over_the_whole_range(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, str(logs), "--json")
    assert code == 0
    found = rows(out)
    get = found["http.client.request.duration,method=GET"]
    assert get["count"] == 300
    assert get["points"] == 3
    # the union of 1..100 ms, 2..200 ms and 3..300 ms
    exact = sorted((i + 1) / 1000 * r for r in (1, 2, 3) for i in range(100))
    assert abs(get["p50"] - exact[149]) <= 0.01 * exact[149]
    assert abs(get["p99"] - exact[296]) <= 0.01 * exact[296]
    assert get["max"] == pytest.approx(0.3)
    orders = found["app.orders"]
    assert (orders["total"], orders["value"]) == (30, 10)
    depth = found["app.queue.depth"]
    assert (depth["value"], depth["min"], depth["max"], depth["alerts"]) == (160, 0, 160, 1)
    assert "firing_since" in depth


def test_name_since_and_until_narrow_the_rows(
    logs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, str(logs), "--json", "--name", "app")
    assert set(rows(out)) == {"app.orders", "app.queue.depth"}
    _, out, _ = run(
        capsys,
        str(logs),
        "--json",
        "--since",
        "2000-01-01T00:00:00Z",
        "--until",
        "2000-01-02T00:00:00Z",
    )
    assert out == ""
    code, _, err = run(capsys, str(logs), "--until", "2000-01-02T00:00:00Z")
    assert code == 0
    assert "no metric entries" in err


def test_sparklines_show_the_trend(logs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, str(logs), "--sparkline", "--name", "app.queue.depth")
    assert "▁" in out
    assert "█" in out
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([5, 5, 5]) == "▁▁▁"
    assert len(sparkline(list(range(1000)), width=10)) == 10
    assert sparkline([]) == ""


def test_bad_arguments_say_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "missing.jsonl"))
    assert code == 2
    assert "no such file" in err
    code, _, err = run(capsys, str(tmp_path), "--since", "yesterday-ish")
    assert code == 2
    assert "tapelog metrics" in err
