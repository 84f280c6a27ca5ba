"""``[[sinks]]``: the common keys, the per-type option tables, names and fallbacks.

Every sink table has the common keys (``type``, ``name``, ``level``, ``format``,
``filter``, ``sample``, ``fallback``); the other keys belong to its type and are validated
by the options validator registered for that type, which returns them normalised into
``SinkConfig.options``. The built-in types register :class:`~._convert.Table` objects, so a
later feature adds a key with ``register_sink_options("file", FILE_OPTIONS.extend(...))``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import time
from types import MappingProxyType
from typing import Any, Final, TypeAlias, get_args
from urllib.parse import urlsplit

from tapelog.config._convert import (
    MISSING,
    Converter,
    Option,
    Record,
    Table,
    as_list,
    as_mapping,
    boolean,
    choice,
    directory_path,
    duration,
    fail,
    file_path,
    integer,
    join,
    level,
    log_file_path,
    mapping,
    number,
    read_keys,
    sequence,
    size,
    string,
    text,
    words,
)
from tapelog.config._model import FilterConfig, SampleConfig, SinkConfig
from tapelog.config._units import OutOfRangeError, parse_duration
from tapelog.exceptions import ConfigError
from tapelog.typing import FormatName


__all__ = ["FORMATS", "SinkOptionsValidator", "read_sinks", "register_sink_options"]

SinkOptionsValidator: TypeAlias = Callable[[str, Mapping[str, object]], Mapping[str, Any]]
"""Validates a sink's type-specific keys.

Called with the sink's path (``sinks[2]``) and its table without the common keys; returns
the normalised options, or raises :class:`~tapelog.exceptions.ConfigError`.
"""

FORMATS: Final[tuple[str, ...]] = get_args(FormatName)
_NAME: Final = r"[A-Za-z0-9][A-Za-z0-9_.\-]*"
_NAME_EXPECTED: Final = "a name of letters, digits, '_', '.' and '-'"

_COMMON: Final[Mapping[str, Converter[Any]]] = {
    "type": string(),
    "name": string(pattern=_NAME, expected=_NAME_EXPECTED),
    "level": level,
    "format": choice(*FORMATS),
    "filter": Record(
        FilterConfig,
        dict.fromkeys(
            ("loggers", "exclude_loggers", "components", "exclude_components"), sequence(string())
        ),
    ),
    "sample": Record(
        SampleConfig,
        {
            "rate": number(minimum=0, maximum=1),
            "keep_levels": sequence(level),
            "key": string(),
        },
    ),
    "fallback": string(pattern=_NAME, expected=_NAME_EXPECTED),
}
COMMON_SINK_KEYS: Final = tuple(_COMMON)

_REGISTRY: dict[str, SinkOptionsValidator] = {}


def register_sink_options(type_name: str, validator: Table | SinkOptionsValidator) -> None:
    """Validate the type-specific keys of ``[[sinks]] type = type_name`` with ``validator``.

    A second registration for the same type replaces the first. Registering a type here
    makes it valid in a configuration; ``tapelog.sinks.register_sink`` registers both
    this and the factory that builds it.

    Args:
        type_name: the value of the sink's ``type`` key.
        validator: a :class:`~._convert.Table` of the type's keys (its unknown-key errors
            then list the common keys too), or any callable taking the sink's path and its
            non-common keys and returning the normalised options.
    """
    if isinstance(validator, Table):
        table = replace(validator, also_allowed=COMMON_SINK_KEYS)

        def validate_table(path: str, options: Mapping[str, object]) -> Mapping[str, Any]:
            return table(options, path)

        _REGISTRY[type_name] = validate_table
    else:
        _REGISTRY[type_name] = validator


# -- reading the list ---------------------------------------------------------------------


def read_sinks(value: object, path: str) -> tuple[SinkConfig, ...]:
    """Convert the ``sinks`` list: each table, then the names, then the fallbacks.

    A :class:`SinkConfig` item is taken as it is (a ``Config`` passed back in). An
    unnamed sink is named after its type, numbered from the second unnamed one of that
    type on (``file``, ``file-2``), skipping names that sinks were given explicitly.
    Two sinks given the same name is an error.
    """
    sinks: list[SinkConfig] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(as_list(value, path, "a list of sink tables")):
        where = f"{path}[{index}]"
        sink = item if isinstance(item, SinkConfig) else _read_sink(item, where)
        if sink.name in seen:
            other = f"{path}[{seen[sink.name]}]"
            fail(join(where, "name"), sink.name, f"a name no other sink has ({other} has it)")
        if sink.name:
            seen[sink.name] = index
        sinks.append(sink)
    counts: dict[str, int] = {}
    for index, sink in enumerate(sinks):
        if not sink.name:
            name = sink.type
            while name in seen:
                counts[sink.type] = count = counts.get(sink.type, 1) + 1
                name = f"{sink.type}-{count}"
            seen[name] = index
            sinks[index] = replace(sink, name=name)
    for index in range(len(sinks)):
        _check_fallback(sinks, index, f"{path}[{index}]")
    _check_shared_paths(sinks, path)
    return tuple(sinks)


# Options naming a place on disk that one sink must have to itself: two file sinks
# appending to (and rotating) one file, or two network sinks sharing a spool whose
# batches would be replayed to the other's destination.
# A file sink's ``path`` only: other types may name shared things (a syslog socket).
_OWN_PATHS: Final = (
    ("path", "file", "writes", "file"),
    ("spool_dir", "spool directory", "spools to", None),
)


def _check_shared_paths(sinks: list[SinkConfig], path: str) -> None:
    owners: dict[tuple[str, str], int] = {}
    for index, sink in enumerate(sinks):
        for key, what, verb, only_type in _OWN_PATHS:
            value = sink.options.get(key)
            if not isinstance(value, str) or only_type not in {None, sink.type}:
                continue
            place = os.path.normpath(os.path.abspath(value))  # noqa: PTH100 - no symlinks resolved
            other = owners.setdefault((key, place), index)
            if other != index:
                expected = f"a {what} no other sink {verb} ({path}[{other}] {verb} it)"
                fail(join(f"{path}[{index}]", key), value, expected)


def _read_sink(item: object, path: str) -> SinkConfig:
    table = as_mapping(item, path)
    type_name = table.get("type")
    types = sorted(_REGISTRY)
    if type_name is None:
        fail(join(path, "type"), MISSING, f"one of {', '.join(types)} (this key is required)")
    if not isinstance(type_name, str) or type_name not in _REGISTRY:
        fail(join(path, "type"), type_name, f"one of {', '.join(types)}")
    common = read_keys({k: v for k, v in table.items() if k in _COMMON}, path, _COMMON)
    rest = {str(k): v for k, v in table.items() if k not in _COMMON}
    options = _REGISTRY[type_name](path, rest)
    common.setdefault("name", "")
    return SinkConfig(**common, options=MappingProxyType(dict(options)))


def _check_fallback(sinks: list[SinkConfig], index: int, path: str) -> None:
    names = {sink.name: sink for sink in sinks}
    sink = sinks[index]
    if sink.fallback is None:
        return
    others = [name for name in names if name != sink.name]
    if sink.fallback not in others:
        listed = words(others) if others else "there is none"
        expected = f"the name of another sink ({listed})"
        fail(join(path, "fallback"), sink.fallback, expected)
    chain = [sink.name]
    current: SinkConfig | None = names[sink.fallback]
    while current is not None:
        if current.name in chain:
            loop = " -> ".join([*chain, current.name])
            fail(join(path, "fallback"), sink.fallback, f"a fallback chain without a loop ({loop})")
        chain.append(current.name)
        current = names.get(current.fallback) if current.fallback else None


# -- console ------------------------------------------------------------------------------

CONSOLE_OPTIONS: Final = Table(
    {
        "stream": Option(choice("stderr", "stdout"), "stderr"),
        "color": Option(boolean),
    },
)


# -- file ---------------------------------------------------------------------------------

_CLOCK: Final = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WHEN_EXPECTED: Final = (
    'hourly, daily, daily@HH:MM, weekly, weekly@DAY (mon..sun), or an interval like "6h"'
)


def _clock(value: object, path: str) -> time:
    match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        fail(path, value, 'a time of day like "02:30" (HH:MM)')
    return time(int(match[1]), int(match[2]))


def _weekday(value: str, path: str, raw: object) -> int:
    """Return 0 for ``mon`` or ``monday`` (any case), up to 6 for Sunday."""
    for index, day in enumerate(_WEEKDAYS):
        if value in {day, day[:3]}:
            return index
    return fail(path, raw, f"a weekday, one of {', '.join(day[:3] for day in _WEEKDAYS)}")


def _rotation_when(values: dict[str, Any], path: str) -> dict[str, Any]:
    """Split ``when`` into ``when`` (a name), ``interval``, ``weekday`` and ``at``."""
    raw, at, where = values["when"], values["at"], join(path, "when")
    if values["size"] is None and raw is None:
        fail(path, {k: v for k, v in values.items() if v is not None}, "a size, a when, or both")
    result = {**values, "when": None, "interval": None, "weekday": None}
    if raw is None:
        if at is not None:
            fail(join(path, "at"), at, "an at only with when = daily or weekly")
        return result
    name, _, detail = raw.strip().lower().partition("@") if isinstance(raw, str) else ("", "", "")
    if name == "daily" and detail:
        if at is not None:
            fail(join(path, "at"), at, f"no at: when = {raw!r} already gives the time")
        at = _clock(detail, where)
    elif name == "weekly" and detail:
        result["weekday"] = _weekday(detail, where, raw)
    elif name == "weekly":
        result["weekday"] = 0
    elif name not in {"daily", "hourly"} or detail:
        try:
            interval = parse_duration(raw)
        except OutOfRangeError as exc:
            raise ConfigError(where, raw, exc.expected) from None
        except ValueError as exc:
            expected = f"one of {_WHEN_EXPECTED}"
            raise ConfigError(where, raw, expected) from exc
        if interval <= 0:
            fail(where, raw, "an interval greater than zero")
        name, result["interval"] = "interval", interval
    if name in {"daily", "weekly"}:
        result["at"] = at or time(0, 0)
    elif at is not None:
        fail(join(path, "at"), at, "an at only with when = daily or weekly")
    result["when"] = name
    return result


ROTATION_OPTIONS: Final = Table(
    {
        "size": Option(size(minimum=1)),
        "when": Option(lambda value, _path: value),  # read by the check, with "at"
        "at": Option(_clock),
    },
    check=_rotation_when,
)

RETENTION_OPTIONS: Final = Table(
    {
        "max_age": Option(duration(positive=True)),
        "archive_max_age": Option(duration(positive=True)),
        "max_files": Option(integer(minimum=1)),
        "max_total_size": Option(size(minimum=1)),
        "min_free_disk": Option(size()),
        "min_age": Option(duration()),
    }
)


AUDIT_CHECKPOINT_OPTIONS: Final = Table(
    {
        "entries": Option(integer(minimum=1)),
        "interval": Option(duration(positive=True)),
    }
)


_MAX_MODE: Final = 0o7777

AUDIT_RUN_MAX: Final = 1024
"""The most lines ``audit_run`` lets one hash seal (a longer run names an edit less well)."""


def _file_mode(value: object, path: str) -> int:
    mode: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        mode = value
    elif isinstance(value, str) and re.fullmatch(r"(0o?)?[0-7]{1,4}", value):
        mode = int(value.removeprefix("0o"), 8)
    if mode is None or not 0 <= mode <= _MAX_MODE:
        fail(path, value, 'a file mode like 0o640 (TOML) or "0640"')
    return mode


COMPRESSIONS: Final = ("gzip", "zstd", "none")


def file_compression(compression: str | None, rotated: bool, path: str = "compression") -> str:
    """The compression a file sink uses: the one named, else gzip if it rotates, else none.

    Raises:
        ConfigError: an unknown name, or zstd without the zstandard package installed.
    """
    if compression is None:
        return "gzip" if rotated else "none"
    if compression not in COMPRESSIONS:
        fail(path, compression, f"one of {words(COMPRESSIONS)}")
    if compression == "zstd":
        from importlib.util import find_spec  # finds the package without importing it

        if find_spec("zstandard") is None:
            expected = 'gzip or none, or install zstd support: pip install "tapelog[zstd]"'
            fail(path, compression, expected)
    return compression


def _file_check(values: dict[str, Any], path: str) -> dict[str, Any]:
    for option in ("audit_key_env", "audit_key_file", "audit_checkpoint", "audit_run"):
        if values[option] is not None and not values["audit"]:
            fail(join(path, option), values[option], "audit = true alongside it")
    rotated = values["rotation"] is not None
    values["compression"] = file_compression(
        values["compression"], rotated, join(path, "compression")
    )
    return values


FILE_OPTIONS: Final = Table(
    {
        "path": Option(log_file_path, required=True),
        "mode": Option(_file_mode, 0o640),
        "rotation": Option(ROTATION_OPTIONS),
        "retention": Option(RETENTION_OPTIONS),
        "compression": Option(choice(*COMPRESSIONS)),
        "archive_dir": Option(directory_path),
        "audit": Option(boolean, default=False),
        "audit_key_env": Option(
            string(pattern=r"[A-Za-z_][A-Za-z0-9_]*", expected="an environment variable name")
        ),
        "audit_key_file": Option(file_path),
        "audit_checkpoint": Option(AUDIT_CHECKPOINT_OPTIONS),
        "audit_run": Option(integer(minimum=1, maximum=AUDIT_RUN_MAX)),
    },
    check=_file_check,
)


# -- syslog -------------------------------------------------------------------------------

# RFC 5424 §6.2.1; "security" is also known as "audit" (13).
# fmt: off
_FACILITY_NAMES: Final = (
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news",
    "uucp", "cron", "authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
)
# fmt: on
_FACILITIES: Final = {
    **{name: code for code, name in enumerate(_FACILITY_NAMES)},
    "audit": 13,
    **{f"local{n}": 16 + n for n in range(8)},
}
_DEFAULT_PORTS: Final = {"udp": 514, "tcp": 514, "tls": 6514}
_TLS_KEYS: Final = ("ca_file", "cert_file", "key_file")
_UDP_MAX: Final = 65507


def _check_tls_files(values: Mapping[str, Any], path: str, *, use: bool, needs: str) -> None:
    """The TLS files only where TLS is used; ``key_file`` only beside ``cert_file``."""
    for key in _TLS_KEYS:
        if values[key] is not None and not use:
            fail(join(path, key), values[key], f"{key} only with {needs}")
    if values["key_file"] is not None and values["cert_file"] is None:
        fail(join(path, "key_file"), values["key_file"], "cert_file alongside key_file")


def _facility(value: object, path: str) -> int:
    if isinstance(value, str) and value.lower() in _FACILITIES:
        return _FACILITIES[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 23:  # noqa: PLR2004
        return value
    return fail(path, value, "a facility name (user, daemon, local0 .. local7, ...) or 0..23")


def _syslog_check(values: dict[str, Any], path: str) -> dict[str, Any]:
    """Split ``address`` into ``transport``, ``host``, ``port`` and ``socket_path``."""
    address: str = values["address"]
    where = join(path, "address")
    expected = "an address like udp://host:514, tcp://host:514, tls://host:6514 or unix:///dev/log"
    try:
        parts = urlsplit(address)
    except ValueError:  # an unclosed IPv6 bracket
        return fail(where, address, expected)
    transport = parts.scheme.lower()
    host = port = socket_path = None
    if transport == "unix":
        socket_path = parts.netloc + parts.path
        if not socket_path or parts.query or parts.fragment:
            fail(where, address, expected)
    elif transport in _DEFAULT_PORTS:
        try:
            port = parts.port or _DEFAULT_PORTS[transport]
        except ValueError:
            port = None
        host = parts.hostname
        if not host or port is None or parts.path not in {"", "/"} or parts.query:
            fail(where, address, expected)
    else:
        fail(where, address, expected)
    _check_tls_files(values, path, use=transport == "tls", needs="a tls:// address")
    if transport == "udp" and values["max_message_size"] > _UDP_MAX:
        expected = f"at most {_UDP_MAX} bytes (the most one UDP datagram holds)"
        fail(join(path, "max_message_size"), values["max_message_size"], expected)
    return {
        **values,
        "transport": transport,
        "host": host,
        "port": port,
        "socket_path": socket_path,
    }


RECONNECT_OPTIONS: Final = Table(
    {
        "initial_delay": Option(duration(positive=True), 0.5),
        "max_delay": Option(duration(positive=True), 30.0),
        "max_attempts": Option(integer(minimum=1), 5),
    }
)
"""How a syslog sink retries a batch: backoff from ``initial_delay`` doubling to
``max_delay`` (with jitter), at most ``max_attempts`` attempts before giving it up."""

SYSLOG_OPTIONS: Final = Table(
    {
        "address": Option(string(), required=True),
        # RFC 5424 §6.2.5 and §6.3.2: printable US-ASCII; an SD-ID of ours needs "@<PEN>".
        "app_name": Option(
            string(pattern=r"[!-~]{1,48}", expected="1 to 48 printable ASCII characters")
        ),
        "facility": Option(_facility, 1),
        "sd_id": Option(
            string(
                pattern=r"(?=.{1,32}\Z)[!#-<>?A-\\^-~]+@[0-9]+(?:\.[0-9]+)*",
                expected='an SD-ID like "tapelog@32473" (name@enterprise-number, <= 32 chars)',
            )
        ),
        **dict.fromkeys(_TLS_KEYS, Option(file_path)),
        "timeout": Option(duration(positive=True), 5.0),
        # MSG: the entry rendered by the sink's format, or only its message text.
        "msg": Option(choice("entry", "message"), "entry"),
        "bom": Option(boolean, default=True),
        # RFC 5424 §6.1: receivers must take 480 octets; rsyslog takes 8 KiB by default.
        "max_message_size": Option(size(minimum=480), 8192),
        "reconnect": Option(RECONNECT_OPTIONS, RECONNECT_OPTIONS.defaults()),
    },
    check=_syslog_check,
)


# -- http and otlp ------------------------------------------------------------------------


def _http_url(value: object, path: str) -> str:
    if not isinstance(value, str):
        return fail(path, value, "an http:// or https:// URL")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises for a port out of range or not a number
    except ValueError as exc:  # an unclosed IPv6 bracket, a bad port
        raise ConfigError(path, value, f"an http:// or https:// URL ({exc})") from None
    if parts.scheme not in {"http", "https"}:
        fail(path, value, "an http:// or https:// URL")
    if not parts.hostname:
        fail(path, value, "an http:// or https:// URL with a host")
    return value


def _proxy_url(value: object, path: str) -> str:
    expected = 'an http:// proxy URL with a host and port, or "none"'
    if not isinstance(value, str):
        return fail(path, value, expected)
    if value == "none":
        return value
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a bad port
        return fail(path, value, expected)
    if parts.scheme.lower() != "http" or not parts.hostname or port is None:
        fail(path, value, expected)
    return value


_HEADERS: Final = mapping(
    string(pattern=r"[^\x00-\x1f\x7f]*", expected="a header value without control characters"),
    key=string(pattern=r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", expected="a header name (RFC 9110 token)"),
)

BATCH_OPTIONS: Final = Table(
    {
        "max_records": Option(integer(minimum=1), 1000),
        "max_bytes": Option(size(minimum=1), 1 << 20),
        "max_delay": Option(duration(), 1.0),
    }
)
RETRY_OPTIONS: Final = Table(
    {
        "initial_delay": Option(duration(positive=True), 0.5),
        "max_delay": Option(duration(positive=True), 30.0),
        "max_attempts": Option(integer(minimum=1), 5),
    }
)
_DELIVERY: Final = {
    "headers": Option(_HEADERS, MappingProxyType({})),
    "batch": Option(BATCH_OPTIONS, BATCH_OPTIONS.defaults()),
    "gzip": Option(boolean, default=False),
    "timeout": Option(duration(positive=True), 10.0),
    "retry": Option(RETRY_OPTIONS, RETRY_OPTIONS.defaults()),
    "spool_dir": Option(directory_path),
    "spool_max_size": Option(size(minimum=1), 100 << 20),
    **dict.fromkeys(_TLS_KEYS, Option(file_path)),
    "proxy": Option(_proxy_url),
}


def _delivery_tls_check(values: dict[str, Any], path: str) -> dict[str, Any]:
    """The TLS files go with an https:// URL."""
    url: str = values["url"]
    https = urlsplit(url).scheme.lower() == "https"
    _check_tls_files(values, path, use=https, needs="an https:// url")
    return values


HTTP_OPTIONS: Final = Table(
    {"url": Option(_http_url, required=True), **_DELIVERY}, check=_delivery_tls_check
)

OTLP_DEFAULT_ENDPOINT: Final = "http://localhost:4318"


def _otlp_check(values: dict[str, Any], path: str) -> dict[str, Any]:
    """Resolve ``url``: given as is, else ``endpoint`` (or the default) + ``/v1/logs``."""
    if values["url"] is not None and values["endpoint"] is not None:
        fail(join(path, "url"), values["url"], "either url (the full URL) or endpoint, not both")
    if values["url"] is None:
        base = values["endpoint"] or OTLP_DEFAULT_ENDPOINT
        values["url"] = base.rstrip("/") + "/v1/logs"
    return _delivery_tls_check(values, path)


OTLP_OPTIONS: Final = Table(
    {
        "endpoint": Option(_http_url),
        "url": Option(_http_url),
        **_DELIVERY,
        "resource": Option(mapping(text), MappingProxyType({})),
    },
    check=_otlp_check,
)

register_sink_options("console", CONSOLE_OPTIONS)
register_sink_options("file", FILE_OPTIONS)
register_sink_options("syslog", SYSLOG_OPTIONS)
register_sink_options("http", HTTP_OPTIONS)
register_sink_options("otlp", OTLP_OPTIONS)
