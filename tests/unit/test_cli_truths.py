"""What a first user meets on the command line: the version, modes, and config messages."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from tests.conftest import need
from tests.unit.test_archive import make_archives

import tapelog
from tapelog._levels import parse_level
from tapelog.cli import main
from tapelog.cli._collector import Collector
from tapelog.retention._archive import restore_archive


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapelog", *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TAPELOG_CONFIG": ""},
    )


def test_version_prints_the_installed_version() -> None:
    """`tapelog --version` prints the package's version and its build, and exits 0."""
    done = run_cli("--version")

    assert (0, f"tapelog {tapelog.__version__} ({tapelog.build()})\n") == (
        done.returncode,
        done.stdout,
    )


def test_restored_archives_get_the_sinks_mode_whatever_the_umask(tmp_path: Path) -> None:
    """A restored file is 0640, as the file sink writes logs, not 0644 from the umask."""
    archives, _ = make_archives(tmp_path / "logs", 1)
    old = os.umask(0o002)
    try:
        restored = restore_archive(archives[0], tmp_path / "out")
    finally:
        os.umask(old)

    assert 0o640 == stat.S_IMODE(restored.path.stat().st_mode)


def test_config_show_prints_file_modes_in_octal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`mode = 0o640` in the file is shown as 0o640, not 416."""
    config = tmp_path / "app.toml"
    config.write_text('[[sinks]]\ntype = "file"\npath = "app.jsonl"\nmode = 0o600\n')

    assert 0 == main(["config", "show", str(config)])

    shown = capsys.readouterr().out
    assert "sinks[0].mode = 0o600 " in shown
    # The mode is never shown in decimal (0o600 is 384); the temporary
    # path shown as each value's source may contain those digits, so look
    # only at the value.
    assert "sinks[0].mode = 384" not in shown


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('level = "loud"\n', "app.toml"),
        ("level = \n", "app.toml"),
        ('{"level": 3', "app.json"),
        ('[[sinks]]\ntype = "file"\npath = "x"\nmode = "9"\n', "app.toml"),
        ("nope = 1\n", "app.toml"),
    ],
)
def test_every_check_message_names_its_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, name: str
) -> None:
    """Whatever is wrong, `config check` ends its message with the file it came from."""
    config = tmp_path / name
    config.write_text(text)

    assert 1 == main(["config", "check", str(config)])

    message = capsys.readouterr().err
    assert message.startswith("invalid: ")
    assert message.rstrip().endswith(f"(from file:{config})")


def test_a_missing_file_names_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not there is named too."""
    assert 1 == main(["config", "check", str(tmp_path / "gone.toml")])

    assert f"(from file:{tmp_path / 'gone.toml'})" in capsys.readouterr().err


def test_a_level_error_gives_the_range_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The message says 0..100, the range parse_level accepts (not 5..50)."""
    config = tmp_path / "app.toml"
    config.write_text('level = "loud"\n')
    assert 1 == main(["config", "check", str(config)])
    message = capsys.readouterr().err

    assert "(or a number 0..100)" in message
    assert (0, 100) == (parse_level(0), parse_level(100))  # both ends accepted, as it says


def test_an_unquoted_dotted_logger_name_gets_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`proxy.health = "debug"` in [levels] is a table to TOML: the error says to quote it."""
    config = tmp_path / "app.toml"
    config.write_text('[levels]\nproxy.health = "debug"\n')

    assert 1 == main(["config", "check", str(config)])

    assert 'must be quoted in TOML: "proxy.health" = "debug"' in capsys.readouterr().err


@pytest.mark.parametrize("error", [BrokenPipeError(32, "Broken pipe"), ConnectionResetError()])
def test_the_collector_stays_quiet_when_a_sender_hangs_up(
    capsys: pytest.CaptureFixture[str], error: OSError
) -> None:
    """A sender that hangs up is no traceback on stderr (the demo's or a test run's)."""
    with Collector() as collector:
        server = collector._server
        assert server is not None
        try:
            raise error
        except OSError:
            server.handle_error(None, ("127.0.0.1", 9))

    assert "" == capsys.readouterr().err


def test_the_collector_still_reports_its_own_bugs(capsys: pytest.CaptureFixture[str]) -> None:
    """Anything but a connection error is still printed."""
    with Collector() as collector:
        server = collector._server
        assert server is not None
        try:
            raise KeyError("bug")
        except KeyError:
            server.handle_error(None, ("127.0.0.1", 9))

    assert "KeyError: 'bug'" in capsys.readouterr().err


def _on_a_terminal(*args: str) -> str:
    """Run the command line with stdout on a pseudo-terminal; return what it showed."""
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "tapelog", *args],
            stdout=follower,
            stderr=subprocess.PIPE,
            check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )
        os.close(follower)
        follower = -1
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert 0 == done.returncode, done.stderr
    return b"".join(chunks).decode()


@pytest.mark.parametrize("command", ["tail", "query"])
@pytest.mark.parametrize("fmt", ["json", "logfmt", "console"])
def test_bidi_controls_are_escaped_on_a_terminal(tmp_path: Path, command: str, fmt: str) -> None:
    """A raw U+202E in a stored value is shown as \\u202e on a terminal, in every format."""
    path = tmp_path / "app.jsonl"
    path.write_text(
        '{"timestamp":"2026-11-23T07:01:02.123456Z","level":"info","logger":"pay",'
        '"message":"invoice \u202egnp.exe","seq":1}\n',
        encoding="utf-8",
    )

    shown = _on_a_terminal(command, "--format", fmt, str(path))

    assert "\u202e" not in shown
    assert "\\u202e" in shown
    assert "gnp.exe" in shown


def test_bidi_controls_stay_in_files_and_pipes(tmp_path: Path) -> None:
    """Piped output is the stored line, byte for byte (for jq and friends)."""
    path = tmp_path / "app.jsonl"
    line = '{"timestamp":"2026-11-23T07:01:02.123456Z","level":"info","logger":"pay","message":"a\u202eb"}\n'
    path.write_text(line, encoding="utf-8")

    done = run_cli("tail", "--format", "json", str(path))

    assert line == done.stdout


@pytest.mark.parametrize("how", ["script", "module"])
def test_the_command_line_does_not_start_the_applications_logging(tmp_path: Path, how: str) -> None:
    """`tapelog verify` under an app's TAPELOG_CONFIG writes nothing to the app's sinks.

    The configuration names a file sink and `[clock] sync`; an application importing
    tapelog with it writes clock.sync entries there at once, but tapelog's own command line
    (the console script or `python -m tapelog`) only reads: the sink's file never appears.
    """
    app_log, conf = tmp_path / "app.jsonl", tmp_path / "tapelog.toml"
    conf.write_text(
        f'[[sinks]]\ntype = "file"\npath = "{app_log}"\n\n[clock]\nsync = "100ms"\n',
        encoding="utf-8",
    )
    checked = tmp_path / "checked.jsonl"
    checked.write_text("", encoding="utf-8")
    env = {**os.environ, "TAPELOG_CONFIG": str(conf)}
    script = Path(sys.executable).parent / "tapelog"
    command = [str(script)] if how == "script" else [sys.executable, "-m", "tapelog"]
    if how == "script":  # ./dev installs it; only a hand-made environment may lack it
        need(script.exists(), f"no `tapelog` console script beside {sys.executable}")

    done = subprocess.run(
        [*command, "verify", str(checked)], capture_output=True, text=True, check=False, env=env
    )

    assert done.returncode in {0, 1}, done.stderr  # an empty file: whatever verify says of it
    assert not app_log.exists(), app_log.read_text(encoding="utf-8")
    # The same configuration in an application does write there: the set-up is live.
    app = subprocess.run(
        [sys.executable, "-c", "import tapelog, time; time.sleep(0.3)"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert app.returncode == 0, app.stderr
    assert '"clock.sync"' in app_log.read_text(encoding="utf-8")
