"""``tapelog demo`` ends with a tour of the two example applications, run from a checkout,
and a summary a newcomer can follow: where each file is, what it showed, what to run next."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from typing import TYPE_CHECKING

from tapelog.cli import _tour
from tapelog.cli._tour import examples_dir


if TYPE_CHECKING:
    from pathlib import Path

    import pytest


def test_the_tour_runs_both_apps_and_says_where_everything_is(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = subprocess.run(
        [sys.executable, "-m", "tapelog", "demo", "--seconds", "2", "--tour-seconds", "4",
         "--dir", str(out), "--seed", "5"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    tour = result.stdout.split("\nTour: ", 1)[-1]

    assert 0 == result.returncode, result.stdout[-3000:] + result.stderr[-3000:]
    assert examples_dir() is not None
    for path in (
        "proxy-rotator/logs/proxy.jsonl",
        "proxy-rotator/logs/health.jsonl",
        "proxy-rotator/collector.jsonl",
        "trading-engine/logs/engine.jsonl",
        "trading-engine/logs/trades.audit.jsonl",
    ):
        assert (out / path).stat().st_size > 0, path
    served = re.search(r"(\d+) of (\d+) requests served", tour)
    assert served is not None
    assert served.group(1) == served.group(2)
    orders = re.search(r"(\d+) placed, (\d+) partially filled, (\d+) filled", tour)
    assert orders is not None
    assert all(int(n) > 0 for n in orders.groups())
    assert re.search(r"[1-9]\d* failed exchange calls", tour)
    assert re.search(r"[1-9]\d* metric points", tour)
    # Every command it suggests runs and finds something.
    suggested = [
        line.split("   (")[0].strip() for line in tour.splitlines() if "  tapelog " in line
    ]
    assert len(suggested) >= 4
    for command in suggested:
        args = shlex.split(command)[1:]
        ran = subprocess.run(
            [sys.executable, "-m", "tapelog", *args], capture_output=True, text=True,
            timeout=60, check=False,
        )  # fmt: skip
        assert 0 == ran.returncode, f"{command}: {ran.stderr}"
        assert ran.stdout.strip(), command


def test_without_a_checkout_the_tour_says_where_the_apps_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_tour, "examples_dir", lambda: None)

    status = _tour.run_tour(tmp_path, seconds=1)

    assert 0 == status
    assert "examples/proxy_rotator and examples/trading_engine" in capsys.readouterr().out
    assert not any(tmp_path.iterdir())
