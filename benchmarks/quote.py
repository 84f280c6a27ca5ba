"""Quote the latest full report in README.md: ``python -m benchmarks.quote [--check]``.

Rewrites the block between ``<!-- benchmarks:latest:start -->`` and
``<!-- benchmarks:latest:end -->`` in README.md from ``benchmarks/results/latest.json``
(written by a full ``./dev bench``): the machine, and each target of the report with
met or missed. Nothing else in the README changes, so the quote is always one run's,
without run-by-run commentary. ``--check`` exits 1 when the block is out of date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from benchmarks._common import RESULTS, ROOT


START = "<!-- benchmarks:latest:start -->"
END = "<!-- benchmarks:latest:end -->"
README = ROOT / "README.md"


def block(data: dict[str, Any]) -> str:
    """The README's quote of one full report."""
    info = data["machine"]
    params = data.get("params", {})
    n = params.get("N (entries per throughput run)")
    head = (
        f"The latest full report, [benchmarks/results/latest.md](benchmarks/results/latest.md) "
        f"({info['date']}, {info['cores']} cores, {info['python']}, load average "
        f"{info['loadavg_at_start']:.2f} at the start"
        + (f"; {n:,} calls per throughput run" if isinstance(n, int) else "")
        + "), against the issue's targets:"
    )
    lines = [head, ""]
    for verdict in data.get("targets", []):
        met = verdict.get("met")
        mark = "n/a" if met is None else ("met" if met else "missed")
        lines.append(f"- {verdict['target']}: **{mark}**. {verdict.get('detail', '')}".rstrip())
    return "\n".join([START, *lines, END])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.quote")
    parser.add_argument("--check", action="store_true", help="exit 1 if the quote is stale")
    args = parser.parse_args(argv)
    data = json.loads((RESULTS / "latest.json").read_text(encoding="utf-8"))
    text = README.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        print(f"README.md has no {START} ... {END} block", file=sys.stderr)
        return 2
    updated = pattern.sub(lambda _: block(data), text)
    if args.check:
        return 0 if updated == text else 1
    README.write_text(updated, encoding="utf-8")
    print("README.md: quote updated from benchmarks/results/latest.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
