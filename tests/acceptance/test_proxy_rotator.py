"""The proxy rotator (examples/proxy_rotator) against the logging requirements of a proxy
rotation service: one test per user story, each the story's own independent check, run on
the real program in a subprocess, read back at the real receivers.

1. structured output: JSON and logfmt entries that validate against the shipped schema,
   Unicode intact, credentials redacted;
2. levels from the environment and a config file, changed live without a restart;
3. console, files, syslog and HTTP at once, each still served while another is down,
   with a component filter and sampling;
4. request, proxy and strategy metadata on every entry, bound through context;
5. rotation by size and retention by count, nothing lost across a rotation;
6. 10,000 entries a second through the proxy, with exact drop counters.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tapelog.formats import parse_logfmt, unflatten
from tests.acceptance.apps import archives, entries, lines, run, running, schema_errors, wait_for


if TYPE_CHECKING:
    from tapelog.cli._collector import Collector
    from tests.integration.rsyslog import Rsyslog

APP = "proxy_rotator"
SECRETS = ("s3cret-pw", "hunter2-pw", "b4d-pw")
REQUIRED = ["timestamp", "level", "logger", "message"]
PATHS = ("/quotes", "/café/menü", "/status?q=日本", "/items/42")  # what the client requests


def everything(out: Path) -> list[dict[str, Any]]:
    """The JSON file's entries: the archives that retention kept, then the live file."""
    kept = sorted(archives(out / "logs" / "archive"), key=lambda p: entries(p)[0]["seq"])
    return entries(*kept, out / "logs" / "proxy.jsonl")


def stats(out: Path) -> dict[str, Any]:
    return json.loads((out / "stats.json").read_text(encoding="utf-8"))


def test_us1_structured_log_output(tmp_path: Path, validator: Any) -> None:
    """Generated entries validate against the schema in JSON and in logfmt read back; the
    Unicode of request paths survives both; proxy credentials never reach any output."""
    out = tmp_path / "out"
    result = run(APP, out, "--requests", "120", "--rotate-size", "10 MiB")

    json_entries = everything(out)
    logfmt_entries = [
        unflatten(parse_logfmt(line)) for line in lines(out / "logs" / "proxy.logfmt")
    ]

    assert len(json_entries) == len(logfmt_entries) > 120
    assert [] == schema_errors(validator, json_entries)
    assert [] == schema_errors(validator, logfmt_entries)
    assert all(list(e)[:4] == REQUIRED for e in json_entries)
    assert [e["seq"] for e in json_entries] == [e["seq"] for e in logfmt_entries]
    served = [e for e in json_entries if e.get("event") == "proxy.request"]
    assert {e["url.full"].split("/", 3)[-1] for e in served} == {p[1:] for p in PATHS}
    by_seq = {e["seq"]: e for e in logfmt_entries}
    for entry in served:
        assert entry["url.full"] == by_seq[entry["seq"]]["url.full"]
        assert entry["request_id"] == by_seq[entry["seq"]]["request_id"]
    # Credentials in upstream URLs are redacted everywhere the entries went.
    with_credentials = [e["proxy.url"] for e in served if "@" in e["proxy.url"]]
    assert with_credentials
    assert all(url.startswith("http://[REDACTED]@127.0.0.1:") for url in with_credentials)
    outputs = [p.read_bytes() for p in out.rglob("*") if p.is_file() and p.suffix != ".gz"]
    outputs += [result.stderr.encode(), result.stdout.encode()]
    outputs += ["\n".join(lines(p)).encode() for p in archives(out / "logs" / "archive")]
    assert not [s for s in SECRETS for data in outputs if s.encode() in data]


LEVELS_FILE = """\
level = "{level}"

[levels]
"proxy.health" = "debug"
"""


def test_us2_configurable_log_levels(tmp_path: Path) -> None:
    """Levels come from the environment and the config file; saving the file changes what
    is written without a restart, and the environment still wins for the logger it names."""
    out, config = tmp_path / "out", tmp_path / "levels.toml"
    config.write_text(LEVELS_FILE.format(level="info"), encoding="utf-8")
    log = out / "logs" / "proxy.jsonl"
    env = {"TAPELOG_LEVELS": "proxy.upstream=warning"}
    args = ("--serve", "--rate", "100", "--config", str(config), "--rotate-size", "100 MiB")

    def after(marker: dict[str, Any]) -> list[dict[str, Any]]:
        return [e for e in entries(log) if e["seq"] > marker["seq"]]

    def changes() -> list[dict[str, Any]]:
        return [e for e in entries(log) if e.get("event") == "config.changed"]

    with running(APP, out, *args, env=env) as process:
        assert wait_for(lambda: sum(e.get("event") == "proxy.request" for e in entries(log)) >= 20)
        config.write_text(LEVELS_FILE.format(level="debug"), encoding="utf-8")
        assert wait_for(lambda: len(changes()) == 1)
        to_debug = changes()[0]
        assert wait_for(lambda: sum(e["level"] == "debug" for e in after(to_debug)) >= 50)
        config.write_text(LEVELS_FILE.format(level="warning"), encoding="utf-8")
        assert wait_for(lambda: len(changes()) == 2)
        to_warning = changes()[1]
        # Health checks stay at debug (their own level): once some came after the change,
        # the rotator has had time to serve requests, and must have written none of them.
        assert wait_for(
            lambda: sum(e.get("event") == "health.check" for e in after(to_warning)) >= 40
        )
        pid = process.pid

    written = entries(log)
    before = [e for e in written if e["seq"] < to_debug["seq"]]
    debug_phase = [e for e in written if to_debug["seq"] < e["seq"] < to_warning["seq"]]
    settled = [e for e in after(to_warning) if e["seq"] > after(to_warning)[20]["seq"]]

    assert {e["pid"] for e in written} == {pid}  # one process throughout: no restart
    assert [{"key": "level", "old": "info", "new": "debug", "source": "file"}] == to_debug[
        "changes"
    ]
    assert "file" == to_debug["change_source"]
    assert not [e for e in before if e["logger"] == "proxy.rotator" and e["level"] == "debug"]
    assert [e for e in debug_phase if e["logger"] == "proxy.rotator" and e["level"] == "debug"]
    assert [e for e in settled if e.get("event") == "health.check"]
    assert not [e for e in settled if e["logger"] == "proxy.rotator" and e["level"] == "info"]
    # TAPELOG_LEVELS outranks the file: the upstreams never logged below warning.
    assert not [e for e in written if e["logger"] == "proxy.upstream" and e["level"] == "debug"]


def test_us3_multiple_output_destinations(
    tmp_path: Path, rsyslog: Rsyslog, collector: Collector
) -> None:
    """Console, files, syslog and HTTP receive entries at once; while the HTTP collector is
    down the others keep receiving, and the collector gets what was held back once it is
    up; the health file takes one component only; HTTP is sampled by request."""
    out = tmp_path / "out"
    log = out / "logs" / "proxy.jsonl"
    syslog = f"tcp://127.0.0.1:{rsyslog.tcp_port}"

    def served() -> list[str]:
        return [e["request_id"] for e in entries(log) if e.get("event") == "proxy.request"]

    def from_app(message: dict[str, Any]) -> bool:
        return message.get("app-name") == "proxy-rotator" and str(out) not in message.get("msg", "")

    with running(
        APP, out, "--serve", "--rate", "100", "--syslog", syslog, "--collector", collector.url,
        "--sample-rate", "0.5", "--rotate-size", "100 MiB",
    ) as process:  # fmt: skip
        assert wait_for(lambda: len(collector.records) >= 5 and len(served()) >= 20)
        collector.down()
        outage_start = len(served())
        assert wait_for(lambda: len(served()) >= outage_start + 60)
        during = set(served()[outage_start:])
        collector.up()
        assert wait_for(lambda: during & {r.get("request_id") for r in collector.records})
        pid = str(process.pid)
    # the sink flushed at exit; rsyslog may still be writing
    ours = rsyslog.wait_for(len(during), lambda m: m.get("procid") == pid)

    written = entries(log)
    final = stats(out)["tapelog"]
    sinks = final["sinks"]
    syslog_ids = {json.loads(m["msg"].lstrip("\ufeff")).get("request_id") for m in ours}
    collected = collector.records
    stderr = (tmp_path / "out.stderr").read_text(encoding="utf-8")

    # Every destination received entries; none lost any to another one's outage.
    assert during <= syslog_ids
    assert during & {r.get("request_id") for r in collected}, "nothing held back arrived"
    assert "WARNING" in stderr
    assert " INFO " not in stderr
    assert sinks["main"]["written"] == len(written) == final["processed"]
    for name, sink in sinks.items():
        settled = sink["written"] + sink["filtered"] + sink["sampled_out"] + sink["spooled"]
        assert final["processed"] == settled + sink["failed"], name
        assert 0 == sink["failed"], name
    # Component filter: the health file holds every health entry and nothing else.
    health = entries(out / "logs" / "health.jsonl")
    assert health
    assert {e["seq"] for e in health} == {
        e["seq"] for e in written if e.get("component") == "health"
    }
    # The syslog sink takes info and up, without the client's component.
    assert not [m for m in ours if 'component="client"' in m.get("msg", "")]
    # Sampling by request: some requests dropped, a kept request keeps all its entries.
    assert sinks["http"]["sampled_out"] > 0
    # (Warnings are kept whatever the sample says, so only the other levels are compared.)
    by_request: dict[str, set[int]] = defaultdict(set)
    for entry in written:
        if "request_id" in entry and entry["level"] == "info":
            by_request[entry["request_id"]].add(entry["seq"])
    kept: dict[str, set[int]] = defaultdict(set)
    for record in collected:
        if "request_id" in record and record["level"] == "info":
            kept[record["request_id"]].add(record["seq"])
    assert kept
    assert len(kept) < len(by_request)
    assert {rid: by_request[rid] for rid in kept} == kept
    # The outage was reported (in the other destinations: a sink never takes its own
    # failure report), and warnings are never sampled out.
    outage = [e for e in written if e.get("event") == "tapelog.sink_failed"]
    assert outage
    assert {e["sink"] for e in outage} == {"http"}
    warnings = {e["seq"] for e in written if e["level"] in {"warning", "error"} and e not in outage}
    assert warnings <= {r["seq"] for r in collected}


def test_us4_contextual_logging_with_metadata(tmp_path: Path) -> None:
    """Every entry a request causes carries its request id, the upstream and the strategy,
    across concurrent requests and across the hop into the upstream proxy; health checks
    carry the proxy they checked."""
    out = tmp_path / "out"
    run(APP, out, "--requests", "150", "--rate", "300", "--strategy", "least_used",
        "--rotate-size", "100 MiB", env={"TAPELOG_LEVEL": "debug"})  # fmt: skip
    written = everything(out)
    rotator = [e for e in written if e["logger"] == "proxy.rotator" and "request_id" in e]
    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entry in rotator:
        by_request[entry["request_id"]].append(entry)

    assert 150 == len(by_request)
    for request_id, items in by_request.items():
        number = int(request_id.removeprefix("req-"))
        assert {e["url.full"].split("/", 3)[-1] for e in items} == {PATHS[number % 4][1:]}
        assert {e["proxy.strategy"] for e in items} == {"least_used"}
        assert {e["http.request.method"] for e in items} == {"GET"}
        served = [e for e in items if e.get("event") == "proxy.request"]
        selected = [e for e in items if e.get("event") == "proxy.selected"]
        assert 1 == len(served), request_id
        assert served[0]["proxy.id"] == selected[-1]["proxy.id"]
        assert served[0]["attempts"] == len(selected)
        assert all(
            re.fullmatch(r"http://(\[REDACTED\]@)?127\.0\.0\.1:\d+", e["proxy.url"])
            for e in selected
        )
        hop = [
            e
            for e in written
            if e.get("event") == "upstream.forwarded" and e["request_id"] == request_id
        ]
        assert [served[0]["proxy.id"]] == [e["upstream"] for e in hop]
    # The requests really overlapped: entries of different requests interleave.
    order = [e["request_id"] for e in rotator]
    assert sum(a != b for a, b in itertools.pairwise(order)) > len(by_request)
    checks = [e for e in written if e.get("event") == "health.check"]
    assert {e["proxy.id"] for e in checks} == {f"up-{n}" for n in range(1, 6)}
    assert all({"proxy.url", "healthy", "latency_ms", "component"} <= e.keys() for e in checks)
    down = {
        e["proxy.id"] for e in written if e.get("event") == "health.changed" and not e["healthy"]
    }
    assert {"up-4", "up-5"} == down
    assert any(e["error"]["type"] == "ConnectionRefusedError" for e in written
               if e.get("event") == "health.changed" and "error" in e)  # fmt: skip


def test_us5_log_rotation_and_retention(tmp_path: Path) -> None:
    """Past the size threshold the file rotates, rotated files are compressed into the
    archive, and retention keeps the configured number, oldest purged first; no entry is
    lost or split at a rotation."""
    out = tmp_path / "out"
    # ~40 KB/s of entries: a rotation every second or so, six or more in the run.
    run(APP, out, "--requests", "480", "--rate", "60", "--rotate-size", "48 KiB", "--keep", "2")
    archive = out / "logs" / "archive"
    live = entries(out / "logs" / "proxy.jsonl")
    kept = archives(archive)
    manifest = entries(archive / "manifest.jsonl")
    rotated = [e for e in everything(out) if e.get("event") == "retention.rotated"]
    purged = [e for e in live + everything(out) if e.get("event") == "retention.purged"]

    assert 2 == len(kept)
    assert not list((out / "logs").glob("proxy.*Z.jsonl*"))  # nothing left beside the live file
    assert {e["reason"] for e in purged} == {"max_files"}
    assert {Path(e["file"]).name for e in purged} <= {r["file"] for r in manifest if "sha256" in r}
    assert not [p for p in kept if p.name in {Path(e["file"]).name for e in purged}]
    created = [r for r in manifest if "sha256" in r]
    assert len(created) >= 4
    assert all(r["content_size"] <= 48 * 1024 for r in created)
    assert all(e["reason"] == "size" for e in rotated)
    # The kept archives and the live file continue one another with no gap in seq.
    seqs = [e["seq"] for e in everything(out)]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    listing = subprocess.run(
        [sys.executable, "-m", "tapelog", "archive", "list", str(archive)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert 0 == listing.returncode, listing.stdout + listing.stderr
    assert 2 == listing.stdout.count(" OK")


def test_us6_performance_optimized_logging(tmp_path: Path) -> None:
    """At 10,000 entries a second through the proxy the report states the latency overhead,
    and the drop counters are exact: every entry is written or counted as dropped, with a
    queue large enough and with one far too small."""
    roomy, tiny = tmp_path / "roomy", tmp_path / "tiny"
    args = ("--rate", "200", "--chunks", "45", "--rotate-size", "1 GiB", "--sample-rate", "1")
    report_run = run(APP, roomy, "--bench", "2", *args)
    run(APP, tiny, "--bench", "1", "--queue-size", "8", *args)

    report = json.loads((roomy / "bench.json").read_text(encoding="utf-8"))
    assert {
        "entries_per_s",
        "overhead_mean_pct",
        "overhead_p99_pct",
        "latency_on",
        "latency_off",
    } <= report.keys()
    assert '"overhead_mean_pct"' in report_run.stdout
    assert report["entries_per_request"] == 45
    for out in (roomy, tiny):
        counters = stats(out)["tapelog"]
        main = counters["sinks"]["main"]
        assert counters["emitted"] == counters["processed"] + counters["dropped_overflow"]
        assert main["written"] == len(lines(out / "logs" / "proxy.jsonl")) == counters["processed"]
        assert counters["dropped_overflow"] == counters["dropped_by_reason"]["drop_newest"]
    assert 0 == stats(roomy)["tapelog"]["dropped_overflow"]
    assert stats(tiny)["tapelog"]["dropped_overflow"] > 0
