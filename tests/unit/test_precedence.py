"""Precedence in a running process: defaults < file < configure overrides < environment < set_level.

Each pair of sources is tested for every setting the environment can set (the root
level, per-logger levels, the format, and the file itself), and again after a reload.
``tests/unit/test_config_sources.py`` covers ``load_config`` alone; these go through
``configure``, ``set_level`` and ``reload`` as a program does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import tapelog
from tapelog._runtime import RUNTIME


if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


SOURCES = ("default", "file", "overrides", "env", "set_level")
PAIRS = [(low, high) for i, low in enumerate(SOURCES) for high in SOURCES[i + 1 :]]
NUMBERS = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
ENV = {"level": "TAPELOG_LEVEL", "levels": "TAPELOG_LEVELS", "format": "TAPELOG_FORMAT"}
# The default, the lower source's value, the higher source's value, and a third value a
# reload writes to the file.
VALUES = {
    "level": ("info", "warning", "error", "critical"),
    "levels": ("info", "warning", "error", "critical"),  # "db" has none: the root's
    "format": ("json", "logfmt", "console", "json"),
}


def pair_id(pair: tuple[str, str]) -> str:
    return f"{pair[0]}<{pair[1]}"


def cases() -> list[Any]:
    """Every (setting, lower, higher); set_level sets levels, not the format."""
    return [
        pytest.param(key, low, high, id=f"{key}:{low}<{high}")
        for key in VALUES
        for low, high in PAIRS
        if not (key == "format" and "set_level" in (low, high))
    ]


def file_text(key: str, value: str) -> str:
    body = {
        "level": f'level = "{value}"\n',
        "levels": f'[levels]\n"db" = "{value}"\n',
        "format": f'format = "{value}"\n',
    }[key]
    return f"watch = false\nsinks = []\n{body}"


def set_source(
    source: str,
    key: str,
    value: str,
    *,
    config_file: Path,
    setenv: Callable[[str, str], None],
    overrides: dict[str, Any],
) -> None:
    """Put ``value`` for ``key`` into one source (configure() is called afterwards)."""
    if source == "file":
        config_file.write_text(file_text(key, value), encoding="utf-8")
    elif source == "overrides":
        overrides[key] = {"db": value} if key == "levels" else value
    elif source == "env":
        setenv(ENV[key], f"db={value}" if key == "levels" else value)


def effective(key: str) -> object:
    """What is in effect: the level a logger's calls are gated by (as a name), or the format."""
    if key == "format":
        return RUNTIME.config.format
    name = "db.query" if key == "levels" else "app"
    number = RUNTIME.get_logger(name, {})._core.level
    return next(name for name, n in NUMBERS.items() if n == number)


def apply(
    key: str,
    sources: dict[str, str],
    config_file: Path,
    setenv: Callable[[str, str], None],
) -> None:
    """Configure with ``key`` set in each of ``sources`` to its value."""
    overrides: dict[str, Any] = {"sinks": [], "watch": False}
    if "file" not in sources:
        config_file.write_text("watch = false\nsinks = []\n", encoding="utf-8")
    for source, value in sources.items():
        set_source(source, key, value, config_file=config_file, setenv=setenv, overrides=overrides)
    tapelog.configure(config_file, **overrides)
    if "set_level" in sources:
        tapelog.set_level(sources["set_level"], "db" if key == "levels" else None)


@pytest.fixture(name="config_file")
def _config_file(tmp_path: Path) -> Path:
    return tmp_path / "app.toml"


class TestPrecedence:
    @pytest.mark.parametrize(("key", "low", "high"), cases())
    def test_higher_source_wins(
        self,
        config_file: Path,
        setenv: Callable[[str, str], None],
        key: str,
        low: str,
        high: str,
    ) -> None:
        """With a value in two sources, the higher one's is in effect."""
        _, lower, higher, _ = VALUES[key]
        sources = {high: higher} if low == "default" else {low: lower, high: higher}
        apply(key, sources, config_file, setenv)

        assert higher == effective(key)

    @pytest.mark.parametrize(("key", "low", "high"), cases())
    def test_lower_source_alone_is_in_effect(
        self,
        config_file: Path,
        setenv: Callable[[str, str], None],
        key: str,
        low: str,
        high: str,
    ) -> None:
        """The lower source's value is in effect when the higher one is not set."""
        default, lower, _, _ = VALUES[key]
        sources = {} if low == "default" else {low: lower}
        apply(key, sources, config_file, setenv)

        assert (default if low == "default" else lower) == effective(key)

    @pytest.mark.parametrize(("key", "low", "high"), cases())
    def test_order_holds_after_a_reload(
        self,
        config_file: Path,
        setenv: Callable[[str, str], None],
        key: str,
        low: str,
        high: str,
    ) -> None:
        """After the file is edited and reloaded, the file's new value wins only where it ranks."""
        _, lower, higher, edited = VALUES[key]
        sources = {high: higher} if low == "default" else {low: lower, high: higher}
        apply(key, sources, config_file, setenv)
        config_file.write_text(file_text(key, edited), encoding="utf-8")
        tapelog.reload()

        assert (edited if high == "file" else higher) == effective(key)


class TestConfigFile:
    def test_tapelog_config_names_the_file(
        self, tmp_path: Path, setenv: Callable[[str, str], None]
    ) -> None:
        """Without a source, TAPELOG_CONFIG names the file that is read and reloaded."""
        path = tmp_path / "env.toml"
        path.write_text(file_text("level", "warning"), encoding="utf-8")
        setenv("TAPELOG_CONFIG", str(path))
        tapelog.configure()
        path.write_text(file_text("level", "error"), encoding="utf-8")
        tapelog.reload()

        assert ("error", str(path)) == (effective("level"), RUNTIME.config.source_path)

    def test_a_path_given_to_configure_beats_tapelog_config(
        self, tmp_path: Path, config_file: Path, setenv: Callable[[str, str], None]
    ) -> None:
        """The file named in configure() is read, not the one TAPELOG_CONFIG names."""
        other = tmp_path / "env.toml"
        other.write_text(file_text("level", "warning"), encoding="utf-8")
        config_file.write_text(file_text("level", "error"), encoding="utf-8")
        setenv("TAPELOG_CONFIG", str(other))
        tapelog.configure(config_file)
        tapelog.reload()

        assert ("error", str(config_file)) == (effective("level"), RUNTIME.config.source_path)
