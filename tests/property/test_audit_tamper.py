"""Any single tampering of audited files, rotated and compressed ones included, is caught."""

from __future__ import annotations

import gzip
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.test_audit import write_audited

from tapelog.audit import AuditKey, _chain, _verify, verify


_BLOCK = _verify._BLOCK


_EXAMPLES = int(os.environ.get("TAMPER_EXAMPLES", "60"))
# Positions are drawn as large numbers and reduced modulo the real sizes: the files differ a
# little from run to run (timestamps, process ids), and the draws must not depend on them.
_ANY = st.integers(0, 2**32)


def _files(directory: Path) -> list[Path]:
    return sorted(
        path
        for path in directory.iterdir()
        if path.name.startswith("trades") and not path.name.endswith((".lock", ".checkpoints"))
    )


def _load(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _store(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _tamper(data: bytes, kind: str, a: int, b: int, junk: bytes) -> bytes:
    """One tampering of ``data`` at positions derived from ``a`` and ``b``."""
    lines = data.splitlines(keepends=True)
    if kind == "edit":
        at = a % len(data)
        new = (data[at] + 1 + b % 255) % 256  # never the byte that was there
        return data[:at] + bytes([new]) + data[at + 1 :]
    if kind == "truncate":
        return data[: a % len(data)]
    if kind == "delete":
        del lines[a % len(lines)]
    elif kind == "insert":
        inserted = lines[b % len(lines)] if not junk else junk.replace(b"\n", b" ") + b"\n"
        lines.insert(a % (len(lines) + 1), inserted)
    else:  # swap two different lines
        first = a % len(lines)
        second = (first + 1 + b % max(1, len(lines) - 1)) % len(lines)
        lines[first], lines[second] = lines[second], lines[first]
    return b"".join(lines)


@settings(max_examples=_EXAMPLES)
@given(
    rotated=st.booleans(),
    kind=st.sampled_from(["edit", "delete", "insert", "swap", "truncate"]),
    which=_ANY,
    a=_ANY,
    b=_ANY,
    junk=st.one_of(st.just(b""), st.binary(min_size=1, max_size=40)),
    # A hash a line, runs inside a batch, and batches of more than one run.
    per_batch=st.sampled_from([1, 4, _chain.RUN + 5]),
)
def test_any_single_tampering_is_caught(  # noqa: PLR0917 - hypothesis's arguments
    rotated: bool, kind: str, which: int, a: int, b: int, junk: bytes, per_batch: int
) -> None:
    _chain._writers.clear()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_audited(
            directory,
            batches=5,
            per_batch=per_batch,
            rotation=2500 if rotated else None,
            compression="gzip" if rotated else None,
        )
        assert verify([directory]).ok  # untouched: always passes
        files = _files(directory)
        victim = files[which % len(files)]
        original = _load(victim)
        changed = _tamper(original, kind, a, b, junk)
        if changed == original:  # a swap of one line with itself: nothing to catch
            return
        _store(victim, changed)
        report = verify([directory])
        assert not report.ok, (kind, victim.name)


def _reports(directory: Path, keys: list[AuditKey]) -> dict[int, list[dict[str, object]]]:
    """Each block size's report: one block (every line checked one by one) and small ones
    (most lines checked in bulk, a few lines per block)."""
    reports: dict[int, list[dict[str, object]]] = {}
    try:
        for block in (1 << 22, 600, 1500):
            _verify._BLOCK = block
            reports[block] = [
                problem.as_dict() for problem in verify([directory], keys=keys).problems
            ]
    finally:
        _verify._BLOCK = _BLOCK
    return reports


@settings(max_examples=_EXAMPLES)
@given(
    keyed=st.booleans(),
    per_batch=st.sampled_from([1, 10, _chain.RUN + 5]),
    kind=st.sampled_from(["edit", "delete", "insert", "swap", "truncate"]),
    a=_ANY,
    b=_ANY,
    junk=st.one_of(st.just(b""), st.binary(min_size=1, max_size=40)),
)
def test_the_bulk_check_finds_what_the_line_by_line_check_finds(  # noqa: PLR0917
    keyed: bool, per_batch: int, kind: str, a: int, b: int, junk: bytes
) -> None:
    """Small blocks (lines checked in bulk) and one block (one by one) give one report."""
    _chain._writers.clear()
    key = AuditKey(b"bulk-key") if keyed else None
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        write_audited(directory, batches=6, per_batch=per_batch, key=key, checkpoint=(25, 60.0))
        keys = [key] if key else []
        intact = _reports(directory, keys)
        assert intact == {block: [] for block in intact}
        (victim,) = _files(directory)
        original = victim.read_bytes()
        changed = _tamper(original, kind, a, b, junk)
        if changed == original:
            return
        victim.write_bytes(changed)
        reports = _reports(directory, keys)
        first, *others = reports.values()
        assert first
        assert all(other == first for other in others), reports
