"""Loggers: one core per name, kept at the level the two tables give its name."""

from __future__ import annotations

from tapelog._levels import DEBUG, ERROR, INFO, WARNING
from tapelog._loggers import Loggers


class TestLoggers:
    def test_the_longest_matching_prefix_wins(self) -> None:
        """A deeper prefix in [levels] beats a shorter one, and a lookalike name is not under it."""
        loggers = Loggers(INFO, {"proxy": WARNING, "proxy.health": DEBUG})

        assert (DEBUG, WARNING, INFO) == (
            loggers.level_for("proxy.health.check"),
            loggers.level_for("proxy.pool"),
            loggers.level_for("proxyish"),
        )

    def test_an_override_beats_the_configuration_at_equal_length(self) -> None:
        """set_level's override of a prefix wins over [levels] for the same prefix."""
        loggers = Loggers(INFO, {"proxy": WARNING})
        loggers.override("proxy", ERROR)

        assert (ERROR, ERROR) == (loggers.level_for("proxy"), loggers.setting("proxy"))

    def test_existing_loggers_follow_every_change(self) -> None:
        """A logger created earlier takes a new configuration, an override and its removal."""
        loggers = Loggers(INFO, {})
        core = loggers.core("shop.orders")
        seen = [core.level]
        loggers.configure(WARNING, {"shop": DEBUG})
        seen.append(core.level)
        loggers.override("", ERROR)
        seen.append(core.level)
        loggers.clear_overrides()
        seen.append(core.level)

        assert [INFO, DEBUG, DEBUG, DEBUG] == seen
        assert core is loggers.core("shop.orders")

    def test_a_root_override_applies_where_no_prefix_matches(self) -> None:
        """The root override ("") replaces the configured root level, not the prefixes."""
        loggers = Loggers(INFO, {"shop": DEBUG})
        loggers.override("", ERROR)

        assert (ERROR, DEBUG) == (loggers.level_for("other"), loggers.level_for("shop"))
