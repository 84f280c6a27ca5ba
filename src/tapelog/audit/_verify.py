"""The reading side of the audit chain: ``verify`` and the problems it names.

For every run of lines (the lines in turn that carry one ``hash`` and one ``prev``: one
line in files written before runs) the hash is recomputed from the bytes read (the first
line up to ``,"hash":"``, each other line up to ``,"prev":"``, joined by newlines; what
follows ``prev`` on each line must be its run's), so no JSON is re-serialised and most
lines are not even parsed. Lines are then grouped by ``writer`` (one chain per writing process)
and walked in ``seq`` order across every file given, whatever their names or compression:

* ``edited``: a run's bytes do not give its hash (the problem names the run's first
  line and its last), or a line's seal is damaged, or a run's ``prev`` is not the hash
  of the run before it;
* ``inserted``: a line without a seal in an audited file, a second copy of a line, a chain
  that does not start with its opening record;
* ``deleted``: numbers missing from a chain;
* ``reordered``: a chain's lines out of order;
* ``truncated``: a torn last line, a file that ends inside a run (its last run does not
  give its hash: lines after it are gone, or one of its lines was changed), a chain that
  stops without its closing record, a rotated file shorter than when it was rotated, a
  checkpoint the chain does not reach;
* ``file missing``: a file named by a later file (``audit.rotated``) is not there, and no
  sealed ``audit.retention`` record says retention removed it;
* ``unsealed``: a file without any sealed line where one is expected;
* ``wrong key``: a keyed line whose key was not given, or does not match.
"""

from __future__ import annotations

import gc
import hashlib
import operator
import re
from binascii import hexlify
from dataclasses import asdict, dataclass, field
from itertools import groupby, repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast, final

import orjson

from tapelog.audit._chain import AUDIT_LOGGER, GENESIS, AuditKey, hmac_sha256
from tapelog.retention._reader import compression_of, open_decompressed


if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence


__all__ = ["KINDS", "Problem", "Report", "verify"]

KINDS: Final = (
    "edited",
    "inserted",
    "deleted",
    "reordered",
    "truncated",
    "file missing",
    "unsealed",
    "wrong key",
)
_HASH_MARK: Final = b',"hash":"'
_AUDIT_MARK: Final = b',"audit":{'
_TAIL: Final = re.compile(
    rb',"alg":"(sha256|hmac-sha256)"(?:,"key_id":"([A-Za-z0-9._-]*)")?,"writer":"([A-Za-z0-9._-]+)"'
)
_SPAN: Final = re.compile(
    r"\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ--\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ(\.\d+)?(?=\.)"
)
_SKIPPED_SUFFIXES: Final = (".lock", ".checkpoints", ".tmp")
_MAX_PROBLEMS: Final = 1000


@final
@dataclass(frozen=True, slots=True)
class Problem:
    """One break: its kind (one of :data:`KINDS`), where, and what was found."""

    kind: str
    file: str
    line: int | None
    detail: str
    writer: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The problem as a JSON-ready dict (its fields, in order)."""
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.kind}: {self.detail}"


@final
@dataclass(slots=True)
class Report:
    """What ``verify`` found: ``ok`` when every chain holds."""

    files: list[str] = field(default_factory=list[str])
    entries: int = 0
    chains: int = 0
    problems: list[Problem] = field(default_factory=list[Problem])
    skipped: list[str] = field(default_factory=list[str])
    retained: list[str] = field(default_factory=list[str])

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems

    def as_dict(self) -> dict[str, object]:
        """The report as a JSON-ready dict."""
        report = asdict(self)
        report["removed_by_retention"] = report.pop("retained")
        return {"ok": self.ok, **report}


def family(name: str) -> str:
    """The name of the live file a file belongs to: span and compression removed."""
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    return _SPAN.sub("", name)


def plain_name(name: str) -> str:
    """A file's name without its compression suffix."""
    for suffix in (".gz", ".zst"):
        name = name.removesuffix(suffix)
    return name


def read_bytes(path: Path) -> bytes:
    """A file's content, decompressed (gzip and zstd are told by their first bytes).

    Raises:
        OSError: it cannot be read.
        EOFError: it is compressed and cannot be decompressed (cut or damaged).
        ModuleNotFoundError: a zstd file without the zstandard package.
    """
    compression = compression_of(path)
    with path.open("rb") as raw:
        if compression == "none":
            return raw.read()
        stream = open_decompressed(raw, compression)
        try:
            return stream.read()
        except ModuleNotFoundError:
            raise
        except Exception as exc:  # gzip, zlib and zstandard each raise their own
            raise EOFError(f"corrupt {compression} data: {exc}") from exc


def expand(paths: Iterable[str | Path]) -> tuple[list[Path], set[Path]]:
    """Files to verify: those named, and every file under the directories named.

    Returns:
        The files, and which of them were named explicitly.

    Raises:
        FileNotFoundError: a path does not exist.
    """
    files: list[Path] = []
    named: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(
                child
                for child in sorted(path.rglob("*"))
                if child.is_file()
                and not child.name.endswith(_SKIPPED_SUFFIXES)
                and child.name != "manifest.jsonl"
            )
        elif path.is_file():
            files.append(path)
            named.add(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {raw}")
    unique = list(dict.fromkeys(files))
    return unique, named


# One sealed line: (seq, file index, line number, prev, hash, parsed record or None).
# Tuples, not objects: verify handles hundreds of thousands of them a second.
_Item = tuple[int, int, int, bytes, bytes, "dict[str, Any] | None"]
_SEQ: Final = b',"audit":{"seq":'
_GENESIS: Final = GENESIS.encode()


_PREV: Final = b',"prev":"'
_AUDIT_LOGGER: Final = b',"logger":"' + AUDIT_LOGGER.encode() + b'"'
_BLOCK: Final = 1 << 16


def _no_key(data: bytes) -> bytes:  # pragma: no cover - a marker, never called
    return data


_NO_KEY: Final = _no_key
"""The HMAC of a writer whose key was not given: its lines are taken at their word."""
# A writer's name and how its lines are hashed: None for SHA-256, else its HMAC.
_Tail = tuple[str, "Callable[[bytes], bytes] | None"]

_first: Callable[[_Item], int] = operator.itemgetter(0)
# A run that does not give its hash at a file's start or end (``_Verifier._check_run``):
# (first seq, file index, first line, last line, hashed parts, seqs, at the file's end,
# HMAC, its first line up to prev: what that line gives when the piece goes on a run).
_Piece = tuple[
    int, int, int, int, list[bytes], list[int], bool, "Callable[[bytes], bytes] | None", bytes
]
# A slicer of a line's seal (from ',"audit":{"seq":' on), and what makes the seal a
# writer writes for ``(seq, prev, hash)``.
_SealForm = tuple["Callable[[bytes], bytes]", "Callable[[tuple[int, bytes, bytes]], bytes]"]
_prev_of: Callable[[_Item], bytes] = operator.itemgetter(3)
_hash_of: Callable[[_Item], bytes] = operator.itemgetter(4)


def _intact(ordered: list[_Item]) -> bool:
    """Whether a chain's lines are seq 1, 2, 3 ... in turn, each prev the hash before it.

    A line whose hash is the hash before it is one more line of the same run.
    """
    if list(map(_first, ordered)) != list(range(1, len(ordered) + 1)):
        return False
    before = [_GENESIS, *map(_hash_of, ordered[:-1])]
    prevs = list(map(_prev_of, ordered))
    return prevs == before or all(
        hash_before in (prev, digest)
        for prev, digest, hash_before in zip(prevs, map(_hash_of, ordered), before, strict=True)
    )


# The bulk check (``_Verifier._bulk``) finds a seal's parts at fixed distances from the
# line's end: ``"}}`` (3), the hash (64 digits), ``,"hash":"`` (9, ending the hashed part).
_CLAIMED: Final = operator.itemgetter(slice(-67, -3))
_HEAD: Final = operator.itemgetter(slice(None, -76))  # the line up to ',"hash":"'
_LOGGER_AT: Final = operator.itemgetter(slice(57, 82))
_DIGEST: Final = type(hashlib.sha256()).digest


def _chunks(path: Path) -> Iterator[bytes]:
    """A plain file's bytes, ``_BLOCK`` at a time."""
    with path.open("rb") as raw:
        while chunk := raw.read(_BLOCK):
            yield chunk


def _slices(data: bytes) -> Iterator[bytes]:
    """Bytes already in memory (a decompressed archive), ``_BLOCK`` at a time."""
    for start in range(0, len(data), _BLOCK):
        yield data[start : start + _BLOCK]


def _head(path: Path) -> bytes:
    """Enough of a plain file to tell whether it is sealed: its first block, else all."""
    with path.open("rb") as raw:
        head = raw.read(_BLOCK)
        return head if _sealed(head) else head + raw.read()


def _sealed(data: bytes) -> bool:
    """Whether ``data`` holds any seal at all."""
    return _HASH_MARK in data and b'"audit":{' in data


def _record_of(line: bytes) -> dict[str, Any] | None:
    """A line of the chain's own (logger ``tapelog.audit``), parsed; else None."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict):
        fields = cast("dict[str, Any]", value)
        if fields.get("logger") == AUDIT_LOGGER:
            return fields
    return None


def _event(item: _Item) -> str | None:
    record = item[5]
    return None if record is None else str(record.get("event"))


@final
class _Run:
    """The run being read: lines in turn with one ``hash`` and one ``prev``, one writer."""

    __slots__ = ("claimed", "first", "heads", "last", "opens", "prev", "seqs", "short", "tail")

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.seqs: list[int] = []
        self.claimed = b""
        self.prev = b""
        self.tail: _Tail | None = None
        self.first = 0
        self.last = 0
        self.opens = True  # the file's first run (it may have begun in the file before)
        self.short = b""  # its first line up to prev (``heads`` has it up to the hash)

    def start(
        self,
        head: bytes,
        seq: int,
        number: int,
        *,
        claimed: bytes,
        prev: bytes,
        tail: _Tail,
        opens: bool,
        short: bytes,
    ) -> None:
        self.opens = opens
        self.short = short
        self.heads = [head]
        self.seqs = [seq]
        self.first = self.last = number
        self.claimed = claimed
        self.prev = prev
        self.tail = tail

    def clear(self) -> None:
        self.heads = []
        self.seqs = []
        self.claimed = b""
        self.tail = None


@final
class _Verifier:
    def __init__(self, keys: Sequence[AuditKey], checkpoints: Sequence[dict[str, Any]]) -> None:
        self.keys = {key.key_id: key.key for key in keys}
        self.macs: dict[bytes, Callable[[bytes], bytes]] = {}
        self.report = Report()
        self.names: list[str] = []
        self.sizes: list[int] = []
        self.chains: dict[str, list[_Item]] = {}
        self.records: list[_Item] = []  # the chain's own records, from every writer
        self.wrong_key_reported: set[str] = set()
        self.checkpoints = checkpoints
        self.live = False
        self.unordered: set[str] = set()  # writers whose lines were not read in turn
        self.forms: dict[tuple[bytes, int], _SealForm] = {}
        # Writers whose file ended inside a run: the seq it ended at (named truncated).
        self.cut: dict[str, int] = {}
        # Runs that do not give their hash at a file's start or end: a run the file sink
        # cut in two when it rotated by size. Joined by (writer, hash, prev) once every
        # file is read.
        self.pieces: dict[tuple[str, bytes, bytes], list[_Piece]] = {}

    def problem(
        self, kind: str, file: int | str, line: int | None, detail: str, writer: str | None = None
    ) -> None:
        if len(self.report.problems) >= _MAX_PROBLEMS:
            return
        name = self.names[file] if isinstance(file, int) else file
        self.report.problems.append(Problem(kind, name, line, detail, writer))

    def _tail(self, tail: bytes, index: int, number: int) -> _Tail | None:
        """Read ``,"alg":...,"writer":"..."``: the writer, and its HMAC (None: plain)."""
        match = _TAIL.fullmatch(tail)
        if match is None:
            return None
        alg, key_id, writer_bytes = match.groups()
        writer = writer_bytes.decode()
        if alg == b"sha256":
            return writer, None
        key = self.keys.get(key_id.decode()) if key_id is not None else None
        if key is None:
            if writer not in self.wrong_key_reported:
                self.wrong_key_reported.add(writer)
                shown = key_id.decode() if key_id is not None else "none"
                self.problem(
                    "wrong key",
                    index,
                    number,
                    f"sealed with key_id {shown}, and no such key was given",
                    writer,
                )
            return writer, _NO_KEY  # the hash cannot be checked
        mac = self.macs.get(key)
        if mac is None:
            mac = self.macs[key] = hmac_sha256(key)
        return writer, mac

    def read(self, path: Path, chunks: Iterable[bytes], *, named: bool) -> None:
        index = len(self.names)
        self.names.append(str(path))
        self.sizes.append(-1)
        unsealed: list[tuple[int, bytes]] = []
        chains = self.chains
        records = self.records
        audit_event = b'"event":"audit.'
        # The tail of the seal is the same on every line of one writer: parse it once.
        # ``known`` is that tail with the hash mark after it: one comparison a line.
        known = b""
        parsed_tail: _Tail | None = None
        chain: list[_Item] = []
        # The run being read: the lines in turn with one hash and one prev (one writer).
        run = _Run()
        sealed = 0
        skip = 76  # from the end of ``known`` back to the comma before ``"prev"``
        number = 0
        size = 0
        rest = b""
        for chunk in chunks:
            size += len(chunk)
            lines = (rest + chunk if rest else chunk).split(b"\n")
            rest = lines.pop()  # a line not ended yet: joined to the next chunk
            if (
                parsed_tail is not None
                and sealed
                and self._bulk(lines, index, number, known, parsed_tail, run)
            ):
                number += len(lines)
                sealed += len(lines)
                continue
            for line in lines:
                number += 1
                mark = len(line) - 76  # ',"hash":"' starts here: 64 digits and '"}}' follow
                comma = mark - skip  # where ',"prev":"' starts if the tail is as before
                # Slices compared, not startswith(x, offset): measured three times cheaper.
                if not (
                    comma > 0
                    and line[comma + 73 : mark + 9] == known
                    and line[-3:] == b'"}}'
                    and line[comma : comma + 9] == _PREV
                ):
                    # A new writer (or a damaged line): find the seal's parts the long way.
                    found = self._seal_of(line, index, number)
                    if found is None:
                        unsealed.append((number, line))
                        continue
                    comma, known, parsed_tail = found
                    skip = len(known) + 64
                    if parsed_tail is None:
                        unsealed.append((number, line))
                        known = b""
                        continue
                    chain = chains.setdefault(parsed_tail[0], [])
                elif parsed_tail is None:  # no writer yet (``known`` is empty)
                    unsealed.append((number, line))
                    continue
                colon = line.rfind(b":", max(comma - 24, 0), comma)
                try:
                    seq = int(line[colon + 1 : comma])
                except ValueError:
                    seq = -1
                if seq < 0 or line[colon - 15 : colon + 1] != _SEQ:
                    unsealed.append((number, line))
                    continue
                claimed = line[mark + 9 : mark + 73]
                prev = line[comma + 9 : comma + 73]
                if claimed == run.claimed and prev == run.prev and parsed_tail == run.tail:
                    # One more line of the run: in the chain, it follows the line before.
                    # Hashed up to its prev (the rest is the run's, checked equal above).
                    run.heads.append(line[:comma])
                    run.seqs.append(seq)
                    run.last = number
                    link = claimed
                else:
                    self._check_run(run, index)
                    run.start(
                        line[:mark],
                        seq,
                        number,
                        claimed=claimed,
                        prev=prev,
                        tail=parsed_tail,
                        opens=sealed == 0,
                        short=line[:comma],
                    )
                    # The rest of a run the sink split when it rotated follows the line
                    # before it, in the file before (the run is checked whole later).
                    link = (
                        claimed
                        if sealed == 0
                        and chain
                        and chain[-1][4] == claimed
                        and chain[-1][0] == seq - 1
                        else prev
                    )
                sealed += 1
                record = None
                # The chain's own records: logger tapelog.audit, right after the timestamp
                # and level ``info`` it writes them with.
                if line[57:82] == _AUDIT_LOGGER and audit_event in line[:mark]:
                    record = _record_of(line)
                item: _Item = (seq, index, number, link, claimed, record)
                # Whether the chain still reads in order, each line after the one before
                # (then the chain check has nothing to walk).
                if item[3] != (chain[-1][4] if chain else _GENESIS) or seq != len(chain) + 1:
                    self.unordered.add(parsed_tail[0])
                chain.append(item)
                if record is not None:
                    records.append(item)
        self._check_run(run, index, end=True)
        self.report.entries += sealed
        self.sizes[index] = size
        if rest:
            self.problem("truncated", index, number + 1, "the last line is cut (no newline)")
        if sealed == 0:
            if named or unsealed:
                self.problem("unsealed", index, None, "no line of this file is sealed")
            return
        for number, line in unsealed:
            if b'"hash"' in line or b'"audit"' in line:
                self.problem("edited", index, number, "the line's seal is damaged")
            else:
                self.problem("inserted", index, number, "a line without a seal")

    def _bulk(  # noqa: PLR0917 - the read loop's state
        self, lines: list[bytes], index: int, number: int, known: bytes, tail: _Tail, run: _Run
    ) -> bool:
        """Check a block of lines that all follow the writer's last line, in C loops.

        True when each line is one more sealed line of the writer, in turn: the writer's
        tail, seq one more than the line before, prev the hash of the run before, every
        run that ends in the block (and the run being read, if it ends) giving its hash,
        not one of the chain's own records. Then the items are added, and the block's last
        run (it may go on in the next block) is left to read on, exactly as the line by
        line loop would. False (nothing changed) for anything else: that loop then reads
        the block and names what is wrong.
        """
        chain = self.chains[tail[0]]
        if not chain or not lines or (run.heads and run.tail != tail):
            return False
        count = len(lines)
        first = chain[-1][0] + 1
        seqs = range(first, first + count)
        digits = len(str(first))
        if len(str(first + count - 1)) != digits or _AUDIT_LOGGER in list(
            map(_LOGGER_AT, lines)  # the chain's own records: parsed, line by line
        ):
            return False
        claimed = list(map(_CLAIMED, lines))
        runs = [(digest, len(list(group))) for digest, group in groupby(claimed)]
        # The block's first lines may go on with the run being read (the writer's last).
        going_on = bool(run.heads) and runs[0][0] == run.claimed == chain[-1][4]
        prev = run.prev if going_on else chain[-1][4]
        prevs: list[bytes] = []
        links: list[bytes] = []
        for position, (digest, size) in enumerate(runs):
            prevs += repeat(prev, size)
            starts = position > 0 or not going_on  # a run starts here: it follows prev
            if starts:
                links.append(prev)
            links += repeat(digest, size - starts)
            prev = digest
        seal_at, seal_of = self._seal_form(known, digits)
        # Each line's seal, from ',"audit":{"seq":' to its end, is what the writer would
        # write for that seq in that run: one slice and one format a line.
        if list(map(seal_at, lines)) != list(map(seal_of, zip(seqs, prevs, claimed, strict=True))):
            return False
        # Hashed: a run's first line up to its hash, each other line up to its prev.
        shorts = list(map(operator.itemgetter(slice(None, -len(known) - 140)), lines))
        ended: list[tuple[list[bytes], bytes]] = []  # (parts, claimed) of each run that ends
        if run.heads and not going_on:
            ended.append((run.heads, run.claimed))
        start = 0
        for position, (digest, size) in enumerate(runs[:-1]):
            if position == 0 and going_on:
                ended.append((run.heads + shorts[:size], digest))
            else:
                ended.append(([_HEAD(lines[start]), *shorts[start + 1 : start + size]], digest))
            start += size
        keyed = tail[1]
        if keyed is not _NO_KEY:
            for part, digest in ended:
                data = b"\n".join(part)
                found = hexlify(hashlib.sha256(data).digest()) if keyed is None else keyed(data)
                if found != digest:
                    return False
        numbers = range(number + 1, number + count + 1)
        chain.extend(zip(seqs, repeat(index), numbers, links, claimed, repeat(None)))
        if len(runs) == 1 and going_on:
            run.heads += shorts
            run.seqs += seqs
        else:
            run.start(
                _HEAD(lines[start]),
                seqs[start],
                number + start + 1,
                claimed=runs[-1][0],
                prev=prevs[start],
                tail=tail,
                opens=False,
                short=shorts[start],
            )
            run.heads += shorts[start + 1 :]
            run.seqs = list(seqs[start:])
        run.last = number + count
        return True

    def _check_run(self, run: _Run, index: int, *, end: bool = False) -> None:
        """Whether the run just read gives its hash; then the next run starts empty.

        A run whose lines are not numbered in turn (a line missing, repeated or moved)
        is left to the chain check, which names that. A run at a file's start or end that
        does not give its hash may be a run the sink split when it rotated: it waits for
        the other files (``_check_pieces``).
        """
        heads, tail, claimed = run.heads, run.tail, run.claimed
        if not heads or tail is None:
            return
        seqs, first, last, opens, prev = run.seqs, run.first, run.last, run.opens, run.prev
        short = run.short
        run.clear()
        keyed = tail[1]
        if keyed is _NO_KEY:  # reported once per writer: take the run's word
            return
        data = heads[0] if len(heads) == 1 else b"\n".join(heads)
        digest = hexlify(hashlib.sha256(data).digest()) if keyed is None else keyed(data)
        if digest == claimed or seqs != list(range(seqs[0], seqs[0] + len(seqs))):
            return
        if end or opens:
            piece: _Piece = (seqs[0], index, first, last, heads, seqs, end, keyed, short)
            self.pieces.setdefault((tail[0], claimed, prev), []).append(piece)
            return
        self._run_problem(tail[0], index, first, last, len(seqs), end=False)

    def _borders_gap(self, writer: str, first: int, last: int) -> bool:
        """Whether the chain lacks the line before ``first`` or, going on, after ``last``."""
        present = {item[0] for item in self.chains.get(writer, [])}
        return (first > 1 and first - 1 not in present) or (
            last + 1 not in present and max(present, default=0) > last
        )

    def _run_problem(
        self, writer: str, index: int, first: int, last: int, count: int, *, end: bool
    ) -> None:
        if end:
            self.problem(
                "truncated",
                index,
                first,
                f"the file ends inside a sealed run: lines {first} to {last} do not give "
                "its hash (lines after them are gone, or one of them was changed)",
                writer,
            )
        elif count == 1:
            self.problem("edited", index, first, "the line does not give its hash", writer)
        else:
            self.problem(
                "edited",
                index,
                first,
                f"lines {first} to {last} (one sealed run) do not give their hash",
                writer,
            )

    def _check_pieces(self, *, gone: bool) -> None:
        """Runs found in pieces at files' ends and starts: joined in seq order, checked.

        When files are gone (missing, or removed by retention), a run whose lines border
        a gap in the chain may have lost its other piece with them: not named again.
        """
        for (writer, claimed, _), pieces in self.pieces.items():
            pieces.sort(key=operator.itemgetter(0))
            seqs = [seq for piece in pieces for seq in piece[5]]
            keyed = pieces[0][7]
            # The first piece as hashed; each other goes on the run: its first line up to
            # its prev, as the run's later lines are hashed.
            parts = list(pieces[0][4])
            for piece in pieces[1:]:
                parts += (piece[8], *piece[4][1:])
            data = b"\n".join(parts)
            if len(pieces) > 1 and seqs == list(range(seqs[0], seqs[0] + len(seqs))):
                digest = hexlify(hashlib.sha256(data).digest()) if keyed is None else keyed(data)
                if digest == claimed:
                    continue
            if gone and self._borders_gap(writer, seqs[0], seqs[-1]):
                continue
            _, index, first, last, heads, seqs, end, _, _ = (
                pieces[-1] if pieces[-1][6] else pieces[0]
            )
            if end:
                self.cut[writer] = seqs[-1]
            self._run_problem(writer, index, first, last, len(heads), end=end)

    def _seal_form(self, known: bytes, digits: int) -> _SealForm:
        """The seal's slicer and maker for a writer's tail and a number of seq digits."""
        found = self.forms.get((known, digits))
        if found is None:
            size = len(_SEQ) + digits + len(_PREV) + 64 + len(known) + 64 + 3
            form = _SEQ + b'%d,"prev":"%b' + known.replace(b"%", b"%%") + b'%b"}}'
            found = self.forms[known, digits] = (
                operator.itemgetter(slice(-size, None)),
                form.__mod__,
            )
        return found

    def _seal_of(
        self, line: bytes, index: int, number: int
    ) -> tuple[int, bytes, _Tail | None] | None:
        """Where a line's seal is, the long way: ``(comma before "prev", known, tail)``."""
        mark = len(line) - 76
        if mark < 0 or not line.startswith(_HASH_MARK, mark) or not line.endswith(b'"}}'):
            return None
        start = line.rfind(_SEQ, 0, mark)
        comma = line.find(b",", start + 16, mark) if start >= 0 else -1
        if (
            comma < 0
            or mark < comma + 74
            or not line.startswith(_PREV, comma)
            or line[comma + 73] != 34  # noqa: PLR2004 - the closing quote
        ):
            return None
        tail = line[comma + 73 : mark]
        return comma, tail + _HASH_MARK, self._tail(tail[1:], index, number)

    # -- the chains -----------------------------------------------------------------------

    def check(self) -> None:
        present = {plain_name(Path(name).name): i for i, name in enumerate(self.names)}
        retained: set[str] = set()
        for item in self.records:
            if _event(item) == "audit.retention":
                removed = (item[5] or {}).get("chain", {}).get("removed", [])
                retained.update(plain_name(str(name)) for name in removed)
        self.report.retained = sorted(retained)
        missing_named = self._check_rotations(present, retained)
        self._check_pieces(gone=bool(missing_named or retained))
        for writer, chain in self.chains.items():
            if chain:
                self._check_chain(writer, chain, missing_named, retained)
        self._check_checkpoints()
        self.report.chains = sum(1 for chain in self.chains.values() if chain)

    def _check_rotations(self, present: dict[str, int], retained: set[str]) -> set[str]:
        missing: set[str] = set()
        for item in self.records:
            if _event(item) != "audit.rotated":
                continue
            info = (item[5] or {}).get("chain", {})
            previous = str(info.get("previous", ""))
            size = info.get("previous_size")
            found = present.get(previous)
            if found is None:
                if previous not in retained:
                    missing.add(previous)
                    self.problem(
                        "file missing",
                        item[1],
                        item[2],
                        f"{previous}, which came before this file, is not there",
                    )
            elif isinstance(size, int) and self.sizes[found] != size:
                actual = self.sizes[found]
                kind = "truncated" if actual < size else "inserted"
                self.problem(
                    kind,
                    found,
                    None,
                    f"{actual} bytes, but {size} when it was rotated (named by "
                    f"{Path(self.names[item[1]]).name}:{item[2]})",
                )
        return missing

    def _ordered(self, chain: list[_Item]) -> list[_Item]:
        """The writer's lines, files in the order it went through them (by first seq)."""
        segments: list[tuple[int, int, int]] = []  # (first seq, start, end)
        begin = 0
        for position in range(1, len(chain) + 1):
            if position == len(chain) or chain[position][1] != chain[begin][1]:
                first = min(item[0] for item in chain[begin:position])
                segments.append((first, begin, position))
                begin = position
        if len(segments) == 1:
            return chain
        segments.sort()
        ordered: list[_Item] = []
        for _, begin, end in segments:
            ordered.extend(chain[begin:end])
        return ordered

    def _check_chain(
        self, writer: str, chain: list[_Item], missing: set[str], retained: set[str]
    ) -> None:
        if writer not in self.unordered:  # read in order, each line after the one before
            self._check_ends(writer, chain)
            return
        ordered = self._ordered(chain)
        if _intact(ordered):  # in order once its files are: only the ends remain
            self._check_ends(writer, ordered)
            return
        everywhere: set[int] | None = None  # built on the first gap only
        # The seqs walked so far: built at the first line that does not simply follow
        # (until then they are exactly the seqs of ordered[:position]).
        done: set[int] | None = None
        last_seq, last_hash, last_file = 0, _GENESIS, -1
        reordered_reported = False
        for position, item in enumerate(ordered):
            seq, file, lineno, prev, digest, record = item
            if seq == last_seq + 1:
                if last_hash not in (prev, digest):  # nor the same run as the line before
                    self.problem(
                        "edited",
                        file,
                        lineno,
                        f"seq {seq} does not follow the line before it (prev differs)",
                        writer,
                    )
                if seq == 1 and (record is None or record.get("event") != "audit.opened"):
                    self.problem(
                        "inserted", file, lineno, "a chain without its opening record", writer
                    )
                if done is not None:
                    done.add(seq)
                last_seq, last_hash, last_file = seq, digest, file
                continue
            if done is None:
                done = {other[0] for other in ordered[:position]}
            if seq <= last_seq:
                if seq in done:
                    self.problem("inserted", file, lineno, f"a second line with seq {seq}", writer)
                    continue
                if not reordered_reported:
                    self.problem(
                        "reordered", file, lineno, f"seq {seq} after seq {last_seq}", writer
                    )
                    reordered_reported = True
                done.add(seq)
                continue
            expected = last_seq + 1
            if everywhere is None:
                everywhere = {other[0] for other in chain}
            if expected in everywhere and expected not in done:
                if not reordered_reported:
                    self.problem(
                        "reordered", file, lineno, f"seq {seq} comes before seq {expected}", writer
                    )
                    reordered_reported = True
            elif last_seq == 0:
                if not retained:
                    self.problem(
                        "deleted",
                        file,
                        lineno,
                        f"the chain starts at seq {seq}: lines 1..{seq - 1} are gone",
                        writer,
                    )
            elif not (last_file not in {file, -1} and missing):
                self.problem(
                    "deleted",
                    file,
                    lineno,
                    f"{seq - expected} line(s) missing before seq {seq} (from seq {expected})",
                    writer,
                )
            done.add(seq)
            last_seq, last_hash, last_file = seq, digest, file
        self._check_ends(writer, ordered, opening=False)

    def _check_ends(self, writer: str, ordered: list[_Item], *, opening: bool = True) -> None:
        """A chain that starts with its opening record (if asked) and ends with its closing."""
        first = ordered[0]
        if opening and first[0] == 1 and _event(first) != "audit.opened":
            self.problem(
                "inserted", first[1], first[2], "a chain without its opening record", writer
            )
        top = ordered[-1] if writer not in self.unordered else max(ordered, key=_first)
        if self.cut.get(writer) == top[0]:
            return  # the chain's last run was cut: named once, as truncated, already
        if _event(top) != "audit.closed" and not self.live:
            self.problem(
                "truncated",
                top[1],
                top[2] + 1,
                f"the chain stops at seq {top[0]} without its closing record "
                "(use --live for files still being written)",
                writer,
            )

    def _check_checkpoints(self) -> None:
        for checkpoint in self.checkpoints:
            writer = str(checkpoint.get("writer", ""))
            seq = checkpoint.get("seq")
            digest = str(checkpoint.get("hash", "")).encode()
            chain = self.chains.get(writer)
            where = str(checkpoint.get("file", "?"))
            if not chain or not isinstance(seq, int):
                self.problem(
                    "truncated",
                    where,
                    None,
                    f"checkpoint of {writer} at seq {seq}: no line of that chain was found",
                    writer,
                )
                continue
            if writer not in self.unordered:  # read in order: seq N is the Nth line
                found = chain[seq - 1] if 0 < seq <= len(chain) else None
            else:
                found = next((item for item in chain if item[0] == seq), None)
            if found is None:
                top = max(item[0] for item in chain)
                self.problem(
                    "truncated",
                    where,
                    None,
                    f"a checkpoint says seq {seq}, the chain ends at seq {top}",
                    writer,
                )
            elif found[4] != digest:
                self.problem(
                    "edited", found[1], found[2], f"seq {seq} differs from its checkpoint", writer
                )


def verify(
    paths: Iterable[str | Path],
    *,
    keys: Sequence[AuditKey] = (),
    checkpoints: str | Path | None = None,
    live: bool = False,
) -> Report:
    """Check the audit chains in ``paths`` (files, directories, ``.gz``/``.zst`` archives).

    Args:
        paths: files and directories; directories are searched recursively, and a family
            of files (a live file and its rotated files) with no sealed line is skipped.
        keys: the HMAC keys the files may be sealed with (matched by ``key_id``).
        checkpoints: a side file of checkpoints (``<file>.checkpoints``), kept elsewhere:
            each must be found in its chain, which catches a cut tail.
        live: accept chains that end without a closing record (files still written).

    Raises:
        FileNotFoundError: a path does not exist.
        OSError: a file cannot be read or decompressed.
        ModuleNotFoundError: a ``.zst`` file without the zstandard package.
    """
    collecting = gc.isenabled()
    # Hundreds of thousands of small tuples without cycles: the collector would only
    # rescan them again and again (measured: half the time). Paused for this call.
    gc.disable()
    try:
        return _verify(paths, keys=keys, checkpoints=checkpoints, live=live)
    finally:
        if collecting:
            gc.enable()


def _verify(
    paths: Iterable[str | Path],
    *,
    keys: Sequence[AuditKey],
    checkpoints: str | Path | None,
    live: bool,
) -> Report:
    paths_list = list(paths)
    files, named = expand(paths_list)
    marks: list[dict[str, Any]] = []
    if checkpoints is not None:
        for raw in Path(checkpoints).read_bytes().splitlines():
            if raw.strip():
                try:
                    value = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(value, dict):
                    marks.append(cast("dict[str, Any]", value))
    verifier = _Verifier(keys, marks)
    verifier.live = live
    # A plain file is read twice, in blocks (its head first, to tell whether it is sealed);
    # an archive is decompressed once, into memory.
    contents: list[tuple[Path, bytes | None]] = []
    for path in files:
        try:
            contents.append((path, None if compression_of(path) == "none" else read_bytes(path)))
        except EOFError as exc:
            verifier.names.append(str(path))
            verifier.sizes.append(-1)
            verifier.report.files.append(str(path))
            verifier.problem("edited", str(path), None, f"cannot be decompressed: {exc}")
    families_sealed = {
        family(path.name)
        for path, data in contents
        if _sealed(data if data is not None else _head(path))
    }
    for path, data in contents:
        if path not in named and family(path.name) not in families_sealed:
            verifier.report.skipped.append(str(path))
            continue
        verifier.report.files.append(str(path))
        chunks = _chunks(path) if data is None else _slices(data)
        verifier.read(path, chunks, named=path in named)
    verifier.check()
    if not verifier.report.files:
        shown = ", ".join(str(path) for path in paths_list)
        verifier.problem("unsealed", shown, None, "no sealed (audited) file was found")
    return verifier.report
