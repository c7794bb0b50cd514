"""The ``audit.append`` activity: writes a run's steps to the hash-chained audit log.

Idempotent by construction: the log keys every record by (workflow id, run id, step id) and
skips keys it already holds, so a retried attempt (say, after the worker died between the
commit and the completion reaching Temporal) writes nothing twice. A key that comes back with
different content is a bug upstream, never retried: records are immutable.

The free text of each record (output, detail, reason) is redacted before it is written
(``duragent._redact``); the hashes, ids and arguments are written as they are, so the chain and
``args_hash`` still verify. Redaction is deterministic, so a retried batch writes the same.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent._contracts import AuditTrail
from duragent._messages import AuditEntry
from duragent._names import ACTIVITY_AUDIT
from duragent._redact import current as redactor
from duragent._redact import redacted_failures
from duragent.audit import AuditBatch, AuditConflictError, AuditError, AuditLog


class AuditActivities(AuditTrail):
    """Appends audit batches to the log this worker was built with."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    @activity.defn(name=ACTIVITY_AUDIT)
    async def append(self, batch: AuditBatch) -> int:
        """Append the batch; return how many records were newly written (0 on a replayed retry)."""
        entries = [_redacted(entry) for entry in batch.entries]
        with redacted_failures():
            try:
                # SQLite and psycopg block; keep the event loop free for other activities.
                return await asyncio.to_thread(self._log.append, entries)
            except AuditConflictError as exc:
                raise ApplicationError(
                    str(exc),
                    exc.workflow_id,
                    exc.run_id,
                    exc.step_id,
                    type="audit_conflict",
                    non_retryable=True,
                ) from exc
            except AuditError as exc:
                # A damaged log (head row gone) stays damaged however often we retry.
                raise ApplicationError(str(exc), type="audit_damaged", non_retryable=True) from exc
            # Anything else (database locked past the timeout, PostgreSQL unreachable) is
            # transient: Temporal retries it per the activity's retry policy.


def _redacted(entry: AuditEntry) -> AuditEntry:
    """The entry with its step's free text redacted."""
    step = entry.step
    scrub = redactor().text
    update: dict[str, str] = {}
    for field in ("output", "detail", "reason"):
        text = getattr(step, field)
        if text is not None and (clean := scrub(text)) != text:
            update[field] = clean
    return entry.model_copy(update={"step": step.model_copy(update=update)}) if update else entry
