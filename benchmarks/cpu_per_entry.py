"""CPU time per entry, A/B against another checkout: ``python -m benchmarks.cpu_per_entry``.

Wall time is noise on a shared machine; CPU time is not (much). Each measurement runs in a
fresh interpreter importing tapelog from the ``src/`` of the checkout under test, and
reports three numbers per entry:

- ``all``: ``time.process_time_ns`` over N calls and the flush that writes them (every
  thread: the caller and the worker), async mode, one JSON file sink, the benchmark
  workload (message, 5 call fields, 3 bound fields);
- ``worker``: ``time.thread_time_ns`` of ``Pipeline.process`` alone, fed batches of 1,024
  records built as the logger builds them (no queue, no other thread);
- ``sync``: ``process_time_ns`` per call in ``mode = "sync"`` (the caller does it all).

Usage::

    python -m benchmarks.cpu_per_entry --a /tmp/base/src --b src --repeats 7

The runs of A and B alternate (A B A B ...), so a change in the machine's load falls on
both; the medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


CHILD = r"""
import json, os, sys, time, tempfile
from pathlib import Path
n, scenario = int(sys.argv[1]), sys.argv[2]
import tapelog
tmp = Path(tempfile.mkdtemp())
mode = "sync" if scenario == "sync" else "async"
tapelog.configure(
    level="info",
    sinks=[{"type": "file", "path": str(tmp / "out.log"), "format": "json"}],
    queue={"size": 65536, "overflow": "block", "mode": mode},
)
log = tapelog.get_logger("bench").bind(strategy="mm-1", account="ACC-1", venue="SIMX")
def calls(k):
    for _ in range(k):
        log.info("order placed", symbol="BTC-USD", qty=1.5, price=64000.25,
                 order_id="a1b2c3", attempt=3)
calls(2000)
tapelog.flush(60)
if scenario == "worker":
    from tapelog._context import get_current
    from tapelog._runtime import RUNTIME
    pipeline = RUNTIME.dispatcher.pipeline
    counters = {}
    bound = log._bound
    name = log.name
    batches = []
    for _ in range(n // 1024):
        batch = []
        for _ in range(1024):
            fields = dict(symbol="BTC-USD", qty=1.5, price=64000.25, order_id="a1b2c3",
                          attempt=3)
            batch.append((time.time_ns(), 20, name, "order placed", fields, bound,
                          get_current(), None, None))
        batches.append(batch)
    t0 = time.thread_time_ns()
    for batch in batches:
        pipeline.process(batch, counters)
    t1 = time.thread_time_ns()
    per = (t1 - t0) / (len(batches) * 1024)
else:
    p0 = time.process_time_ns()
    calls(n)
    tapelog.flush(300)
    p1 = time.process_time_ns()
    per = (p1 - p0) / n
tapelog.shutdown()
print(json.dumps({"ns": per}))
"""


def run(src: str, n: int, scenario: str) -> float:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()), TAPELOG_CONFIG="")
    env.pop("TAPELOG_CONFIG")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(n), scenario],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tempfile.gettempdir(),
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["ns"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", default=None, help="src/ of the baseline checkout")
    parser.add_argument("--b", default="src", help="src/ of the checkout under test")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scenarios", default="all,worker,sync")
    args = parser.parse_args()
    sides = {"B": args.b} if args.a is None else {"A": args.a, "B": args.b}
    for scenario in args.scenarios.split(","):
        n = args.n // 4 if scenario == "sync" else args.n
        results: dict[str, list[float]] = {side: [] for side in sides}
        for _ in range(args.repeats):
            for side, src in sides.items():
                results[side].append(run(src, n, scenario))
        line = [f"{scenario:7}"]
        for side, values in results.items():
            spread = f"{min(values):.0f}-{max(values):.0f}"
            line.append(f"{side}: median {statistics.median(values):7.0f} ns ({spread})")
        print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
