"""Configuration: the model, its validation, and the sources it is loaded from.

``load_config()`` merges defaults, a file (or dict, or ``Config``), overrides and the
environment, and validates the result into a frozen ``Config``. Nothing here touches
global state or builds a sink.
"""

from __future__ import annotations

from tapelog.config._model import Config as Config
from tapelog.config._model import ErrorsConfig as ErrorsConfig
from tapelog.config._model import FieldsConfig as FieldsConfig
from tapelog.config._model import FilterConfig as FilterConfig
from tapelog.config._model import MetricsConfig as MetricsConfig
from tapelog.config._model import QueueConfig as QueueConfig
from tapelog.config._model import RedactionConfig as RedactionConfig
from tapelog.config._model import SampleConfig as SampleConfig
from tapelog.config._model import SinkConfig as SinkConfig
from tapelog.config._model import ThresholdConfig as ThresholdConfig
from tapelog.config._sinks import SinkOptionsValidator as SinkOptionsValidator
from tapelog.config._sinks import register_sink_options as register_sink_options
from tapelog.config._sources import load_config as load_config
from tapelog.config._sources import read_file as read_file
from tapelog.config._units import parse_duration as parse_duration
from tapelog.config._units import parse_size as parse_size
from tapelog.config._validate import validate as validate


__all__ = [
    "Config",
    "ErrorsConfig",
    "FieldsConfig",
    "FilterConfig",
    "MetricsConfig",
    "QueueConfig",
    "RedactionConfig",
    "SampleConfig",
    "SinkConfig",
    "SinkOptionsValidator",
    "ThresholdConfig",
    "load_config",
    "parse_duration",
    "parse_size",
    "read_file",
    "register_sink_options",
    "validate",
]
