"""#11 (defect 2): multiprocessing children started with fork or forkserver end with
``os._exit``, so tapelog's atexit drain never ran there and everything still queued was
lost (0 of 4000 lines; 979 of 4000 when the parent configured before forking).

Real children of ``multiprocessing``, a real file sink shared by the processes.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
import textwrap
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from tests.conftest import need


if TYPE_CHECKING:
    from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import json, multiprocessing, os, sys

    import tapelog

    def child(n, config, configure):
        if configure:
            tapelog.configure(config)
        log = tapelog.get_logger("child")
        for i in range(1000):
            log.info("m", child=n, i=i)

    if __name__ == "__main__":
        method, config, who = sys.argv[1:4]
        if who == "parent":
            os.environ["TAPELOG_CONFIG"] = config  # what a forkserver child reads at import
            tapelog.configure(config)
            tapelog.get_logger("parent").info("before the children")
        context = multiprocessing.get_context(method)
        children = [
            context.Process(target=child, args=(n, config, who == "child")) for n in range(4)
        ]
        for process in children:
            process.start()
        for process in children:
            process.join(60)
        print(json.dumps([process.exitcode for process in children]))
    """
)


@pytest.mark.parametrize("who", ["child", "parent"])
@pytest.mark.parametrize("method", ["fork", "forkserver"])
def test_every_entry_of_every_child_is_written(tmp_path: Path, method: str, who: str) -> None:
    """4 children x 1000 entries: all 4000 lines, each once, whoever configured."""
    need(
        method in multiprocessing.get_all_start_methods(),
        f"no {method} start method on this platform",
    )
    log = tmp_path / "app.jsonl"
    config = tmp_path / "tapelog.json"
    config.write_text(json.dumps({"watch": False, "sinks": [{"type": "file", "path": str(log)}]}))
    script = tmp_path / "program.py"
    script.write_text(PROGRAM)
    done = subprocess.run(
        [sys.executable, str(script), method, str(config), who],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert 0 == done.returncode, done.stderr
    assert [0, 0, 0, 0] == json.loads(done.stdout.splitlines()[-1])

    # Four processes append to one plain file: no empty line (a torn-line check that read
    # another's append half copied would leave one), every entry whole and there once.
    lines = log.read_text().splitlines()
    assert [] == [n for n, line in enumerate(lines) if not line]
    entries = [json.loads(line) for line in lines]
    written = Counter((e["child"], e["i"]) for e in entries if e["logger"] == "child")
    assert 4000 == len(written)
    assert {1} == set(written.values())
    assert {(n, i) for n in range(4) for i in range(1000)} == set(written)


APPENDER = textwrap.dedent(
    """
    import sys
    from tapelog.formats import JsonFormat
    from tapelog.sinks import FileSink

    path, who = sys.argv[1], int(sys.argv[2])
    sink = FileSink(path, JsonFormat())
    pad = "x" * 80
    for batch in range(40):  # 40 batches of about 30 kB: each takes several pages
        sink.write_batch([
            {"timestamp": "t", "level": "info", "logger": "a", "message": pad, "who": who,
             "i": batch * 250 + i}
            for i in range(250)
        ])
    sink.close()
    """
)


def test_independent_appenders_to_one_plain_file_leave_no_empty_line(tmp_path: Path) -> None:
    """Four unrelated processes append multi-page batches to one non-rotating file.

    Each checks for a torn last line before it writes; without a lock across that check
    and the write, one reads another's append while the kernel is still copying it, and
    ends a line that was not torn.
    """
    log = tmp_path / "shared.jsonl"
    writers = [
        subprocess.Popen([sys.executable, "-c", APPENDER, str(log), str(n)]) for n in range(4)
    ]
    codes = [writer.wait(120) for writer in writers]

    lines = log.read_text().splitlines()
    assert [0, 0, 0, 0] == codes
    assert [] == [n for n, line in enumerate(lines) if not line]
    written = Counter((e["who"], e["i"]) for e in map(json.loads, lines))
    assert (40_000, {1}) == (len(written), set(written.values()))
