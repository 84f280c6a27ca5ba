"""The audit format does not move: files sealed by an earlier tapelog still verify, and
today's writer, a hash a line, seals the same entries into the same bytes.

``data/audit_sha256.jsonl`` and ``data/audit_hmac.jsonl`` (key ``fixture-key``) were
written by the file sink before sealing was rewritten for speed (per-line rendering,
precomputed HMAC states, then one hash a run of lines); they hold a trade entry, a line with non-ASCII text and a line
separator, and the chain's opening and closing records.
"""

from __future__ import annotations

import hmac
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tapelog.audit import AuditKey, _verify, verify
from tapelog.audit._chain import AuditWriter, hmac_sha256


DATA = Path(__file__).parent / "data"
KEY = AuditKey(b"fixture-key")


@pytest.mark.parametrize("name", ["audit_sha256.jsonl", "audit_hmac.jsonl"])
def test_files_sealed_by_the_earlier_writer_verify(name: str) -> None:
    report = verify([DATA / name], keys=[KEY])
    assert report.ok, [str(problem) for problem in report.problems]
    assert report.entries == 6
    assert report.chains == 1


@pytest.mark.parametrize(("name", "key"), [("audit_sha256.jsonl", None), ("audit_hmac.jsonl", KEY)])
def test_todays_writer_seals_the_same_entries_into_the_same_bytes(
    name: str, key: AuditKey | None, tmp_path: Path
) -> None:
    lines = (DATA / name).read_bytes().splitlines(keepends=True)
    records: list[dict[str, Any]] = [orjson.loads(line) for line in lines]
    # Written a hash a line (runs of one line), as the earlier writer did.
    writer = AuditWriter(tmp_path / name, key, writer=records[0]["audit"]["writer"], run=1)
    # The fixture's own opening record is among the entries.
    writer._opened = True  # pyright: ignore[reportPrivateUsage]
    entries = [{k: v for k, v in record.items() if k != "audit"} for record in records]
    sealed = writer.seal(entries)
    assert bytes(sealed) == b"".join(lines)


@settings(max_examples=300, deadline=None)
@given(key=st.binary(min_size=1, max_size=200), data=st.binary(max_size=2000))
def test_the_precomputed_hmac_equals_the_standard_one(key: bytes, data: bytes) -> None:
    expected = hmac.new(key, data, "sha256").hexdigest().encode()
    assert hmac_sha256(key)(data) == expected


@pytest.mark.parametrize("name", ["audit_sha256.jsonl", "audit_hmac.jsonl"])
def test_verify_finds_the_same_whatever_the_block_size(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines cut by a block boundary are joined: tiny blocks give the same report."""
    data = (DATA / name).read_bytes()
    copies = {
        "intact": data,
        "edited": data.replace(b"order C-1 placed", b"order C-2 placed", 1),
        "deleted": b"".join(
            data.splitlines(keepends=True)[:2] + data.splitlines(keepends=True)[3:]
        ),
        "torn": data[:-40],
    }
    reports: dict[int, list[tuple[str, int, list[dict[str, object]]]]] = {}
    for block in (1 << 18, 7, 64):
        monkeypatch.setattr(_verify, "_BLOCK", block)
        found: list[tuple[str, int, list[dict[str, object]]]] = []
        for kind, content in copies.items():
            path = tmp_path / kind / name
            path.parent.mkdir(exist_ok=True)
            path.write_bytes(content)
            report = verify([path], keys=[KEY])
            found.append((kind, report.entries, [problem.as_dict() for problem in report.problems]))
        reports[block] = found
    assert reports[7] == reports[1 << 18] == reports[64]
    assert [len(problems) > 0 for _, _, problems in reports[7]] == [False, True, True, True]
