"""The audit trail: every step of every run, in an append-only, hash-chained log.

Temporal history is bounded and can be purged, so the steps a run records are also appended,
through the ``audit.append`` activity, to a log outside Temporal: SQLite by default, PostgreSQL
when the deployment has one. Each record carries the spec's hash and the tool arguments' hash;
``AuditLog.verify`` (``duragent audit verify``) detects a modified or missing record.

Importing this package does no I/O, so workflows may import ``AuditEntry`` and ``AuditBatch``;
opening and writing a log happens in activities and the CLI only.
"""

from duragent.audit._chain import GENESIS
from duragent.audit._model import (
    AuditBatch,
    AuditConflictError,
    AuditEntry,
    AuditError,
    VerifyReport,
)
from duragent.audit._postgres import PostgresAuditLog
from duragent.audit._store import (
    AuditLog,
    SQLiteAuditLog,
    default_audit_log_location,
    open_audit_log,
)

__all__ = [
    "GENESIS",
    "AuditBatch",
    "AuditConflictError",
    "AuditEntry",
    "AuditError",
    "AuditLog",
    "PostgresAuditLog",
    "SQLiteAuditLog",
    "VerifyReport",
    "default_audit_log_location",
    "open_audit_log",
]
