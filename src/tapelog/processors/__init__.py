"""Processors that run on the worker thread: normalisation, redaction, field selection.

Each entry passes through them once, after the caller has returned.
"""

from __future__ import annotations

from ._normalize import clean_fields as clean_fields
from ._normalize import clean_value as clean_value
from ._redact import DEFAULT_SENSITIVE_KEYS as DEFAULT_SENSITIVE_KEYS
from ._redact import Redactor as Redactor


__all__ = [
    "DEFAULT_SENSITIVE_KEYS",
    "Redactor",
    "clean_fields",
    "clean_value",
]
