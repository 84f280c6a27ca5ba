"""Sources and precedence: defaults < file < overrides < environment, and where each value came from."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from tapelog.config import Config, load_config, read_file
from tapelog.exceptions import ConfigError


if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(name="toml_file")
def _toml_file(tmp_path: Path) -> Path:
    path = tmp_path / "app.toml"
    path.write_text(
        'level = "warning"\nformat = "logfmt"\n\n[levels]\n"proxy.health" = "debug"\nurllib3 = "warning"\n\n'
        '[queue]\nsize = 10\noverflow = "drop_oldest"\n\n[[sinks]]\ntype = "file"\npath = "a.log"\n',
        encoding="utf-8",
    )
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestReadFile:
    def test_toml(self, toml_file: Path) -> None:
        """A .toml file is read as TOML."""

        assert {"level": "warning", "queue": {"size": 10, "overflow": "drop_oldest"}} == {
            k: v for k, v in read_file(toml_file).items() if k in {"level", "queue"}
        }

    def test_json(self, tmp_path: Path) -> None:
        """A .json file is read as JSON."""
        path = write(
            tmp_path, "app.json", json.dumps({"level": "debug", "sinks": [{"type": "console"}]})
        )

        assert {"level": "debug", "sinks": [{"type": "console"}]} == read_file(path)

    def test_suffix_any_case(self, tmp_path: Path) -> None:
        """The suffix is matched in any case."""

        assert {"level": "info"} == read_file(write(tmp_path, "APP.TOML", 'level = "info"'))

    def test_toml_syntax_error_names_file_and_line(self, tmp_path: Path) -> None:
        """A TOML syntax error names the file, the line and the column."""
        path = write(tmp_path, "bad.toml", 'level = "info"\nformat json\n')
        with pytest.raises(ConfigError) as info:
            read_file(path)

        assert (str(path), True, True) == (
            info.value.value,
            "line 2, column 8" in str(info.value),
            str(info.value).startswith("config: expected valid TOML ("),
        )

    @pytest.mark.parametrize(
        ("text", "problem"),
        [
            (
                '{\n  "level": "info",\n}',
                "a comma before the closing '}' (JSON allows none) at line 2, column 18",
            ),
            (
                '{"sinks": [{"type": "console"},\n]}',
                "a comma before the closing ']' (JSON allows none) at line 1, column 31",
            ),
            ('{"level" "info"}', "a ':' should follow the key here at line 1, column 10"),
            ("{level: 1}", "a key in double quotes should start here at line 1, column 2"),
            ('{"level": }', "a value should start here at line 1, column 11"),
            (
                '{"level": "info"} {}',
                "more text after the end of the top-level object at line 1, column 19",
            ),
            ('{"level": "in', "a string that is never closed starts here at line 1, column 11"),
            ("", "the text ends where a value should be at line 1, column 1"),
        ],
    )
    def test_json_syntax_error_names_file_line_and_problem(
        self, tmp_path: Path, text: str, problem: str
    ) -> None:
        """A JSON syntax error names the file, the line, the column and what is wrong, in the
        same words on every Python (3.13 changed the json module's messages and positions)."""
        path = write(tmp_path, "bad.json", text)
        with pytest.raises(ConfigError) as info:
            read_file(path)

        assert f"config: expected valid JSON ({problem}), got {str(path)!r}" == str(info.value)

    @pytest.mark.parametrize("name", ["deep.json", "deep.toml"])
    def test_a_file_nested_past_the_limit_is_refused_on_every_python(
        self, tmp_path: Path, name: str
    ) -> None:
        """101 levels are refused and 100 are read, whatever the parser's own limit is."""
        body = {101: "[" * 100 + "]" * 100, 100: "[" * 99 + "]" * 99}
        prefix = '{"a": ' if name.endswith(".json") else "a = "
        suffix = "}" if name.endswith(".json") else "\n"
        kind = "JSON" if name.endswith(".json") else "TOML"
        deep = write(tmp_path, name, prefix + body[101] + suffix)
        with pytest.raises(ConfigError) as info:
            read_file(deep)
        fine = write(tmp_path, "fine" + name[4:], prefix + body[100] + suffix)

        assert (f"valid {kind} (nested too deeply to read)", 1) == (
            info.value.expected,
            len(read_file(fine)),
        )

    @pytest.mark.parametrize(
        ("name", "text", "expected"),
        [
            ("app.yaml", "level: info", "a .toml or .json file"),
            ("list.json", "[1, 2]", "a JSON object at the top level"),
            ("latin.toml", None, "UTF-8 text"),
            ("missing.toml", "", "a readable file (No such file or directory)"),
        ],
    )
    def test_other_problems(
        self, tmp_path: Path, name: str, text: str | None, expected: str
    ) -> None:
        """Wrong suffix, wrong top level, wrong encoding and a missing file are ConfigErrors naming the file."""
        path = tmp_path / name
        if text is None:
            path.write_bytes(b'service = "caf\xe9"')
        elif name != "missing.toml":
            path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            read_file(path)

        assert (str(path), True) == (info.value.value, expected in str(info.value))


# Each layer's value for each key, and what the key reads as after validation.
LAYERS: dict[str, dict[str, Any]] = {
    "level": {"file": "warning", "overrides": "error", "env": "debug"},
    "format": {"file": "logfmt", "overrides": "console", "env": "json"},
    "levels": {
        "file": {"proxy.health": "debug", "urllib3": "warning"},
        "overrides": {"urllib3": "error", "db": "info"},
        "env": {"db": "trace", "proxy": "critical"},
    },
}
NUMBERS = {"trace": 5, "debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}
ENV = {"level": "TAPELOG_LEVEL", "format": "TAPELOG_FORMAT", "levels": "TAPELOG_LEVELS"}
DEFAULTS: dict[str, Any] = {"level": 20, "format": "json", "levels": {}}
PAIRS = [("default", "file"), ("file", "overrides"), ("overrides", "env"), ("file", "env")]


def load_layers(tmp_path: Path, key: str, layers: tuple[str, ...]) -> tuple[Config, str]:
    """Load a config where only ``layers`` set ``key``; return it and the file's origin."""
    source = None
    path = tmp_path / "layer.json"
    if "file" in layers:
        path.write_text(json.dumps({key: LAYERS[key]["file"]}), encoding="utf-8")
        source = path
    overrides = {key: LAYERS[key]["overrides"]} if "overrides" in layers else None
    environ = {}
    if "env" in layers:
        value = LAYERS[key]["env"]
        environ[ENV[key]] = (
            ",".join(f"{k}={v}" for k, v in value.items()) if key == "levels" else value
        )
    return load_config(source, overrides=overrides, environ=environ), f"file:{path}"


def expected_value(key: str, layers: tuple[str, ...]) -> Any:
    if key == "levels":
        merged: dict[str, int] = {}
        for layer in layers:
            merged.update({k: NUMBERS[v] for k, v in LAYERS[key].get(layer, {}).items()})
        return merged
    value = LAYERS[key].get(layers[-1], DEFAULTS[key])
    return NUMBERS.get(value, value)


def actual_value(config: Config, key: str) -> Any:
    value = getattr(config, key)
    return dict(value) if key == "levels" else value


class TestPrecedence:
    @pytest.mark.parametrize("key", ["level", "format", "levels"])
    @pytest.mark.parametrize(("lower", "higher"), PAIRS, ids=[f"{a}<{b}" for a, b in PAIRS])
    def test_higher_layer_wins(self, tmp_path: Path, key: str, lower: str, higher: str) -> None:
        """The higher layer's value wins; per-logger levels merge key by key."""
        config, _ = load_layers(tmp_path, key, (lower, higher))

        assert expected_value(key, (lower, higher)) == actual_value(config, key)

    @pytest.mark.parametrize("key", ["level", "format"])
    @pytest.mark.parametrize(("lower", "higher"), PAIRS, ids=[f"{a}<{b}" for a, b in PAIRS])
    def test_origin_is_the_winner(self, tmp_path: Path, key: str, lower: str, higher: str) -> None:
        """The origin of a key is the layer its value came from."""
        config, file_origin = load_layers(tmp_path, key, (lower, higher))
        origin = {"file": file_origin, "overrides": "overrides", "env": f"env:{ENV[key]}"}[higher]

        assert origin == config.origins[key]

    def test_levels_origins_per_logger(self, tmp_path: Path) -> None:
        """Each logger's level remembers its own layer."""
        config, file_origin = load_layers(tmp_path, "levels", ("file", "overrides", "env"))

        assert {
            "levels.proxy.health": file_origin,
            "levels.urllib3": "overrides",
            "levels.db": "env:TAPELOG_LEVELS",
            "levels.proxy": "env:TAPELOG_LEVELS",
        } == {k: v for k, v in config.origins.items() if k.startswith("levels.")}

    def test_all_layers(self, tmp_path: Path) -> None:
        """With every layer set, the environment wins over all."""
        config, _ = load_layers(tmp_path, "level", ("file", "overrides", "env"))

        assert 10 == config.level

    def test_default_origin(self) -> None:
        """Keys no layer sets come from the defaults."""
        config = load_config(None, environ={})

        assert ("default", "default", "default", None) == (
            config.origins["level"],
            config.origins["queue.size"],
            config.origins["sinks"],
            config.source_path,
        )


class TestMerge:
    def test_tables_merge_key_by_key(self, toml_file: Path) -> None:
        """An override of one key of a table keeps the file's other keys."""
        config = load_config(toml_file, overrides={"queue": {"size": 99}}, environ={})

        assert (99, "drop_oldest", "overrides", f"file:{toml_file}") == (
            config.queue.size,
            config.queue.overflow,
            config.origins["queue.size"],
            config.origins["queue.overflow"],
        )

    def test_sinks_replace_whole_list(self, toml_file: Path) -> None:
        """Overriding sinks replaces the file's list, origins and all."""
        config = load_config(toml_file, overrides={"sinks": [{"type": "console"}]}, environ={})

        assert (["console"], {"sinks[0].type": "overrides"}) == (
            [s.name for s in config.sinks],
            {k: v for k, v in config.origins.items() if k.startswith("sinks")},
        )

    def test_none_override_is_ignored(self, toml_file: Path) -> None:
        """A None override leaves the file's value alone."""

        assert 30 == load_config(toml_file, overrides={"level": None}, environ={}).level

    def test_sources_are_not_changed(self) -> None:
        """Neither the source mapping nor the overrides are written to."""
        source = {"queue": {"size": 5}}
        overrides = {"queue": {"overflow": "drop_newest"}}
        load_config(source, overrides=overrides, environ={})

        assert ({"queue": {"size": 5}}, {"queue": {"overflow": "drop_newest"}}) == (
            source,
            overrides,
        )


class TestSources:
    def test_path_string_and_source_path(self, toml_file: Path) -> None:
        """A path as a string is read, and recorded as absolute."""
        config = load_config(str(toml_file), environ={})

        assert (30, str(toml_file), f"file:{toml_file}") == (
            config.level,
            config.source_path,
            config.origins["level"],
        )

    def test_relative_path_made_absolute(
        self, toml_file: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A relative path is recorded absolute, so a reload after chdir finds it."""
        monkeypatch.chdir(toml_file.parent)

        assert str(toml_file) == load_config("app.toml", environ={}).source_path

    def test_tapelog_config(self, toml_file: Path) -> None:
        """Without a source, TAPELOG_CONFIG names the file."""
        config = load_config(None, environ={"TAPELOG_CONFIG": str(toml_file)})

        assert (30, str(toml_file)) == (config.level, config.source_path)

    def test_source_beats_tapelog_config(self, toml_file: Path, tmp_path: Path) -> None:
        """A path given wins over TAPELOG_CONFIG."""
        other = write(tmp_path, "other.toml", 'level = "error"')

        assert 40 == load_config(other, environ={"TAPELOG_CONFIG": str(toml_file)}).level

    def test_missing_tapelog_config_file(self, tmp_path: Path) -> None:
        """A TAPELOG_CONFIG naming a missing file is an error naming the variable."""
        with pytest.raises(ConfigError) as info:
            load_config(None, environ={"TAPELOG_CONFIG": str(tmp_path / "nope.toml")})

        assert ("env:TAPELOG_CONFIG", True) == (
            info.value.source,
            str(info.value).endswith("(from env:TAPELOG_CONFIG)"),
        )

    def test_missing_source_file(self, tmp_path: Path) -> None:
        """A path given that does not exist is an error naming the file, not the variable."""
        path = tmp_path / "nope.toml"
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={"TAPELOG_CONFIG": "/elsewhere.toml"})

        assert (str(path), "") == (info.value.value, info.value.source)

    def test_dict_source(self) -> None:
        """A mapping is the file layer, with origin dict."""
        config = load_config({"level": "error"}, environ={})

        assert (40, "dict", None) == (config.level, config.origins["level"], config.source_path)

    def test_environ_defaults_to_os_environ(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without environ, the process environment is read."""
        monkeypatch.setenv("TAPELOG_LEVEL", "critical")

        assert 50 == load_config({}).level

    def test_empty_variables_are_unset(self) -> None:
        """An empty TAPELOG_* variable counts as unset."""
        environ = {
            "TAPELOG_LEVEL": "",
            "TAPELOG_LEVELS": " ",
            "TAPELOG_FORMAT": "",
            "TAPELOG_CONFIG": "",
        }

        config = load_config(None, environ=environ)

        assert (20, {}, "json") == (config.level, dict(config.levels), config.format)

    def test_config_source_as_is(self, toml_file: Path) -> None:
        """A Config is taken as it is, origins and source path included."""
        config = load_config(toml_file, environ={})

        assert config == load_config(config, environ={})

    def test_config_source_under_overrides_and_env(self, toml_file: Path) -> None:
        """Overrides and the environment apply on top of a Config."""
        config = load_config(toml_file, environ={})
        result = load_config(
            config, overrides={"queue": {"size": 7}}, environ={"TAPELOG_LEVEL": "error"}
        )

        assert (
            (7, "drop_oldest", 40, ["file"], str(toml_file)),
            ("overrides", f"file:{toml_file}", "env:TAPELOG_LEVEL", f"file:{toml_file}"),
        ) == (
            (
                result.queue.size,
                result.queue.overflow,
                result.level,
                [s.name for s in result.sinks],
                result.source_path,
            ),
            (
                result.origins["queue.size"],
                result.origins["queue.overflow"],
                result.origins["level"],
                result.origins["sinks[0].type"],
            ),
        )

    def test_config_source_sinks_replaced(self, toml_file: Path) -> None:
        """Overriding sinks over a Config drops its sinks' origins."""
        config = load_config(toml_file, environ={})
        result = load_config(config, overrides={"sinks": []}, environ={})

        assert ((), {}) == (
            result.sinks,
            {k: v for k, v in result.origins.items() if k.startswith("sinks[")},
        )

    def test_hand_made_config(self) -> None:
        """A Config built by hand has its values attributed to config."""
        result = load_config(Config(level=10), overrides={"format": "logfmt"}, environ={})

        assert (10, "config", "overrides") == (
            result.level,
            result.origins["level"],
            result.origins["format"],
        )

    def test_bad_source_type(self) -> None:
        """A source that is no path, mapping or Config is refused."""
        with pytest.raises(ConfigError):
            load_config(42, environ={})  # type: ignore[arg-type]

    def test_bad_overrides_type(self) -> None:
        """Overrides that are not a mapping are refused."""
        with pytest.raises(ConfigError):
            load_config({}, overrides=[("level", "info")], environ={})  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(
        ("environ", "path", "value", "variable"),
        [
            ({"TAPELOG_LEVEL": "loud"}, "level", "loud", "TAPELOG_LEVEL"),
            ({"TAPELOG_FORMAT": "xml"}, "format", "xml", "TAPELOG_FORMAT"),
            ({"TAPELOG_LEVELS": "proxy=chatty"}, "levels.proxy", "chatty", "TAPELOG_LEVELS"),
            ({"TAPELOG_LEVELS": "proxy"}, "levels", "proxy", "TAPELOG_LEVELS"),
            ({"TAPELOG_LEVELS": "=debug"}, "levels", "=debug", "TAPELOG_LEVELS"),
            ({"TAPELOG_LEVELS": "a=debug,b="}, "levels", "a=debug,b=", "TAPELOG_LEVELS"),
        ],
    )
    def test_bad_environment_names_variable(
        self, environ: dict[str, str], path: str, value: str, variable: str
    ) -> None:
        """A bad environment value is an error naming the key, the value and the variable."""
        with pytest.raises(ConfigError) as info:
            load_config({}, environ=environ)

        assert (path, value, f"env:{variable}", True) == (
            info.value.path,
            info.value.value,
            info.value.source,
            str(info.value).endswith(f"(from env:{variable})"),
        )

    def test_levels_syntax_message(self) -> None:
        """A malformed TAPELOG_LEVELS shows the form expected."""
        with pytest.raises(ConfigError) as info:
            load_config({}, environ={"TAPELOG_LEVELS": "proxy"})

        assert (
            'levels: expected comma-separated logger=level pairs like "proxy.health=debug,urllib3=warning", '
            "got 'proxy' (from env:TAPELOG_LEVELS)"
        ) == str(info.value)

    def test_levels_whitespace_and_trailing_comma(self) -> None:
        """Spaces around pairs and an empty last item are fine."""
        config = load_config(
            {}, environ={"TAPELOG_LEVELS": " proxy.health = debug , urllib3=warning, "}
        )

        assert {"proxy.health": 10, "urllib3": 30} == dict(config.levels)

    def test_file_error_names_file(self, tmp_path: Path) -> None:
        """A bad value in a file names the file it is in."""
        path = write(tmp_path, "app.toml", '[queue]\noverflow = "sometimes"\n')
        with pytest.raises(ConfigError) as info:
            load_config(path, environ={})

        assert (
            f"queue.overflow: expected one of block, drop_newest, drop_oldest, shed_by_level, got 'sometimes' (from file:{path})"
            == str(info.value)
        )

    def test_override_error_names_overrides(self) -> None:
        """A bad override says it came from the overrides."""
        with pytest.raises(ConfigError) as info:
            load_config({}, overrides={"queue": {"sise": 1}}, environ={})

        assert ("queue.sise", "overrides") == (info.value.path, info.value.source)

    def test_unchanged_config_object_on_error(self, toml_file: Path) -> None:
        """A failed load returns nothing and leaves the Config given untouched."""
        config = load_config(toml_file, environ={})
        before = replace(config)
        with pytest.raises(ConfigError):
            load_config(config, overrides={"level": "loud"}, environ={})

        assert before == config
