"""Processors that run on the worker thread: normalisation, redaction, field selection.

Each entry passes through them once, after the caller has returned.
"""

from __future__ import annotations

from ._fields import FieldSelector as FieldSelector
from ._normalize import MAX_DEPTH as MAX_DEPTH
from ._normalize import JsonValue as JsonValue
from ._normalize import clean_field_value as clean_field_value
from ._normalize import clean_fields as clean_fields
from ._normalize import clean_value as clean_value
from ._normalize import sanitize_key as sanitize_key
from ._redact import DEFAULT_SENSITIVE_KEYS as DEFAULT_SENSITIVE_KEYS
from ._redact import Redactor as Redactor
from ._sample import Sampler as Sampler
