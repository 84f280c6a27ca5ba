"""Configuration: the model, its validation, and the sources it is loaded from.

``load_config()`` merges defaults, a file (or dict, or ``Config``), overrides and the
environment, and validates the result into a frozen ``Config``. Nothing here touches
global state or builds a sink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tapelog._lazy import lazy_exports as _lazy_exports
from tapelog.config._model import Config as Config
from tapelog.config._model import SinkConfig as SinkConfig


if TYPE_CHECKING:
    from tapelog.config._sources import load_config as load_config
    from tapelog.config._sources import read_file as read_file
    from tapelog.config._units import parse_duration as parse_duration
    from tapelog.config._units import parse_size as parse_size
    from tapelog.config._validate import validate as validate


__all__ = [
    "Config",
    "SinkConfig",
    "load_config",
    "parse_duration",
    "parse_size",
    "read_file",
    "validate",
]

# Loading and validating are imported on first use: ``import tapelog`` needs the model
# only, and a program that never configures anything never pays for the parsers.
__getattr__ = _lazy_exports(
    __name__,
    {
        "load_config": "tapelog.config._sources",
        "read_file": "tapelog.config._sources",
        "parse_duration": "tapelog.config._units",
        "parse_size": "tapelog.config._units",
        "validate": "tapelog.config._validate",
    },
)
