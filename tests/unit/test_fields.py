"""Field selection: ``[fields]`` exclude and rename on a finished entry."""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import Any

import pytest

from tapelog.exceptions import ConfigError
from tapelog.processors._fields import FieldSelector


@pytest.fixture(name="entry")
def _entry() -> dict[str, Any]:
    return {
        "timestamp": "2026-11-23T07:01:02.123456Z",
        "level": "info",
        "logger": "app",
        "message": "hi",
        "thread": "MainThread",
        "user": "bob",
    }


class TestFieldSelector:
    def test_nothing_configured_returns_the_entry(self, entry: dict[str, Any]) -> None:
        """With nothing to exclude or rename, the entry itself comes back."""
        assert entry is FieldSelector()(entry)

    def test_nothing_applicable_returns_the_entry(self, entry: dict[str, Any]) -> None:
        """When no configured key is in the entry, the entry itself comes back."""
        assert entry is FieldSelector(exclude=["pid"], rename={"host": "hostname"})(entry)

    def test_exclude_drops_keys(self, entry: dict[str, Any]) -> None:
        """Excluded keys are gone and the rest keep their order."""
        actual = FieldSelector(exclude=["thread", "user"])(entry)

        assert ["timestamp", "level", "logger", "message"] == list(actual)

    def test_rename_keeps_position(self, entry: dict[str, Any]) -> None:
        """A renamed key keeps its place in the entry."""
        actual = FieldSelector(rename={"message": "msg"})(entry)

        assert ["timestamp", "level", "logger", "msg", "thread", "user"] == list(actual)
        assert "hi" == actual["msg"]

    def test_rename_displaces_an_existing_key(self, entry: dict[str, Any]) -> None:
        """A key already holding the new name is kept as name_ rather than overwritten."""
        entry["msg"] = "user's own"

        actual = FieldSelector(rename={"message": "msg"})(entry)

        assert {"msg": "hi", "msg_": "user's own"} == {k: actual[k] for k in ("msg", "msg_")}

    def test_displaced_key_skips_taken_names(self) -> None:
        """The displaced key's new name avoids every name already in the entry."""
        entry: dict[str, Any] = {"message": "m", "msg": 1, "msg_": 2}

        actual = FieldSelector(rename={"message": "msg"})(entry)

        assert {"msg": "m", "msg__": 1, "msg_": 2} == actual

    def test_rename_swaps(self) -> None:
        """Two keys renamed to each other's names swap."""
        actual = FieldSelector(rename={"a": "b", "b": "a"})({"a": 1, "b": 2})

        assert [("b", 1), ("a", 2)] == list(actual.items())

    def test_exclude_comes_before_rename(self, entry: dict[str, Any]) -> None:
        """Exclusion uses the original names, and an excluded key is not renamed."""
        actual = FieldSelector(exclude=["thread"], rename={"thread": "t", "user": "who"})(entry)

        assert ["timestamp", "level", "logger", "message", "who"] == list(actual)

    def test_entry_is_not_modified(self, entry: dict[str, Any]) -> None:
        """The selector builds a new dict and leaves its input alone."""
        before = dict(entry)

        FieldSelector(exclude=["user"], rename={"message": "msg"})(entry)

        assert before == entry

    def test_accepts_a_read_only_mapping(self, entry: dict[str, Any]) -> None:
        """rename may be any mapping, such as the config's MappingProxyType."""
        actual = FieldSelector(rename=MappingProxyType({"user": "user.name"}))(entry)

        assert "bob" == actual["user.name"]

    @pytest.mark.parametrize("new", ["", "a-b", "has space", "x" * 129])
    def test_invalid_new_name_is_refused(self, new: str) -> None:
        """A new name that is not a valid key is a configuration error naming the entry."""
        with pytest.raises(ConfigError, match=re.escape("fields.rename.user")):
            FieldSelector(rename={"user": new})

    @pytest.mark.parametrize("new", ["1st", "ключ", "msg.text"])
    def test_new_names_follow_the_top_level_key_rule(self, new: str) -> None:
        """A new name may hold what a top-level key may: letters and digits of any script."""
        assert {"level": "info", new: "bob"} == FieldSelector(rename={"user": new})(
            {"level": "info", "user": "bob"}
        )

    def test_two_keys_to_one_name_is_refused(self) -> None:
        """Two keys cannot be renamed to the same name."""
        with pytest.raises(ValueError, match=re.escape("fields.rename.b")):
            FieldSelector(rename={"a": "x", "b": "x"})
