"""The changelog fragments: named as towncrier reads them, and rendered by it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import need


ROOT = Path(__file__).resolve().parents[2]
FRAGMENTS = ROOT / "changelog.d"
NAME = re.compile(r"(?P<issue>\d+)\.(?P<type>added|changed|fixed|removed)\.md")


def fragments() -> list[Path]:
    return sorted(path for path in FRAGMENTS.iterdir() if path.name != "README.md")


class TestChangelog:
    def test_every_fragment_is_named_issue_dot_type(self) -> None:
        """A fragment is named <issue>.<added|changed|fixed|removed>.md and is not empty."""
        misnamed = [path.name for path in fragments() if not NAME.fullmatch(path.name)]
        empty = [path.name for path in fragments() if not path.read_text().strip()]

        assert ([], []) == (misnamed, empty)

    def test_towncrier_renders_every_fragment(self) -> None:
        """towncrier's draft holds each fragment's text under its type, with its issue."""
        towncrier = Path(sys.executable).with_name("towncrier")
        need(
            towncrier.exists() or shutil.which("towncrier") is not None,
            "towncrier is not installed (it is in the dev extra)",
        )
        command = str(towncrier) if towncrier.exists() else "towncrier"

        draft = subprocess.run(
            [command, "build", "--draft", "--version", "0.0.0"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

        for path in fragments():
            match = NAME.fullmatch(path.name)
            assert match is not None
            first_line = path.read_text().strip().splitlines()[0]
            assert first_line in draft, f"{path.name} is missing from the draft"
            assert f"### {match['type'].capitalize()}" in draft
            assert f"#{match['issue']}" in draft
