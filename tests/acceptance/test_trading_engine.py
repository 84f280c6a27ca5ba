"""The trading engine (examples/trading_engine) against the logging requirements of a
trading framework: one test per acceptance scenario, named after it, each reading what
the real program wrote while it traded against a simulated exchange in its own process.

Most scenarios read one shared session (a few seconds of trading with the exchange
refusing connections, answering 503 and stalling on schedule, every destination
attached); the ones that need other settings run the engine again.
"""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tapelog.cli._collector import Collector
from tests.acceptance.apps import EXAMPLES, entries, lines, run, running, schema_errors, wait_for


if TYPE_CHECKING:
    from tests.integration.rsyslog import Rsyslog

APP = "trading_engine"
REQUIRED = ["timestamp", "level", "logger", "message"]


@dataclass
class Session:
    out: Path
    stdout: str
    stderr: str
    entries: list[dict[str, Any]]  # every entry of engine.jsonl, rotated files included
    audit: list[dict[str, Any]]
    stats: dict[str, Any]
    collected: list[dict[str, Any]]
    syslog: list[dict[str, Any]]
    old_file: str

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.entries if e.get("event") == name]


def finished_files(out: Path) -> list[Path]:
    """The rotated files beside the live one and in the archive, compressed or (at exit,
    still waiting for compression) not, oldest first."""
    logs = out / "logs"
    found = [*logs.glob("engine.*.jsonl*"), *(logs / "archive").glob("engine.*.jsonl*")]
    return sorted(found, key=lambda path: (path.name.split(".")[1], number(path.name)))


def number(name: str) -> int:
    """The rotation's running number in a finished file's name (``...Z.000012.jsonl.gz``)."""
    return int(name.split(".jsonl", maxsplit=1)[0].rsplit(".", 1)[1])


def old_session_file(logs: Path, days: int) -> tuple[str, list[str]]:
    """A finished log file a run of the engine left ``days`` ago, as rotation names it."""
    start = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    end = start + dt.timedelta(hours=8)
    name = f"engine.{start:%Y-%m-%dT%H-%M-%SZ}--{end:%Y-%m-%dT%H-%M-%SZ}.000001.jsonl"
    rows = [
        json.dumps(
            {
                "timestamp": f"{start + dt.timedelta(hours=n):%Y-%m-%dT%H:%M:%S.%fZ}",
                "level": "info",
                "logger": "engine",
                "message": "heartbeat",
                "event": "engine.heartbeat",
                "seq": n + 1,
            }
        )
        for n in range(9)
    ]
    logs.mkdir(parents=True, exist_ok=True)
    (logs / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    return name, rows


@pytest.fixture(name="session", scope="module")
def _session(tmp_path_factory: pytest.TempPathFactory, rsyslog: Rsyslog) -> Session:
    out = tmp_path_factory.mktemp("trading") / "out"
    old_name, _ = old_session_file(out / "logs", days=120)
    with Collector() as collector:
        result = run(
            APP, out, "--duration", "6", "--rotate-size", "24 KiB", "--max-age", "90d",
            "--memory-limit", "20 MiB", "--metrics-interval", "1s",
            "--syslog", f"tcp://127.0.0.1:{rsyslog.tcp_port}", "--collector", collector.url,
        )  # fmt: skip
        stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
        collected = list(collector.records)
    pid = str(stats["pid"])
    written = entries(*finished_files(out), out / "logs" / "engine.jsonl")
    mine = [e for e in written if e.get("pid") == stats["pid"]]
    syslog = rsyslog.wait_for(len(mine), lambda m: m.get("procid") == pid)
    return Session(
        out=out,
        stdout=result.stdout,
        stderr=result.stderr,
        entries=sorted(mine, key=lambda e: e["seq"]),
        audit=entries(out / "logs" / "trades.audit.jsonl"),
        stats=stats,
        collected=collected,
        syslog=syslog,
        old_file=old_name,
    )


# -- US1: logging configuration ------------------------------------------------------


def test_us1_1_structured_json_logging_gives_valid_json_with_consistent_fields(
    session: Session, validator: Any
) -> None:
    """Every entry, in every file, is valid JSON that validates against the schema, with
    the required keys first and the configured core fields on every entry."""
    logs = session.out / "logs"
    files = [*finished_files(session.out), logs / "engine.jsonl", logs / "trades.audit.jsonl"]
    raw = [line for path in files for line in lines(path)]
    parsed = [json.loads(line) for line in raw]  # raises on any line that is not JSON

    assert len(parsed) > 100
    assert [] == schema_errors(validator, parsed)
    ours = [e for e in parsed if e.get("pid") == session.stats["pid"]]
    assert all(list(e)[:4] == REQUIRED for e in ours)
    assert all({"service", "pid", "host", "seq"} <= e.keys() for e in ours)
    assert {e["service"] for e in ours} == {"trading-engine"}


def test_us1_2_async_logging_does_not_block_trading(tmp_path: Path) -> None:
    """With the network destination refusing every connection for the whole run, trading
    goes on: every strategy step still happens and is logged, no caller ever waited out
    the queue's timeout, and the file has every entry while the HTTP sink retries."""
    out = tmp_path / "out"
    with Collector() as dead:
        url = dead.url
    run(APP, out, "--duration", "3", "--no-chaos", "--collector", url)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    counters = stats["tapelog"]
    written = entries(out / "logs" / "engine.jsonl")
    steps = next(e["steps"] for e in written if e.get("event") == "engine.stopped")
    placed = [e["step"] for e in written if e.get("event") == "order.placed"]

    # The strategy places an order at least every sixth step: it kept trading to the end.
    assert steps > 10
    assert max(placed) >= steps - 6
    assert 0 == counters["dropped_overflow"]
    assert 0 == counters["dropped_by_reason"]["block_timeout"]
    assert counters["sinks"]["main"]["written"] == counters["processed"] == len(written)
    http = counters["sinks"]["http"]
    assert 0 == http["written"]
    assert http["retried"] > 0
    assert counters["processed"] == http["spooled"] + http["failed"] + http["filtered"]
    assert [e for e in written if e.get("event") == "tapelog.sink_failed" and e["sink"] == "http"]


def test_us1_3_multiple_destinations_get_every_entry_once(session: Session) -> None:
    """File, console, syslog and HTTP all receive the session's entries, none lost and
    none duplicated (each has its own full set, by seq); the console takes warnings up."""
    file_seqs = [e["seq"] for e in session.entries]
    http_seqs = [r["seq"] for r in session.collected if r.get("pid") == session.stats["pid"]]
    syslog_seqs = [json.loads(m["msg"].lstrip("\ufeff"))["seq"] for m in session.syslog]
    console = [
        line
        for line in session.stderr.splitlines()
        if line[:4].isdigit() and " tapelog " not in line
    ]
    warnings = [e for e in session.entries if e["level"] in {"warning", "error", "critical"}]

    # The file sink's own reports of its last rotation, made while it closes, go only to its
    # file (docs/files.md): every other entry is everywhere.
    stopped = next(e["seq"] for e in session.entries if e.get("event") == "engine.stopped")
    closing = {
        e["seq"]
        for e in session.entries
        if e["logger"] == "tapelog" and e.get("event", "").startswith("retention.")
        if e["seq"] > stopped
    }
    expected = [seq for seq in file_seqs if seq not in closing]
    assert file_seqs == list(range(1, len(file_seqs) + 1))
    assert len(http_seqs) == len(set(http_seqs))
    assert len(syslog_seqs) == len(set(syslog_seqs))
    assert sorted(set(http_seqs) - closing) == expected
    assert sorted(set(syslog_seqs) - closing) == expected
    assert len(console) == len([e for e in warnings if e["logger"] != "tapelog"])
    assert all(e["message"] in session.stderr for e in warnings)
    assert 0 == sum(s["failed"] for s in session.stats["tapelog"]["sinks"].values())


# -- US2: trade events -----------------------------------------------------------------


def trade_events(session: Session, *names: str) -> list[dict[str, Any]]:
    return [e for e in session.audit if e.get("event") in names]


def test_us2_1_order_placement_is_logged_with_parameters_timestamp_and_id(session: Session) -> None:
    """Each placed order has one entry with its parameters, its time to the nanosecond,
    and identifiers unique to it (ours and the exchange's)."""
    placed = trade_events(session, "order.placed")

    assert len(placed) >= 5
    ids = [e["trade"]["cl_ord_id"] for e in placed]
    assert len(ids) == len(set(ids))
    assert len({e["trade"]["order_id"] for e in placed}) == len(placed)
    for entry in placed:
        trade = entry["trade"]
        assert {"symbol", "side", "order_qty", "price", "ord_type", "time_in_force"} <= trade.keys()
        assert trade["ord_status"] == "new"
        assert Decimal(trade["order_qty"]) > 0
        assert Decimal(trade["price"]) > 0
        assert len(trade["transact_time"].split(".")[1]) == len("123456789Z")
        assert entry["timestamp"].endswith("Z")
        assert entry["strategy"] == "mean_reversion"
        assert entry["venue"] == "SIMX"


def test_us2_2_executed_trade_records_price_quantity_fees_and_timestamps(session: Session) -> None:
    """Every execution has its price, quantity, fee and times; the running quantities and
    the average price add up over the order's fills."""
    fills = trade_events(session, "order.partially_filled", "order.filled")
    by_order: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in fills:
        by_order[entry["trade"]["cl_ord_id"]].append(entry["trade"])

    assert trade_events(session, "order.partially_filled")
    assert trade_events(session, "order.filled")
    for cl_ord_id, items in by_order.items():
        total = Decimal(0)
        notional = Decimal(0)
        for trade in items:
            qty, px = Decimal(trade["last_qty"]), Decimal(trade["last_px"])
            total += qty
            notional += qty * px
            assert Decimal(trade["cum_qty"]) == total, cl_ord_id
            assert Decimal(trade["avg_px"]) == notional / total
            assert Decimal(trade["commission"]) > 0
            assert trade["currency"] == "USD"
            assert trade["exec_id"].startswith("X-")
            assert trade["transact_time"].endswith("Z")
        if items[-1]["ord_status"] == "filled":
            assert Decimal(items[-1]["leaves_qty"]) == 0
    positions = trade_events(session, "position.changed")
    assert len(positions) == len(fills)


def test_us2_3_cancellation_records_reason_timestamp_and_remaining_quantity(
    session: Session,
) -> None:
    """A canceled order's entry says why, when, and how much was still open."""
    canceled = trade_events(session, "order.canceled")
    placed = {e["trade"]["cl_ord_id"]: e["trade"] for e in trade_events(session, "order.placed")}
    replaced = {
        e["trade"]["cl_ord_id"]: e["trade"] for e in trade_events(session, "order.replaced")
    }

    assert {e["trade"]["text"] for e in canceled} >= {"stale quote"}
    for entry in canceled:
        trade = entry["trade"]
        original = placed.get(trade["cl_ord_id"]) or replaced[trade["cl_ord_id"]]
        open_qty = Decimal(original["order_qty"]) - Decimal(trade["cum_qty"])
        assert Decimal(trade["cxl_qty"]) == open_qty
        assert Decimal(trade["leaves_qty"]) == 0
        assert trade["ord_status"] == "canceled"
        assert trade["transact_time"].endswith("Z")
    rejected = trade_events(session, "order.rejected")
    assert rejected
    assert {e["trade"]["ord_rej_reason"] for e in rejected} == {"order_exceeds_limit"}
    assert not trade_events(session, "order.lifecycle_violation")


# -- US3: errors -----------------------------------------------------------------------


def test_us3_2_invalid_order_parameter_names_parameter_rule_and_context(session: Session) -> None:
    """The strategy sized one order to zero: it never left, and one entry names the
    parameter, the rule, the value, and the strategy step it came from."""
    failed = session.events("order.validation_failed")

    assert 1 == len(failed)
    entry = failed[0]
    assert entry["level"] == "warning"
    assert entry["validation"]["param"] == "order_qty"
    assert entry["validation"]["rule"] == "greater than 0"
    assert "0.000" in entry["validation"]["value"]
    assert entry["strategy"] == "mean_reversion"
    assert entry["step"] == 7
    assert entry["call"]["method"] == "order_placed"
    skipped = session.events("strategy.order_skipped")
    assert [7] == [e["step"] for e in skipped]


# -- US3: errors (network and unexpected) ------------------------------------------------


def test_us3_1_network_failure_logs_connection_details_error_code_and_stack_trace(
    session: Session,
) -> None:
    """The exchange refused connections, answered 503 and stalled: each failed call has an
    error entry with the code, the address, port and URL it went to, and the stack trace."""
    failed = session.events("exchange.call_failed")
    port = json.loads((session.out / "exchange.json").read_text(encoding="utf-8"))["api"]
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in failed:
        by_type[entry["error"]["type"]].append(entry)

    assert {"ConnectionRefusedError", "engine.ExchangeHTTPError", "TimeoutError"} <= by_type.keys()
    for entry in failed:
        assert entry["level"] == "error"
        assert entry["server.address"] == "127.0.0.1"
        assert entry["server.port"] == port
        assert entry["url.full"].startswith(f"http://127.0.0.1:{port}/orders")
        assert entry["error"]["stack_trace"].startswith("Traceback (most recent call last):")
        assert entry["error"]["frames"]
    refused = by_type["ConnectionRefusedError"][0]["error"]
    assert refused["code"] == "ECONNREFUSED"
    assert refused["errno"] == 111
    assert refused["server.address"] == "127.0.0.1"
    assert refused["server.port"] == port
    assert {e["http.response.status_code"] for e in by_type["engine.ExchangeHTTPError"]} == {503}


def test_us3_3_unexpected_exception_logs_stack_trace_locals_and_context(session: Session) -> None:
    """The strategy's bug (a division by zero deep in its risk code) is logged with the full
    stack trace, each frame's local variables, and the step's context, and trading goes on."""
    failed = session.events("strategy.error")

    assert 1 == len(failed)
    entry = failed[0]
    error = entry["error"]
    assert error["type"] == "ZeroDivisionError"
    assert "lots = 100 // ticks_of_risk" in error["stack_trace"]
    functions = [frame["function"] for frame in error["frames"]]
    assert functions[-2:] == ["act", "rebalance"]
    innermost = error["frames"][-1]["locals"]
    assert innermost["ticks_of_risk"] == "0"
    assert "window" in innermost
    assert (entry["strategy"], entry["step"]) == ("mean_reversion", 9)
    assert entry["logger"] == "engine"
    assert max(e.get("step", 0) for e in session.entries) > 9  # it went on trading


# -- US4: metrics -----------------------------------------------------------------------


def snapshots(session: Session, name: str) -> list[dict[str, Any]]:
    return [e for e in session.events("metrics.snapshot") if e["metric"]["name"] == name]


def test_us4_1_monitoring_logs_cpu_memory_and_network_periodically(session: Session) -> None:
    """Every snapshot interval writes the process's CPU and memory and the system's network
    traffic in both directions, in the OpenTelemetry names and units."""
    rounds = sorted({e["snapshot_seq"] for e in session.events("metrics.snapshot")})

    assert len(rounds) >= 3
    assert rounds == list(range(1, len(rounds) + 1))
    for name, unit in (
        ("process.cpu.utilization", "1"),
        ("process.memory.usage", "By"),
        ("system.cpu.utilization", "1"),
        ("system.memory.utilization", "1"),
    ):
        points = snapshots(session, name)
        assert sorted(e["snapshot_seq"] for e in points) == rounds, name
        assert {e["metric"]["unit"] for e in points} == {unit}
        assert all(e["metric"]["value"] >= 0 for e in points)
    network = snapshots(session, "system.network.io")
    directions = Counter(e["metric"]["attributes"]["network.io.direction"] for e in network)
    assert directions == {"transmit": len(rounds), "receive": len(rounds)}
    assert any(e["metric"]["value"] > 0 for e in network)  # the exchange's traffic


def test_us4_2_latency_metrics_record_api_order_and_market_data_times(session: Session) -> None:
    """API response times per endpoint, order-processing delay at acknowledgement and at
    fill, and market-data update intervals per symbol, as percentiles in seconds; failed
    calls are timed too, under their error type."""
    api = snapshots(session, "exchange.api.duration")
    delay = snapshots(session, "order.processing.delay")
    feed = snapshots(session, "marketdata.interval")

    endpoints = {e["metric"]["attributes"]["endpoint"] for e in api}
    assert {"new_order", "cancel", "replace"} <= endpoints
    assert {e["metric"]["attributes"]["stage"] for e in delay} == {"ack", "fill"}
    assert {e["metric"]["attributes"]["symbol"] for e in feed} == {"BTC-USD", "ETH-USD"}
    for point in (e["metric"] for e in api + delay + feed):
        assert point["type"] == "histogram"
        assert point["unit"] == "s"
        assert point["count"] > 0
        assert 0 <= point["min"] <= point["p50"] <= point["p99"] <= point["max"] * 1.02
    errors = {e["metric"]["attributes"].get("error.type") for e in api} - {None}
    assert "ConnectionRefusedError" in errors
    # The ticks come every 20 ms: the median interval says so.
    assert all(0.01 < e["metric"]["p50"] < 0.2 for e in feed)


def test_us4_3_threshold_breach_logs_warning_with_value_and_limit(session: Session) -> None:
    """Memory above its configured limit gives one warning with the value and the limit,
    and no repeat while it stays above."""
    exceeded = session.events("metrics.threshold_exceeded")
    limit = 20 * 1024 * 1024

    assert 1 == len(exceeded)
    alert = exceeded[0]
    assert alert["level"] == "warning"
    assert alert["metric"]["name"] == "process.memory.usage"
    assert alert["limit"] == limit
    assert alert["value"] > limit
    assert alert["metric"]["threshold"] == {"above": limit, "state": "firing"}
    assert not session.events("metrics.threshold_recovered")
    assert "process.memory.usage" in session.stderr


# -- US5: retention and archives -------------------------------------------------------


def test_us5_1_files_past_the_retention_age_are_compressed_and_archived(session: Session) -> None:
    """A log file left by a run 120 days ago, past the 90-day policy, was compressed and
    moved to the archive; this session's rotated files, being young, stayed beside the live
    file, compressed."""
    archive = session.out / "logs" / "archive"
    manifest = entries(archive / "manifest.jsonl")
    archived = [e for e in session.entries if e.get("event") == "retention.archived"]

    assert (archive / f"{session.old_file}.gz").exists()
    assert not (session.out / "logs" / session.old_file).exists()
    assert [session.old_file + ".gz"] == [Path(e["to"]).name for e in archived]
    assert archived[0]["reason"] == "max_age"
    assert {f"{session.old_file}.gz"} == {r["file"] for r in manifest if "sha256" in r}
    young = sorted((session.out / "logs").glob("engine.*.jsonl.gz"))
    assert young
    assert all(gzip.decompress(p.read_bytes()) for p in young)


def test_us5_2_oldest_files_are_purged_when_storage_runs_short(tmp_path: Path) -> None:
    """With the logs held under a total size, the oldest rotated files are purged first
    and the ones kept stay under the limit."""
    out = tmp_path / "out"
    run(
        APP,
        out,
        "--duration",
        "4",
        "--no-chaos",
        "--rotate-size",
        "8 KiB",
        "--max-total-size",
        "4 KiB",
    )
    logs = out / "logs"
    kept = finished_files(out)
    written = entries(*kept, logs / "engine.jsonl")
    manifest = entries(logs / "manifest.jsonl")
    created = [r["file"] for r in manifest if "sha256" in r]
    removed = [r for r in manifest if "removed" in r]

    assert removed
    assert {r["reason"] for r in removed} == {"max_total_size"}
    # The oldest went first: every file removed was made before every file kept (rotation
    # numbers the files it makes in order).
    assert created
    assert max(number(r["file"]) for r in removed) < min(number(p.name) for p in kept)
    # What is kept continues to the live file with no entry missing (entries written
    # directly by the closing sink, after the last numbered one, carry no seq).
    seqs = [e["seq"] for e in written if "seq" in e]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_us5_3_archived_logs_can_be_retrieved_and_restored_for_review(
    session: Session, tmp_path: Path
) -> None:
    """For an audit: the trade file's hash chain verifies (and an edit is caught), the archive
    lists as intact and restores, and one order's whole history is found across live and
    archived files."""
    archive = session.out / "logs" / "archive"
    tapelog = [sys.executable, "-m", "tapelog"]
    listing = subprocess.run(
        [*tapelog, "archive", "list", str(archive)], capture_output=True, text=True, check=False
    )
    restore = subprocess.run(
        [*tapelog, "archive", "restore", str(archive / f"{session.old_file}.gz"), "--to", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    order = next(e["trade"]["cl_ord_id"] for e in session.audit if e.get("event") == "order.filled")
    query = subprocess.run(
        [*tapelog, "query", str(session.out / "logs"), "--where", f"trade.cl_ord_id={order}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    history = [json.loads(line) for line in query.stdout.splitlines()]
    audit_file = session.out / "logs" / "trades.audit.jsonl"
    verify = subprocess.run(
        [*tapelog, "verify", str(audit_file)], capture_output=True, text=True, check=False
    )
    edited = tmp_path / "edited" / "trades.audit.jsonl"
    edited.parent.mkdir()
    text = audit_file.read_text(encoding="utf-8")
    edited.write_text(text.replace('"last_px":"', '"last_px":"1', 1), encoding="utf-8")
    tampered = subprocess.run(
        [*tapelog, "verify", str(edited)], capture_output=True, text=True, check=False
    )

    # The trade file's hash chain holds, and a fill edited after the fact is caught.
    assert 0 == verify.returncode, verify.stdout + verify.stderr
    assert all("audit" in e for e in session.audit)
    assert 1 == tampered.returncode, tampered.stdout + tampered.stderr
    assert 0 == listing.returncode, listing.stdout + listing.stderr
    assert " OK" in listing.stdout
    assert 0 == restore.returncode, restore.stderr
    restored = tmp_path / session.old_file
    assert len(lines(restored)) == 9
    assert 0 == query.returncode, query.stderr
    events = [e["event"] for e in history if e["logger"] == "trading"]
    assert events[0] == "order.placed"
    assert "order.filled" in events
    assert (
        Counter(e["timestamp"] <= f["timestamp"] for e, f in itertools.pairwise(history))[False]
        == 0
    )


# -- Shutdown ------------------------------------------------------------------------------


def test_sigterm_cancels_open_orders_and_loses_nothing(tmp_path: Path) -> None:
    """Trading until SIGTERM: the engine cancels what is still open, says it stopped, and
    every entry it made is in the file (exit status 0)."""
    out = tmp_path / "out"
    log = out / "logs" / "engine.jsonl"
    with running(APP, out, "--serve", "--no-chaos") as process:
        assert wait_for(lambda: any(e.get("event") == "order.replaced" for e in entries(log)))
        pid = process.pid
    written = entries(log)
    stats = json.loads((out / "stats.json").read_text(encoding="utf-8"))
    stopping = next(e for e in written if e.get("event") == "engine.stopping")
    after = [e for e in written if e["seq"] > stopping["seq"] and e["logger"] == "trading"]

    status: dict[str, str] = {}
    for entry in written:
        if entry["seq"] > stopping["seq"] or entry["logger"] != "trading" or "trade" not in entry:
            continue
        trade = entry["trade"]
        if entry["event"] == "order.replaced":
            status.pop(trade["orig_cl_ord_id"], None)
        if "ord_status" in trade:
            status[trade["cl_ord_id"]] = trade["ord_status"]
    open_at_stop = {cl for cl, state in status.items() if state in {"new", "partially_filled"}}
    ended = {
        e["trade"]["cl_ord_id"]
        for e in after
        if (e["event"] == "order.canceled" and e["trade"]["text"] == "engine shutdown")
        or e["event"] == "order.filled"
    }

    assert stopping["signal"] is True
    assert {e["pid"] for e in written} == {pid}
    assert open_at_stop <= ended  # every order still open was canceled (or filled meanwhile)
    assert stats["orders"]["live"] == 0
    assert any(e.get("event") == "engine.stopped" for e in written)
    assert stats["tapelog"]["processed"] == len(written)
    assert stats["tapelog"]["dropped_overflow"] == 0


LATE_ANSWER = """
import asyncio, json, subprocess, sys, time
from decimal import Decimal
from pathlib import Path

engine_dir, out = sys.argv[1], Path(sys.argv[2])
sys.path.insert(0, engine_dir)
import tapelog

tapelog.configure(sinks=[{"type": "file", "path": str(out / "trades.jsonl")}])
import engine  # the example's own module, as the engine runs it

ready = out / "exchange.json"
exchange = subprocess.Popen([sys.executable, f"{engine_dir}/exchange.py", "--ready", str(ready)])


async def control(port, mode, seconds):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"mode": mode, "seconds": seconds}).encode()
    writer.write(b"POST /control HTTP/1.1\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
    await writer.drain()
    await reader.read()
    writer.close()


async def main(ports):
    client = engine.ExchangeClient("127.0.0.1", ports["api"])
    manager = engine.OrderManager(client)
    feed = engine.MarketData(client, manager)
    stream = asyncio.create_task(feed.run())
    for _ in range(500):  # bounded: the first tick comes within 20 ms
        if "BTC-USD" in feed.last:
            break
        await asyncio.sleep(0.01)
    await control(ports["control"], "late", 4 * engine.API_TIMEOUT)
    price = Decimal(feed.last["BTC-USD"]["ask"]) + 100  # marketable: it fills at once
    order = await manager.place("BTC-USD", "buy", Decimal("0.01"), price)
    for _ in range(500):  # bounded: fills come on the next ticks
        if manager.orders and not manager.in_doubt:
            break
        await asyncio.sleep(0.01)
    stream.cancel()
    print(json.dumps({"answered": order is not None, "confirmed": sorted(manager.orders)}))


for _ in range(1500):
    if ready.exists() and ready.read_text():
        break
    time.sleep(0.02)
try:
    asyncio.run(main(json.loads(ready.read_text())))
finally:
    exchange.terminate()
    exchange.wait(30)
    tapelog.shutdown(10)
"""


def test_an_order_whose_answer_came_too_late_is_logged_when_its_fill_proves_it(
    tmp_path: Path,
) -> None:
    """The exchange took an order but answered after the engine gave up (a slow gateway):
    the engine's call timed out, yet fills for it arrive. The trade log shows the order as
    placed before its first fill, and no lifecycle violation (unknown order)."""
    done = subprocess.run(
        [sys.executable, "-c", LATE_ANSWER, str(EXAMPLES / "trading_engine"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert 0 == done.returncode, done.stderr[-4000:]
    outcome = json.loads(done.stdout.splitlines()[-1])
    trade_log = [
        e
        for e in map(json.loads, (tmp_path / "trades.jsonl").read_bytes().splitlines())
        if "cl_ord_id" in e.get("trade", {})
    ]  # fmt: skip (position.changed entries carry no order)
    events = [(e["event"], e["trade"]["cl_ord_id"]) for e in trade_log]

    assert (False, ["C-00001"]) == (outcome["answered"], outcome["confirmed"])
    assert events[0] == ("order.placed", "C-00001"), events
    assert {"order.partially_filled", "order.filled"} & {name for name, _ in events[1:]}
    assert all(cl_ord_id == "C-00001" for _, cl_ord_id in events)
    assert "order.lifecycle_violation" not in [name for name, _ in events]
