"""Tamper-evident audit files: the hash chain the file sink writes, and its verifier.

A file sink with ``audit = true`` seals every line into a per-process hash chain
(SHA-256, or HMAC-SHA256 with a key) that continues across rotation and compression;
:func:`verify` (and ``tapelog verify``) checks files, directories and archives and names
where a chain breaks. See ``docs/audit.md``.
"""

from __future__ import annotations

from tapelog.audit._chain import AuditKey
from tapelog.audit._verify import Problem, Report, verify


__all__ = ["AuditKey", "Problem", "Report", "verify"]
