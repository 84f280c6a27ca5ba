"""register_sink: a third-party type, validated like the built-in ones, or refused clearly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import tapelog
from tapelog.config import _sinks
from tapelog.exceptions import ConfigError
from tapelog.sinks import BaseSink, _registry, register_sink
from tapelog.testing import capture


if TYPE_CHECKING:
    from collections.abc import Sequence

    from tapelog.typing import EventDict


class Keeping(BaseSink):
    def __init__(self, name: str, options: Any) -> None:
        self.name = name
        self.options = options
        self.entries: list[EventDict] = []

    def write_batch(self, entries: Sequence[EventDict]) -> None:
        self.entries.extend(entries)


@pytest.fixture(name="built")
def _built(monkeypatch: pytest.MonkeyPatch) -> list[Keeping]:
    # Registered for one test: monkeypatch restores both registries afterwards.
    monkeypatch.setattr(_registry, "_FACTORIES", dict(_registry._FACTORIES))
    monkeypatch.setattr(_sinks, "_REGISTRY", dict(_sinks._REGISTRY))
    built: list[Keeping] = []

    def factory(config: Any, formatter: Any) -> Keeping:
        built.append(Keeping(config.name, config.options))
        return built[-1]

    register_sink(
        "keeping",
        factory,
        {"url": "", "retries": 3, "timeout": 2.5, "gzip": False, "tags": (), "extra": None},
        required=["url"],
    )
    return built


class TestRegisterSink:
    def test_options_are_validated_and_defaults_filled(self, built: list[Keeping]) -> None:
        """The factory receives every option, given or defaulted; an int is taken as a float."""
        with capture():
            tapelog.configure(sinks=[{"type": "keeping", "url": "u", "timeout": 1, "tags": ["a"]}])

        options = dict(built[-1].options)
        assert {
            "url": "u",
            "retries": 3,
            "timeout": 1.0,
            "gzip": False,
            "tags": ("a",),
            "extra": None,
        } == options

    @pytest.mark.parametrize(
        ("table", "path"),
        [
            ({"url": "u", "retries": "3"}, "sinks[0].retries"),
            ({"url": "u", "retries": True}, "sinks[0].retries"),
            ({"url": "u", "timeout": "fast"}, "sinks[0].timeout"),
            ({"url": "u", "gzip": "yes"}, "sinks[0].gzip"),
            ({"url": "u", "tags": "a"}, "sinks[0].tags"),
            ({"url": 7}, "sinks[0].url"),
            ({"url": "u", "retry": 3}, "sinks[0].retry"),
            ({}, "sinks[0].url"),
        ],
    )
    def test_a_bad_option_is_refused_with_its_path(
        self, built: list[Keeping], table: dict[str, object], path: str
    ) -> None:
        """A wrong kind of value, an unknown key or a missing required key names its path."""
        with pytest.raises(ConfigError) as caught:
            tapelog.configure(sinks=[{"type": "keeping", **table}])

        assert path == caught.value.path
        assert [] == built

    def test_entries_reach_the_registered_sink(self, built: list[Keeping]) -> None:
        """A registered sink gets the entries like a built-in one."""
        tapelog.configure(sinks=[{"type": "keeping", "url": "u"}], queue={"mode": "sync"})
        tapelog.get_logger("reg").info("hello", n=1)
        tapelog.flush()

        assert [("hello", 1)] == [(e["message"], e["n"]) for e in built[-1].entries]

    @pytest.mark.parametrize("name", ["file", "Kafka", "", "two words"])
    def test_a_built_in_or_malformed_type_name_is_refused(self, name: str) -> None:
        """The built-in types cannot be replaced, and a type name is a plain lowercase word."""
        with pytest.raises(ConfigError) as caught:
            register_sink(name, lambda config, formatter: Keeping(config.name, {}))

        assert "type_name" == caught.value.path

    def test_required_must_name_an_option(self) -> None:
        """A required key that the options do not have is a mistake caught at registration."""
        with pytest.raises(ConfigError, match="keys of options"):
            register_sink("other", lambda c, f: Keeping(c.name, {}), {"a": 1}, required=["b"])


class TestJsonLinesWriter:
    def test_a_sink_that_takes_json_lines_gets_the_lines_write_batch_would_render(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A third-party sink that returns a writer from ``json_lines_writer`` receives
        tapelog's JSON lines as bytes, one call per batch, instead of entries."""
        import orjson

        monkeypatch.setattr(_registry, "_FACTORIES", dict(_registry._FACTORIES))
        monkeypatch.setattr(_sinks, "_REGISTRY", dict(_sinks._REGISTRY))

        class Lines(Keeping):
            def __init__(self, name: str, options: Any) -> None:
                super().__init__(name, options)
                self.data = bytearray()

            def json_lines_writer(self) -> Any:
                return self.data.extend

        sinks: list[Lines] = []

        def factory(config: Any, formatter: Any) -> Lines:
            sinks.append(Lines(config.name, config.options))
            return sinks[-1]

        register_sink("lines", factory, {})
        tapelog.configure(sinks=[{"type": "lines"}], queue={"mode": "sync"})
        try:
            log = tapelog.get_logger("shop").bind(account="a-1")
            for n in range(3):
                log.info("order placed", qty=n, symbol="BTC-USD")
        finally:
            tapelog.shutdown()

        sink = sinks[-1]
        assert sink.entries == []  # nothing came as entries
        lines = [orjson.loads(line) for line in bytes(sink.data).splitlines()]
        assert [(e["message"], e["qty"], e["account"]) for e in lines] == [
            ("order placed", 0, "a-1"),
            ("order placed", 1, "a-1"),
            ("order placed", 2, "a-1"),
        ]
        first = lines[0]["seq"]  # seq runs on across configurations in one process
        assert [e["seq"] for e in lines] == [first, first + 1, first + 2]

    def test_the_default_is_entries(self) -> None:
        """A sink that does not override the hook gets entries through write_batch."""
        assert Keeping("k", {}).json_lines_writer() is None
