"""The configuration model: frozen, validated values, normalised once.

Every value here has already been checked by ``tapelog.config._validate``; the runtime
trusts these types. Sizes are bytes (int), durations are seconds (float), levels are
numbers (int).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeAlias


if TYPE_CHECKING:
    from tapelog.typing import FormatName


OverflowPolicy: TypeAlias = Literal["block", "drop_newest", "drop_oldest", "shed_by_level"]

_EMPTY: MappingProxyType[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """``[queue]``: the bounded queue between callers and the worker thread."""

    size: int = 65536
    overflow: OverflowPolicy = "block"
    block_timeout: float = 1.0
    mode: Literal["async", "sync"] = "async"
    batch_size: int = 1024


@dataclass(frozen=True, slots=True)
class FieldsConfig:
    """``[fields]``: optional core fields, fields never written, renamed keys."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    rename: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """``[redaction]``: on by default; user keys and patterns add to the built-in ones."""

    enabled: bool = True
    keys: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    replacement: str = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class FilterConfig:
    """A sink's ``filter``: logger-name prefixes and components to include or exclude."""

    loggers: tuple[str, ...] = ()
    exclude_loggers: tuple[str, ...] = ()
    components: tuple[str, ...] = ()
    exclude_components: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SampleConfig:
    """A sink's ``sample``: keep ``rate`` of entries; never sample ``keep_levels``."""

    rate: float = 1.0
    keep_levels: tuple[int, ...] = ()
    key: str | None = None


@dataclass(frozen=True, slots=True)
class SinkConfig:
    """One ``[[sinks]]`` table.

    ``options`` holds the type-specific keys (``path``, ``stream``, ``address`` ...), already
    validated and normalised for that type.
    """

    type: str
    name: str
    level: int | None = None
    format: FormatName | None = None
    filter: FilterConfig | None = None
    sample: SampleConfig | None = None
    fallback: str | None = None
    options: MappingProxyType[str, Any] = field(default_factory=lambda: _EMPTY)


@dataclass(frozen=True, slots=True)
class ThresholdConfig:
    """One ``[[metrics.thresholds]]`` item (``for`` is read into ``hold``)."""

    metric: str
    above: float | None = None
    below: float | None = None
    clear: float | None = None
    hold: float = 0.0
    cooldown: float = 0.0
    attributes: MappingProxyType[str, str | float | bool] = field(
        default_factory=lambda: MappingProxyType({})
    )
    stat: str | None = None
    nodata: Literal["keep", "resolve"] = "keep"


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """``[metrics]``: periodic snapshots and threshold alerts."""

    enabled: bool = True
    interval: float = 10.0
    system: bool = False
    temporality: Literal["delta", "cumulative"] = "delta"
    relative_error: float = 0.01
    thresholds: tuple[ThresholdConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorsConfig:
    """``[errors]``: how exceptions are captured.

    ``locals``: capture each frame's local variables (redacted, size-capped reprs); off by
    default, since locals hold whatever the code held (credentials, personal data).
    ``hooks``: install ``tapelog.errors.install_hooks()`` at ``configure()``.
    """

    locals: bool = False
    hooks: bool = False


@dataclass(frozen=True, slots=True)
class ClockConfig:
    """``[clock]``: periodic clock evidence (``clock.sync`` entries).

    ``sync``: seconds between two entries, the first written as soon as it is set; ``None``
    (the default) writes none. ``logger``: the logger name the entries are written under,
    so a sink's ``filter`` can route them (to an audited file, for example).
    """

    sync: float | None = None
    logger: str = "tapelog.clock"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, validated.

    ``origins`` maps each key path that was set (``level``, ``levels.proxy.health``,
    ``queue.size``) to where its value came from: ``default``, ``file:<path>``,
    ``overrides``, ``env:TAPELOG_LEVEL``. ``watch`` says whether a running process
    reloads the config file when it changes.
    """

    level: int = 20
    format: FormatName = "json"
    service: str | None = None
    levels: MappingProxyType[str, int] = field(default_factory=lambda: MappingProxyType({}))
    queue: QueueConfig = field(default_factory=QueueConfig)
    fields: FieldsConfig = field(default_factory=FieldsConfig)
    redaction: RedactionConfig = field(default_factory=RedactionConfig)
    sinks: tuple[SinkConfig, ...] = ()
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    errors: ErrorsConfig = field(default_factory=ErrorsConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    watch: bool = True
    source_path: str | None = None
    origins: MappingProxyType[str, str] = field(default_factory=lambda: MappingProxyType({}))
