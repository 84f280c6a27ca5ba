"""The audit chain on the file sink and ``tapelog verify``: what a tamperer cannot hide."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from tests.conftest import read_jsonl

import tapelog
from tapelog.audit import AuditKey, _chain, verify
from tapelog.audit._chain import key_id_of
from tapelog.cli import main
from tapelog.exceptions import ConfigError
from tapelog.formats import JsonFormat, LogfmtFormat
from tapelog.sinks import FileSink
from tapelog.trading import get_trade_logger


if TYPE_CHECKING:
    from pathlib import Path


def _entry(n: int) -> dict[str, Any]:
    return {
        "timestamp": f"2026-11-23T07:01:02.{n:06d}Z",
        "level": "info",
        "logger": "trading",
        "message": f"entry {n}",
        "n": n,
    }


def write_audited(
    directory: Path,
    batches: int = 4,
    per_batch: int = 5,
    *,
    rotation: int | None = None,
    compression: str | None = None,
    key: AuditKey | None = None,
    retention: dict[str, Any] | None = None,
    checkpoint: tuple[int, float] = (10_000, 60.0),
) -> Path:
    """Write an audited file (rotated and compressed when asked) and close it."""
    path = directory / "trades.jsonl"
    sink = FileSink(
        path,
        JsonFormat(),
        rotation=rotation,
        compression=compression,
        retention=retention,
        background=False,
        audit=True,
        audit_key=key,
        audit_checkpoint=checkpoint,
    )
    n = 0
    for _ in range(batches):
        sink.write_batch([_entry(n + i) for i in range(per_batch)])
        n += per_batch
        if rotation is not None:
            sink.housekeep()
    sink.close()
    if rotation is not None or retention is not None:
        sink.housekeep()
    return path


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def _kinds(*paths: Path, **options: Any) -> list[str]:
    return [problem.kind for problem in verify(paths, **options).problems]


@pytest.fixture(autouse=True)
def _fresh_chains() -> None:
    """Each test's files get chains of their own (the registry is per path)."""
    from tapelog.audit import _chain

    _chain._writers.clear()


class TestChain:
    def test_every_line_is_sealed_and_valid(self, tmp_path: Path, validator: Any) -> None:
        path = tmp_path / "audit.jsonl"
        tapelog.configure(
            {"sinks": [{"type": "file", "path": str(path), "format": "json", "audit": True}]}
        )
        trades = get_trade_logger("audit.trading")
        trades.order_placed("C-1", "BTC-USD", "buy", "1", "100")
        trades.order_filled("C-1", "E-1", "1", "100")
        tapelog.get_logger("app").info("hello", audit="mine")
        tapelog.configure({"sinks": [{"type": "console"}]})  # closes the sink: sealed end
        entries = read_jsonl(path)
        assert [e.get("event") for e in entries] == [
            "audit.opened",
            "order.placed",
            "order.filled",
            None,
            "audit.closed",
        ]
        for number, entry in enumerate(entries, 1):
            assert not list(validator.iter_errors(entry)), entry
            assert entry["audit"]["seq"] == number
            assert entry["audit"]["alg"] == "sha256"
            assert list(entry)[-1] == "audit"
            assert list(entry["audit"])[-1] == "hash"
        assert entries[3]["audit_"] == "mine"  # a user's field of that name stays aside
        assert len({e["audit"]["writer"] for e in entries}) == 1
        # Each line starts a run after the run before, or is one more line of its run.
        for before, entry in itertools.pairwise(entries):
            assert entry["audit"]["prev"] == before["audit"]["hash"] or (
                entry["audit"]["prev"] == before["audit"]["prev"]
                and entry["audit"]["hash"] == before["audit"]["hash"]
            )
        assert verify([path]).ok

    def test_a_run_of_lines_shares_one_hash(self, tmp_path: Path) -> None:
        """A batch's lines share one hash: of the first line up to ``,"hash":"``, then
        each other line up to ``,"prev":"`` (the rest is the run's), newline-joined.

        At most ``RUN`` lines a run; the next run's ``prev`` is the run before's hash.
        """
        path = write_audited(tmp_path, batches=1, per_batch=_chain.RUN + 3)
        lines = path.read_bytes().splitlines()
        entries = [orjson.loads(line) for line in lines]
        shared = {line[line.rindex(b',"prev":"') :] for line in lines[1 : 1 + _chain.RUN]}
        assert len(shared) == 1  # the run's lines end alike

        def hashed(run: list[bytes]) -> bytes:
            first, *others = run
            return b"\n".join(
                [first[: first.rindex(b',"hash":"')]]
                + [line[: line.rindex(b',"prev":"')] for line in others]
            )

        runs = [
            (0, 1),
            (1, 1 + _chain.RUN),
            (1 + _chain.RUN, 4 + _chain.RUN),
            (4 + _chain.RUN, 5 + _chain.RUN),
        ]
        assert len(lines) == 5 + _chain.RUN  # opened, the batch in two runs, closed
        prev = _chain.GENESIS
        for start, end in runs:
            digest = hashlib.sha256(hashed(lines[start:end])).hexdigest()
            assert {e["audit"]["hash"] for e in entries[start:end]} == {digest}
            assert {e["audit"]["prev"] for e in entries[start:end]} == {prev}
            prev = digest
        assert verify([path]).ok

    def test_one_line_a_run_is_the_earlier_format(self, tmp_path: Path) -> None:
        writer = _chain.AuditWriter(tmp_path / "one.jsonl", None, run=1)
        lines = bytes(writer.seal([{"message": str(n)} for n in range(3)])).splitlines()
        prev = _chain.GENESIS
        for line in lines:
            entry = orjson.loads(line)
            head = line[: line.rindex(b',"hash":"')]
            assert entry["audit"]["hash"] == hashlib.sha256(head).hexdigest()
            assert entry["audit"]["prev"] == prev
            prev = entry["audit"]["hash"]
        with pytest.raises(ValueError, match="at least one line"):
            _chain.AuditWriter(tmp_path / "none.jsonl", None, run=0)

    def test_a_key_gives_hmac_with_its_id(
        self, tmp_path: Path, setenv: Any, capsys: pytest.CaptureFixture[str]
    ) -> None:
        setenv("TAPELOG_AUDIT_KEY", "s3cret")
        path = tmp_path / "audit.jsonl"
        tapelog.configure(
            {"sinks": [{"type": "file", "path": str(path), "format": "json", "audit": True}]}
        )
        tapelog.get_logger("x").info("keyed")
        tapelog.configure({"sinks": [{"type": "console"}]})
        entry = read_jsonl(path)[1]
        assert entry["audit"]["alg"] == "hmac-sha256"
        assert entry["audit"]["key_id"] == key_id_of(b"s3cret")
        assert verify([path], keys=[AuditKey(b"s3cret")]).ok
        assert _kinds(path) == ["wrong key"]
        assert _kinds(path, keys=[AuditKey(b"other")]) == ["wrong key"]
        # The command line reads the same variable, or key files.
        assert main(["verify", str(path)]) == 0
        os.environ.pop("TAPELOG_AUDIT_KEY")
        assert main(["verify", str(path)]) == 1
        key_file = tmp_path / "key"
        key_file.write_text("s3cret\n")
        assert main(["verify", "--key-file", str(key_file), str(path)]) == 0
        assert "wrong key" in capsys.readouterr().out

    def test_the_key_may_come_from_a_file(self, tmp_path: Path) -> None:
        key_file = tmp_path / "audit.key"
        key_file.write_bytes(b"from-a-file")
        path = tmp_path / "audit.jsonl"
        tapelog.configure(
            {
                "sinks": [
                    {
                        "type": "file",
                        "path": str(path),
                        "format": "json",
                        "audit": True,
                        "audit_key_file": str(key_file),
                    }
                ]
            }
        )
        tapelog.get_logger("x").info("keyed")
        tapelog.configure({"sinks": [{"type": "console"}]})
        assert read_jsonl(path)[1]["audit"]["key_id"] == key_id_of(b"from-a-file")
        assert verify([path], keys=[AuditKey(b"from-a-file")]).ok

    def test_checkpoints_are_configured_per_sink(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.jsonl"
        sink = {"type": "file", "path": str(path), "format": "json", "audit": True}
        tapelog.configure({"sinks": [{**sink, "audit_checkpoint": {"entries": 2}}]})
        log = tapelog.get_logger("x")
        for n in range(6):
            log.info("entry", n=n)
            assert tapelog.flush(5)
        tapelog.configure({"sinks": [{"type": "console"}]})
        marks = read_jsonl(tmp_path / "audit.jsonl.checkpoints")
        assert len(marks) >= 3
        assert verify([path], checkpoints=tmp_path / "audit.jsonl.checkpoints").ok

    def test_the_run_length_is_configured_per_sink(self, tmp_path: Path) -> None:
        """``audit_run = 1`` gives each line its own hash, so an edit is named exactly;
        a reload to a longer run goes on with the same chain, sealing runs again."""
        path = tmp_path / "audit.jsonl"
        sink = {"type": "file", "path": str(path), "format": "json", "audit": True}
        tapelog.configure({"sinks": [{**sink, "audit_run": 1}]})
        log = tapelog.get_logger("x")
        for n in range(6):
            log.info("entry", n=n)
        assert tapelog.flush(5)
        tapelog.configure({"sinks": [{**sink, "audit_run": 4}]})
        for n in range(6, 14):
            log.info("entry", n=n)
        assert tapelog.flush(5)
        tapelog.configure({"sinks": [{"type": "console"}]})
        entries = read_jsonl(path)
        assert len({e["audit"]["writer"] for e in entries}) == 1  # one chain throughout
        first = [e["audit"]["hash"] for e in entries if e.get("n", -1) in range(6)]
        assert len(set(first)) == 6  # a hash a line
        later = [e["audit"]["hash"] for e in entries if e.get("n", -1) in range(6, 14)]
        assert len(set(later)) < len(later)  # lines of a run share their hash
        assert verify([path]).ok

        lines = _lines(path)
        edited = next(i for i, e in enumerate(entries) if e.get("n") == 3)
        lines[edited] = lines[edited].replace(b'"n":3', b'"n":4')
        path.write_bytes(b"".join(lines))
        (problem,) = verify([path]).problems
        assert (problem.kind, problem.line) == ("edited", edited + 1)
        assert "one sealed run" not in problem.detail  # the line itself, not a range

    def test_the_run_length_is_checked(self, tmp_path: Path) -> None:
        path = str(tmp_path / "a.jsonl")
        sink = {"type": "file", "path": path, "format": "json"}
        for value, expected in ((0, "at least 1"), (1025, "at most 1024"), ("8", "integer")):
            with pytest.raises(ConfigError, match=expected) as caught:
                tapelog.configure({"sinks": [{**sink, "audit": True, "audit_run": value}]})
            assert "audit_run" in str(caught.value)
        with pytest.raises(ConfigError, match="audit = true alongside it"):
            tapelog.configure({"sinks": [{**sink, "audit_run": 1}]})

    def test_an_idle_chain_is_checkpointed_on_time(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.jsonl"
        sink = FileSink(path, JsonFormat(), audit=True, audit_checkpoint=(10_000, 0.05))
        sink.write_batch([_entry(0)])  # the first batch's interval has not run out yet
        sidecar = tmp_path / "audit.jsonl.checkpoints"
        deadline = time.monotonic() + 10
        while not sidecar.exists() and time.monotonic() < deadline:
            sink.periodic()  # what the worker's timer calls
            time.sleep(0.01)
        (mark,) = read_jsonl(sidecar)
        sink.close()
        assert mark["seq"] == 3  # the opening record, the entry, then the checkpoint itself
        assert verify([path], checkpoints=sidecar).ok

    def test_config_refuses_what_it_cannot_do(self, tmp_path: Path) -> None:
        path = str(tmp_path / "a.jsonl")
        with pytest.raises(ConfigError, match="json"):
            FileSink(path, LogfmtFormat(), audit=True)
        with pytest.raises(ConfigError, match="audit"):
            tapelog.configure({"sinks": [{"type": "file", "path": path, "audit_key_file": path}]})
        with pytest.raises(ConfigError, match="audit_key_file"):
            tapelog.configure(
                {
                    "sinks": [
                        {
                            "type": "file",
                            "path": path,
                            "audit": True,
                            "audit_key_file": str(tmp_path / "absent"),
                        }
                    ]
                }
            )


class TestVerifyNamesTheBreak:
    def test_untouched_passes_and_the_cli_says_so(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        path = write_audited(tmp_path)
        assert main(["verify", str(path)]) == 0
        assert "OK: 22 entries in 1 chain(s)" in capsys.readouterr().out
        assert main(["verify", "--json", str(tmp_path)]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] is True
        assert report["entries"] == 22

    def _broken(self, path: Path, lines: list[bytes]) -> None:
        path.write_bytes(b"".join(lines))

    def test_edited(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        path = write_audited(tmp_path)
        lines = _lines(path)
        lines[5] = lines[5].replace(b'"n":4', b'"n":5')
        self._broken(path, lines)
        assert main(["verify", "--json", str(path)]) == 1
        (problem,) = json.loads(capsys.readouterr().out)["problems"]
        # Line 6 is in the run of the first batch (lines 2 to 6): the run is named.
        assert (problem["kind"], problem["line"], problem["file"]) == ("edited", 2, str(path))
        assert problem["detail"] == "lines 2 to 6 (one sealed run) do not give their hash"

    def test_edited_one_line_run(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path, per_batch=1)
        lines = _lines(path)
        lines[2] = lines[2].replace(b'"n":1', b'"n":7')
        self._broken(path, lines)
        (problem,) = verify([path]).problems
        assert (problem.kind, problem.line, problem.detail) == (
            "edited",
            3,
            "the line does not give its hash",
        )

    def test_deleted(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path)
        lines = _lines(path)
        del lines[7]
        self._broken(path, lines)
        (problem,) = verify([path]).problems
        assert (problem.kind, problem.line) == ("deleted", 8)

    def test_inserted(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path)
        lines = _lines(path)
        lines.insert(4, lines[3])
        lines.insert(9, b'{"timestamp":"2026-11-23T07:01:02.000000Z","message":"forged"}\n')
        self._broken(path, lines)
        problems = verify([path]).problems
        assert [(p.kind, p.line) for p in problems] == [("inserted", 10), ("inserted", 5)]

    def test_reordered(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path)
        lines = _lines(path)
        lines[6], lines[7] = lines[7], lines[6]
        self._broken(path, lines)
        assert _kinds(path) == ["reordered"]

    def test_truncated(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 10])
        assert "truncated" in _kinds(path)
        lines = _lines(path)
        self._broken(path, lines[:-1])  # cut after a batch: the closing record is gone
        assert _kinds(path) == ["truncated"]
        assert _kinds(path, live=True) == []  # a file being written may end after any batch
        self._broken(path, lines[:-3])  # cut inside the last batch's run
        (problem,) = verify([path]).problems
        assert (problem.kind, problem.line) == ("truncated", 17)
        assert problem.detail.startswith("the file ends inside a sealed run: lines 17 to 19")
        assert _kinds(path, live=True) == ["truncated"]  # no batch ends there

    def test_unsealed(self, tmp_path: Path) -> None:
        plain = tmp_path / "plain.jsonl"
        plain.write_text('{"timestamp":"2026-11-23T07:01:02.000000Z","message":"hi"}\n')
        assert _kinds(plain) == ["unsealed"]
        assert main(["verify", str(plain)]) == 1

    def test_usage_errors_exit_2(self, tmp_path: Path) -> None:
        assert main(["verify", str(tmp_path / "absent")]) == 2
        with pytest.raises(SystemExit) as exited:
            main(["verify"])
        assert exited.value.code == 2


class TestAcrossFiles:
    def test_rotated_and_compressed_files_form_one_chain(
        self, tmp_path: Path, validator: Any
    ) -> None:
        write_audited(
            tmp_path,
            batches=6,
            rotation=1500,
            compression="gzip",
            checkpoint=(4, 60.0),
        )
        events = set()
        for path in tmp_path.glob("trades*.jsonl*"):
            if path.name.endswith((".lock", ".checkpoints")):
                continue
            data = path.read_bytes()
            for line in (gzip.decompress(data) if path.suffix == ".gz" else data).splitlines():
                entry = json.loads(line)
                assert not list(validator.iter_errors(entry)), entry
                events.add(entry.get("event"))
        assert {
            "audit.opened",
            "audit.rotated",
            "audit.checkpoint",
            "audit.closed",
        } <= events
        names = sorted(p.name for p in tmp_path.iterdir())
        assert sum(name.endswith(".gz") for name in names) >= 2
        report = verify([tmp_path])
        assert report.ok, report.problems
        assert report.chains == 1
        assert len(report.files) >= 3
        # Files named in another order (newest first): the chain is put back in order.
        files = sorted(report.files, reverse=True)
        for order in (files, [*files[1:], files[0]]):
            again = verify(order)
            assert again.ok, again.problems
            assert again.entries == report.entries

    def test_a_missing_file_is_named(self, tmp_path: Path) -> None:
        write_audited(tmp_path, batches=6, rotation=1500, compression="gzip")
        gone = min(tmp_path.glob("*.gz"))
        gone.unlink()
        problems = verify([tmp_path]).problems
        assert [p.kind for p in problems] == ["file missing"]
        assert gone.name.removesuffix(".gz") in problems[0].detail

    def test_a_cut_rotated_file_is_caught(self, tmp_path: Path) -> None:
        write_audited(tmp_path, batches=6, rotation=1500, compression="gzip")
        victim = min(tmp_path.glob("*.gz"))
        lines = gzip.decompress(victim.read_bytes()).splitlines(keepends=True)
        victim.write_bytes(gzip.compress(b"".join(lines[:-1])))
        assert "truncated" in _kinds(tmp_path)

    def test_a_damaged_archive_is_reported_not_raised(self, tmp_path: Path) -> None:
        write_audited(tmp_path, batches=6, rotation=1500, compression="gzip")
        victim = min(tmp_path.glob("*.gz"))
        data = bytearray(victim.read_bytes())
        data[len(data) // 2] ^= 0xFF
        victim.write_bytes(bytes(data))
        problems = verify([tmp_path]).problems
        assert problems
        assert problems[0].kind == "edited"
        assert problems[0].file == str(victim)

    def test_zstd_archives_are_read(self, tmp_path: Path) -> None:
        pytest.importorskip("zstandard")
        write_audited(tmp_path, batches=6, rotation=1500, compression="zstd")
        assert list(tmp_path.glob("*.zst"))
        assert verify([tmp_path]).ok

    def test_retention_writes_a_sealed_record_first(self, tmp_path: Path, validator: Any) -> None:
        write_audited(
            tmp_path, batches=8, rotation=1500, compression="gzip", retention={"max_files": 1}
        )
        everything = [
            json.loads(line)
            for path in tmp_path.glob("trades*.jsonl*")
            if not path.name.endswith((".lock", ".checkpoints"))
            for line in (
                gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            ).splitlines()
        ]
        assert not [e for e in everything if not validator.is_valid(e)]
        records = [e for e in everything if e.get("event") == "audit.retention"]
        assert records
        removed = [name for e in records for name in e["chain"]["removed"]]
        present = {p.name.removesuffix(".gz") for p in tmp_path.iterdir()}
        assert removed
        assert not {name.removesuffix(".gz") for name in removed} & present
        report = verify([tmp_path])
        assert report.ok, report.problems
        assert set(report.retained) == {name.removesuffix(".gz") for name in removed}

    def test_checkpoints_catch_a_cut_tail(self, tmp_path: Path) -> None:
        path = write_audited(tmp_path, batches=4, checkpoint=(5, 60.0))
        sidecar = tmp_path / "trades.jsonl.checkpoints"
        marks = read_jsonl(sidecar)
        assert len(marks) >= 3
        assert all(m["file"] == "trades.jsonl" for m in marks)
        assert verify([path], checkpoints=sidecar).ok
        lines = _lines(path)
        path.write_bytes(b"".join(lines[:8]))  # the tail after a checkpoint is gone
        assert "truncated" in _kinds(path, live=True, checkpoints=sidecar)

    def test_checkpoints_catch_a_recomputed_chain(self, tmp_path: Path) -> None:
        """A chain rewritten with fresh hashes holds by itself; a shipped checkpoint differs."""
        path = write_audited(tmp_path, batches=4, checkpoint=(5, 60.0))
        sidecar = tmp_path / "trades.jsonl.checkpoints"
        marks = read_jsonl(sidecar)
        shipped = tmp_path / "shipped.checkpoints"
        marks[1]["hash"] = "f" * 64  # what the chain said then, as far as this copy knows
        shipped.write_text("".join(json.dumps(m) + "\n" for m in marks), encoding="utf-8")
        report = verify([path], checkpoints=shipped)
        (problem,) = report.problems
        assert (problem.kind, problem.detail) == (
            "edited",
            f"seq {marks[1]['seq']} differs from its checkpoint",
        )


class TestConcurrency:
    def test_threads_keep_one_valid_chain(self, tmp_path: Path) -> None:
        path = tmp_path / "audit.jsonl"
        tapelog.configure(
            {"sinks": [{"type": "file", "path": str(path), "format": "json", "audit": True}]}
        )

        def work(n: int) -> None:
            trades = get_trade_logger("audit.threads")
            for i in range(50):
                trades.order_placed(f"T{n}-{i}", "X", "buy", 1, 1)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tapelog.configure({"sinks": [{"type": "console"}]})
        report = verify([path])
        assert report.ok, report.problems
        assert report.entries == 4 * 50 + 2

    def test_two_processes_each_keep_their_chain(self, tmp_path: Path) -> None:
        script = (
            "import sys, tapelog\n"
            "from tapelog.trading import get_trade_logger\n"
            "tapelog.configure({'sinks': [{'type': 'file', 'path': sys.argv[1], 'format': 'json',"
            " 'audit': True, 'rotation': {'size': 4000}, 'compression': 'gzip'}]})\n"
            "trades = get_trade_logger()\n"
            "for i in range(60):\n"
            "    trades.order_placed(f'{sys.argv[2]}-{i}', 'X', 'buy', 1, 1)\n"
            "    tapelog.flush()\n"
            "tapelog.shutdown()\n"
        )
        path = tmp_path / "shared.jsonl"
        procs = [
            subprocess.Popen([sys.executable, "-c", script, str(path), name]) for name in ("A", "B")
        ]
        for proc in procs:
            assert proc.wait(timeout=60) == 0
        report = verify([tmp_path])
        assert report.ok, report.problems
        assert report.chains == 2
        assert report.entries >= 2 * 62
        assert len(report.files) >= 2
