"""What ``verify`` reports, and the audit errors. ``AuditEntry`` and ``AuditBatch`` live in
``duragent._messages`` (they cross the workflow boundary) and are re-exported here."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from duragent._messages import AuditBatch, AuditEntry
from duragent.errors import DuragentError

__all__ = ["AuditBatch", "AuditConflictError", "AuditEntry", "AuditError", "VerifyReport"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class VerifyReport(_Frozen):
    """What ``AuditLog.verify`` found, walking the chain from the first record to the head."""

    ok: bool
    checked: int
    """How many records were walked."""
    problems: list[str] = Field(default_factory=list)
    head_seq: int = 0
    head_hash: str | None = None
    """The chain's head; note it somewhere else to detect a rewrite of the whole tail later."""


class AuditError(DuragentError):
    """The audit log cannot be used as asked: missing, damaged, or its backend is unavailable."""


class AuditConflictError(AuditError):
    """A record with this key already exists with different content; records are immutable."""

    def __init__(self, workflow_id: str, run_id: str, step_id: str) -> None:
        self.workflow_id = workflow_id
        self.run_id = run_id
        self.step_id = step_id
        super().__init__(
            f"audit record {workflow_id}/{run_id}/{step_id} already exists with different "
            "content; audit records are immutable, so the step must keep its id and content "
            "across retries (a non-deterministic step id or payload is the usual cause)"
        )
