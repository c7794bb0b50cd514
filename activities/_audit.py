"""The ``audit.append`` activity: writes a run's steps to the hash-chained audit log.

Idempotent by construction: the log keys every record by (workflow id, run id, step id) and
skips keys it already holds, so a retried attempt (say, after the worker died between the
commit and the completion reaching Temporal) writes nothing twice. A key that comes back with
different content is a bug upstream, never retried: records are immutable.
"""

from __future__ import annotations

import asyncio

from temporalio import activity
from temporalio.exceptions import ApplicationError

from duragent._names import ACTIVITY_AUDIT
from duragent.audit import AuditBatch, AuditConflictError, AuditError, AuditLog


class AuditActivities:
    """Appends audit batches to the log this worker was built with."""

    def __init__(self, log: AuditLog) -> None:
        self._log = log

    @activity.defn(name=ACTIVITY_AUDIT)
    async def append(self, batch: AuditBatch) -> int:
        """Append the batch; return how many records were newly written (0 on a replayed retry)."""
        try:
            # SQLite and psycopg block; keep the event loop free for other activities.
            return await asyncio.to_thread(self._log.append, batch.entries)
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
        # Anything else (database locked past the timeout, PostgreSQL unreachable) is transient:
        # Temporal retries it per the activity's retry policy.
