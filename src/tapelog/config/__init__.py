"""Configuration: the model, its validation, and the sources it is loaded from.

``load_config()`` merges defaults, a file (or dict, or ``Config``), overrides and the
environment, and validates the result into a frozen ``Config``. Nothing here touches
global state or builds a sink.
"""

from __future__ import annotations

from tapelog.config._model import Config as Config
from tapelog.config._model import SinkConfig as SinkConfig
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
