"""The examples in ``examples/`` run as a user would run them, and write what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import read_jsonl

from tapelog.formats import parse_logfmt, unflatten


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _run(name: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_trading_bot(tmp_path: Path, validator: Any) -> None:
    """Orders, fills and failures, as valid entries; the failure carries its traceback and
    the API key it was logged with is redacted."""
    result = _run("trading_bot.py", tmp_path)
    entries = read_jsonl(tmp_path / "examples-out" / "trading.jsonl")

    assert 0 == result.returncode, result.stderr
    assert [] == [str(error) for e in entries for error in validator.iter_errors(e)]
    events = {e.get("event") for e in entries}
    assert {"order.placed", "order.filled", "order.failed"} <= events
    failed = next(e for e in entries if e.get("event") == "order.failed")
    assert "ExchangeError" in failed["error"]["stack_trace"]
    assert "[REDACTED]" == failed["api_key"]
    assert "sk-live-secret" not in (tmp_path / "examples-out" / "trading.jsonl").read_text()
    assert "order placed" in result.stderr  # the console sink, for people


def test_proxy_service(tmp_path: Path) -> None:
    """An asyncio service: logfmt lines that parse back, each request with its own id,
    proxy credentials redacted, and the standard library's records bridged in."""
    result = _run("proxy_service.py", tmp_path)
    text = (tmp_path / "examples-out" / "proxy.jsonl").read_text()
    entries = [unflatten(parse_logfmt(line)) for line in text.splitlines()]

    assert 0 == result.returncode, result.stderr
    assert {"proxy.rotator", "urllib3"} <= {e["logger"] for e in entries}
    served = [e for e in entries if e.get("event") == "proxy.request"]
    assert served
    assert all(str(e["request_id"]).startswith("req-") for e in served)
    assert "[REDACTED]@" in text
    assert "s3cret" not in text
